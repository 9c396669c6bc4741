"""Forecasts inside ``vpp run`` / ``vpp consume``: the shipped default model and
the forecast records the store expects."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vpp.errors import ModelError
from vpp.features import FeatureSpec

__all__ = ["DEFAULT_MODEL_ENV", "default_model_dir", "forecast_records", "forecaster_for"]

log = logging.getLogger("vpp.model.serving")

#: Environment variable naming the model directory ``vpp run`` serves
#: (``none`` turns forecasting off).
DEFAULT_MODEL_ENV = "VPP_MODEL"
_DAY_NS = 86_400 * 10**9


def default_model_dir() -> Path | None:
    """``$VPP_MODEL``, else ``models/default`` of the source tree or the working directory."""
    env = os.environ.get(DEFAULT_MODEL_ENV)
    if env:
        return None if env.lower() == "none" else Path(env)
    for base in (Path(__file__).resolve().parents[3], Path.cwd()):
        candidate = base / "models" / "default"
        if (candidate / "model.json").is_file():
            return candidate
    return None


def forecaster_for(spec: FeatureSpec, model: str | Path | None = "default") -> Any:
    """A :class:`vpp.pipeline.Pipeline` over ``model`` if it reads exactly ``spec``'s features.

    Returns None (and logs why) when there is no model or it was trained on
    other signals; the caller then computes features alone. The library is
    compiled on first use and cached.
    """
    from vpp.model.artifact import ForecastModel
    from vpp.pipeline import Pipeline

    path = default_model_dir() if model == "default" else (Path(model) if model else None)
    if path is None:
        return None
    try:
        fm = ForecastModel.load(path)
    except ModelError as exc:
        log.warning("forecasting off: %s", exc)
        return None
    if fm.feature_names != spec.feature_names:
        log.info(
            "forecasting off: model %s reads signals %s, the data has %s",
            path,
            list(fm.spec.signals),
            list(spec.signals),
        )
        return None
    log.info("forecasting %s with %s (compiled on first use, cached)", fm.target, path)
    return Pipeline(spec, fm)


def model_step_ns(metadata: dict[str, Any]) -> int | None:
    """The event step the model was trained at, from its metadata."""
    spd = (metadata.get("data") or {}).get("steps_per_day")
    return round(_DAY_NS / spd) if spd else None


def forecast_records(
    ts_ns: np.ndarray,
    sites: np.ndarray,
    preds: np.ndarray,
    quantiles: Sequence[float],
    target: str,
    horizon_steps: int,
    step_ns: int | None,
    model_id: str,
) -> pd.DataFrame:
    """Forecast records (:data:`vpp.io.store.FORECAST_COLUMNS`) for rows with a forecast.

    The point is the quantile nearest 0.5; ``lower``/``upper`` the outermost
    quantiles; ``target_ts_ns`` is the issue time plus ``horizon_steps``
    model steps (missing if the step is unknown).
    """
    qs = list(quantiles)
    mid = int(np.argmin([abs(q - 0.5) for q in qs]))
    ok = np.isfinite(preds[:, mid])
    ts = np.asarray(ts_ns)[ok]
    n = int(ok.sum())
    target_ts = ts + horizon_steps * step_ns if step_ns else np.full(n, np.nan)
    return pd.DataFrame(
        {
            "ts_ns": ts,
            "site": np.asarray(sites, dtype=object)[ok],
            "target": np.full(n, target, dtype=object),
            "horizon_steps": np.full(n, horizon_steps, dtype=np.int64),
            "target_ts_ns": target_ts,
            "point": preds[ok, mid],
            "lower": preds[ok, 0],
            "upper": preds[ok, -1],
            "lower_q": np.full(n, qs[0]),
            "upper_q": np.full(n, qs[-1]),
            "model": np.full(n, model_id, dtype=object),
        }
    )
