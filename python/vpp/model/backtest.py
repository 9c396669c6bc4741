"""Forecast backtest: train on the first part of a series, score walk-forward on the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vpp.errors import ParameterError
from vpp.features import FeatureSpec
from vpp.io import Telemetry
from vpp.model.artifact import ForecastModel
from vpp.model.dataset import build_training_set, check_horizon, default_target
from vpp.model.train import (
    DEFAULT_QUANTILES,
    TrainConfig,
    _check_quantiles,
    _iso,
    fit_booster,
    forecast_metrics,
    time_split,
)

__all__ = ["BacktestResult", "backtest"]


@dataclass
class BacktestResult:
    """What a forecast backtest produced.

    Attributes:
        summary: ``{"events", "train_events", "test_events", "split_at",
            "forecast": {...}}`` — the JSON of ``vpp backtest``.
        model: the model trained on the first part.
        levels: forecasts (levels, ascending quantiles) for every event, shape
            ``(n, n_quantiles)``; only rows at or after ``split_at`` are out of sample.
        test: mask of the test events.
    """

    summary: dict[str, Any]
    model: ForecastModel
    levels: np.ndarray
    test: np.ndarray


def backtest(
    tel: Telemetry,
    target: str | None = None,
    horizon_steps: int = 1,
    train_fraction: float = 0.7,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    spec: FeatureSpec | None = None,
    config: TrainConfig | None = None,
) -> BacktestResult:
    """Train on events before a time cut and forecast every later event.

    Features are streamed over the whole series in order (as in serving),
    so each test event's forecast uses only the data up to that event and
    the test part has its real history; the model itself is fixed after
    the cut. Training targets never reach past the cut.

    Args:
        tel: the telemetry.
        target: signal to forecast (default ``net_load_mw`` when load is present).
        horizon_steps: events ahead at the same site (>= 1).
        train_fraction: share of the timestamps used for training, in (0, 1).
        quantiles: quantile levels.
        spec: feature spec (default: the default spec over the data's signals).
        config: XGBoost settings.

    Raises:
        vpp.errors.ParameterError: bad horizon, fraction, quantiles or target,
            or too little data to train.
    """
    horizon_steps = check_horizon(horizon_steps)
    if not 0 < train_fraction < 1:
        raise ParameterError(f"train_fraction must be in (0, 1), got {train_fraction}")
    qs = _check_quantiles(quantiles)
    target = target or default_target(tel.signals)
    spec = spec or FeatureSpec.default(tel.signals)
    config = config or TrainConfig()
    data = build_training_set(tel, spec, target, horizon_steps)
    train_rows, test_rows, cut = time_split(data.ts_ns, data.sites, horizon_steps, train_fraction)
    train_rows &= data.valid
    if train_rows.sum() < 50:
        raise ParameterError(
            f"only {int(train_rows.sum())} usable training events before the cut at "
            f"{_iso(cut)}; need at least 50 (more data or a larger --train-fraction)"
        )
    booster = fit_booster(
        data.X[train_rows], data.delta[train_rows], qs, data.feature_names, config
    )
    model = ForecastModel(
        booster=booster, spec=spec, target=target, horizon_steps=horizon_steps, quantiles=qs
    )
    levels = model.predict_level(data.X, data.current)
    summary = {
        "events": len(tel),
        "sites": tel.site_ids(),
        "signals": list(tel.signals),
        "train_events": int(train_rows.sum()),
        "test_events": int(test_rows.sum()),
        "split_at": _iso(cut),
        "forecast": forecast_metrics(data, levels, test_rows, qs, horizon_steps, target),
    }
    return BacktestResult(summary=summary, model=model, levels=levels, test=test_rows)
