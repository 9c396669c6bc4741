"""Quantile XGBoost training on the serving feature engine's rows."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vpp.errors import ParameterError
from vpp.features import FeatureSpec
from vpp.io import Telemetry
from vpp.model import metrics as m
from vpp.model.artifact import ForecastModel
from vpp.model.dataset import TrainingSet, build_training_set, check_horizon, default_target

if TYPE_CHECKING:
    import xgboost as xgb

__all__ = [
    "DEFAULT_QUANTILES",
    "TrainConfig",
    "fit_booster",
    "forecast_metrics",
    "library_versions",
    "time_split",
    "train",
]

log = logging.getLogger("vpp.model")

DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class TrainConfig:
    """XGBoost settings.

    Defaults give 100 boosting rounds x 3 quantiles = 300 trees of depth 3.
    Deeper trees bought no accuracy on twin data (15-min, depth 4/5/6: MAE
    948/948/953 MW; 1-min, depth 3/4: skill vs persistence 0.33%/0.18%) but
    cost more per compiled event, which is bound by branch mispredictions
    and the instruction cache (1-min, depth 3/4: ~530k/~300k events/s
    through the pipeline, same run).

    Attributes:
        n_rounds: boosting rounds (each adds one tree per quantile).
        max_depth: tree depth (<= 6 keeps compiled inference in microseconds).
        learning_rate: shrinkage.
        nthread: training threads; 1 is fastest on a busy 2-core machine.
        seed: random seed.
        valid_fraction: time-ordered tail held out for the recorded metrics.
    """

    n_rounds: int = 100
    max_depth: int = 3
    learning_rate: float = 0.1
    nthread: int = 1
    seed: int = 0
    valid_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.n_rounds < 1:
            raise ParameterError(f"n_rounds must be >= 1, got {self.n_rounds}")
        if not 1 <= self.max_depth <= 12:
            raise ParameterError(f"max_depth must be in 1..12, got {self.max_depth}")
        if not 0 < self.learning_rate <= 1:
            raise ParameterError(f"learning_rate must be in (0, 1], got {self.learning_rate}")
        if not 0 < self.valid_fraction < 1:
            raise ParameterError(f"valid_fraction must be in (0, 1), got {self.valid_fraction}")


def _check_quantiles(quantiles: Sequence[float]) -> list[float]:
    qs = [float(q) for q in quantiles]
    if not qs or any(not 0 < q < 1 for q in qs) or sorted(set(qs)) != qs:
        raise ParameterError(
            f"quantiles must be distinct, ascending and inside (0, 1), got {list(quantiles)}"
        )
    return qs


def fit_booster(
    X: np.ndarray,
    change: np.ndarray,
    quantiles: Sequence[float],
    feature_names: Sequence[str],
    config: TrainConfig,
) -> xgb.Booster:
    """Fit one multi-quantile booster (one output per quantile) to ``change``."""
    import xgboost as xgb

    dtrain = xgb.DMatrix(X, label=change, feature_names=list(feature_names), missing=np.nan)
    params = {
        "objective": "reg:quantileerror",
        "quantile_alpha": list(quantiles),
        "tree_method": "hist",
        "max_depth": config.max_depth,
        "eta": config.learning_rate,
        "nthread": config.nthread,
        "seed": config.seed,
        # The target is a change, so 0 is the natural intercept. It is also
        # one scalar for all quantiles on purpose: XGBoost 3 otherwise stores
        # one intercept per quantile, of which TL2cgen 1.0 (bundling Treelite
        # 4.1) applies only the first to every output.
        "base_score": 0.0,
    }
    booster = xgb.train(params, dtrain, num_boost_round=config.n_rounds)
    booster.set_param({"nthread": 1})
    return booster


def time_split(
    ts_ns: np.ndarray, sites: np.ndarray, horizon_steps: int, fraction: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Masks of (train, test) rows split at a timestamp, and that timestamp.

    Train rows come before the cut and so do their targets (the last
    ``horizon_steps`` events of each site before the cut are left out), so no
    test value leaks into training.
    """
    uniq = np.unique(ts_ns)
    if uniq.size < 2:
        raise ParameterError("need events at two or more timestamps to split train and test")
    cut = int(uniq[min(max(int(uniq.size * fraction), 1), uniq.size - 1)])
    idx = np.arange(ts_ns.size, dtype=np.float64)
    future_idx = m.shift_per_site(idx, sites, horizon_steps)
    future_ok = np.isfinite(future_idx)
    future_ts = np.where(future_ok, ts_ns[np.where(future_ok, future_idx, 0).astype(np.int64)], 0)
    train = (ts_ns < cut) & future_ok & (future_ts < cut)
    test = ts_ns >= cut
    return train, test, cut


def forecast_metrics(
    data: TrainingSet,
    levels: np.ndarray,
    rows: np.ndarray,
    quantiles: Sequence[float],
    horizon_steps: int,
    target: str,
) -> dict[str, Any]:
    """Quality of level forecasts on ``rows`` against persistence and seasonal naive.

    Persistence forecasts the current value; seasonal naive the value one day
    (a whole number of days for horizons beyond a day) before the target
    time, at the same site, with the day length in events detected from the
    timestamps. All measures use the same rows.
    """
    qs = list(quantiles)
    y = data.future
    mid = int(np.argmin([abs(q - 0.5) for q in qs]))
    ok = rows & np.isfinite(y) & np.isfinite(data.current) & np.isfinite(levels).all(axis=1)
    spd = m.steps_per_day(data.ts_ns, data.sites)
    seasonal = None
    if spd is not None:
        days_back = -(-horizon_steps // spd)  # ceil: never look past the present
        seasonal = m.shift_per_site(data.current, data.sites, horizon_steps - days_back * spd)
        with_seasonal = ok & np.isfinite(seasonal)
        if with_seasonal.any():
            ok = with_seasonal
        else:
            seasonal = None
    point = levels[:, mid]
    model_mae = m.mae(y[ok], point[ok])
    persistence_mae = m.mae(y[ok], data.current[ok])
    out: dict[str, Any] = {
        "target": target,
        "horizon_steps": horizon_steps,
        "events_scored": int(ok.sum()),
        "mae": model_mae,
        "rmse": m.rmse(y[ok], point[ok]),
        "persistence_mae": persistence_mae,
        "seasonal_naive_mae": m.mae(y[ok], seasonal[ok]) if seasonal is not None else None,
        "skill_vs_persistence": m.skill(model_mae, persistence_mae),
        "skill_vs_seasonal_naive": (
            m.skill(model_mae, m.mae(y[ok], seasonal[ok])) if seasonal is not None else None
        ),
        "steps_per_day": spd,
        "quantiles": qs,
        "pinball_loss": m.pinball_loss(y[ok], levels[ok], qs),
        "interval_coverage": (
            m.interval_coverage(y[ok], levels[ok, 0], levels[ok, -1]) if len(qs) > 1 else None
        ),
        "interval_nominal": round(qs[-1] - qs[0], 6) if len(qs) > 1 else None,
    }
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out.items()}


def library_versions() -> dict[str, str]:
    """Versions of vpp and the libraries a model depends on."""
    out = {}
    for name in ("vpp", "xgboost", "numpy", "treelite", "tl2cgen"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _iso(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def train(
    tel: Telemetry,
    target: str | None = None,
    horizon_steps: int = 1,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    spec: FeatureSpec | None = None,
    config: TrainConfig | None = None,
) -> ForecastModel:
    """Train a quantile forecaster of ``target`` ``horizon_steps`` events ahead.

    Features come from the same :class:`vpp.FeatureEngine` that serves the
    model, streamed over all events in order. The model learns the change of
    the target from now; its metrics (on a held-out, time-ordered tail) are
    in levels.

    Args:
        tel: training telemetry.
        target: signal to forecast; ``net_load_mw`` by default when load is present.
        horizon_steps: events ahead at the same site (>= 1).
        quantiles: ascending quantile levels, one model output each.
        spec: feature spec; the default spec over ``tel``'s signals if None.
        config: XGBoost settings.

    Raises:
        vpp.errors.ParameterError: bad horizon, quantiles or target, or too
            little data.
    """
    horizon_steps = check_horizon(horizon_steps)
    qs = _check_quantiles(quantiles)
    config = config or TrainConfig()
    target = target or default_target(tel.signals)
    spec = spec or FeatureSpec.default(tel.signals)
    t0 = time.perf_counter()
    data = build_training_set(tel, spec, target, horizon_steps)
    train_rows, test_rows, cut = time_split(
        data.ts_ns, data.sites, horizon_steps, 1.0 - config.valid_fraction
    )
    train_rows &= data.valid
    if train_rows.sum() < 50:
        raise ParameterError(
            f"only {int(train_rows.sum())} usable training events (target {target!r}, horizon "
            f"{horizon_steps}); need at least 50"
        )
    booster = fit_booster(
        data.X[train_rows], data.delta[train_rows], qs, data.feature_names, config
    )
    model = ForecastModel(
        booster=booster, spec=spec, target=target, horizon_steps=horizon_steps, quantiles=qs
    )
    levels = model.predict_level(data.X, data.current)
    scored = forecast_metrics(data, levels, test_rows, qs, horizon_steps, target)
    model.metadata = {
        "kind": "vpp.forecast",
        "created_at": _iso(time.time_ns()),
        "data": {
            "start": _iso(int(data.ts_ns.min())),
            "end": _iso(int(data.ts_ns.max())),
            "events": len(tel),
            "sites": tel.site_ids(),
            "signals": list(tel.signals),
            "steps_per_day": m.steps_per_day(data.ts_ns, data.sites),
            "train_events": int(train_rows.sum()),
            "validation_from": _iso(cut),
        },
        "training": {**asdict(config), "objective": "reg:quantileerror", "learns": "change"},
        "metrics": scored,
        "versions": library_versions(),
        "train_seconds": round(time.perf_counter() - t0, 2),
    }
    log.info("trained %s h=%d: validation %s", target, horizon_steps, scored)
    return model
