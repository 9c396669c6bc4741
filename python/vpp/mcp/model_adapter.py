"""The forecasting model as the MCP tools use it.

Forecasts go through :class:`vpp.pipeline.Pipeline` (the Rust feature engine
fused with the TL2cgen-compiled model; XGBoost fallback without a compiler):
a fresh pipeline per request over the site's recent telemetry, so the
features are exactly those of the serving path. Explanations use XGBoost's
per-feature contributions (``pred_contribs``) of the median quantile on the
same feature row. The model predicts the change of the target over the
horizon; levels are the current value plus that change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vpp.features import FeatureSpec

__all__ = ["LoadedModel", "ModelNotFound", "load_model"]


class ModelNotFound(Exception):
    """No usable model (the message says why)."""


@dataclass
class LoadedModel:
    """A :class:`vpp.model.ForecastModel` with single-request helpers."""

    fm: Any  # vpp.model.ForecastModel

    @property
    def model_id(self) -> str:
        return str(self.fm.content_hash)[:16]

    @property
    def spec(self) -> FeatureSpec:
        return self.fm.spec  # type: ignore[no-any-return]

    @property
    def target(self) -> str:
        return str(self.fm.target)

    @property
    def horizon_steps(self) -> int:
        return int(self.fm.horizon_steps)

    @property
    def quantiles(self) -> list[float]:
        return list(self.fm.quantiles)

    @property
    def feature_names(self) -> list[str]:
        return list(self.fm.feature_names)

    def history_events(self) -> int:
        """Events of history the feature engine needs for a complete row."""
        longest = max([*self.spec.lags, *self.spec.windows, 1])
        return int(longest) + 16

    def run(self, ts_ns: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Features and level forecasts (ascending quantiles) of the last event.

        Returns:
            (feature row, forecast levels, compiled?) for the last event.
        """
        from vpp.pipeline import Pipeline

        pipe = Pipeline(None, self.fm)
        feats, preds = pipe.process(ts_ns, values, None, on_out_of_order="skip")
        return (
            np.asarray(feats[-1], dtype=np.float64),
            np.asarray(preds[-1], dtype=np.float64),
            bool(getattr(pipe, "compiled", False)),
        )

    def contributions(self, row: np.ndarray) -> tuple[np.ndarray, float]:
        """Per-feature contributions to the median's predicted change, and the bias."""
        import xgboost as xgb

        mid = int(np.argmin([abs(q - 0.5) for q in self.quantiles]))
        d = xgb.DMatrix(row.reshape(1, -1), missing=np.nan, feature_names=self.feature_names)
        c = np.asarray(self.fm.booster.predict(d, pred_contribs=True))
        c = c[0, mid] if c.ndim == 3 else c[0]  # (rows, outputs, features + 1) when multi-output
        return c[:-1].astype(np.float64), float(c[-1])


def current_value(target: str, record: dict[str, Any]) -> float | None:
    """The target's current level from a telemetry record (net load derived)."""

    def num(k: str) -> float | None:
        v = record.get(k)
        return float(v) if v is not None and math.isfinite(float(v)) else None

    if target == "net_load_mw":
        load = num("load_mw")
        if load is None:
            return None
        return load - (num("solar_mw") or 0.0) - (num("wind_mw") or 0.0)
    return num(target)


def load_model(directory: str | Path) -> LoadedModel:
    """Load a model directory written by ``vpp train``.

    Raises:
        ModelNotFound: the forecasting package is missing, or the directory
            is absent or invalid (the model's own error message).
    """
    try:
        from vpp.model import ForecastModel
    except ImportError as exc:
        raise ModelNotFound(f"the forecasting package is not installed ({exc})") from None
    from vpp.errors import ModelError

    d = Path(directory)
    if not d.is_dir():
        raise ModelNotFound(f"no model directory {d}")
    try:
        return LoadedModel(ForecastModel.load(d))
    except ModelError as exc:
        raise ModelNotFound(str(exc)) from None
