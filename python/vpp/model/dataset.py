"""Training rows: the serving feature engine's rows and the target H events ahead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vpp.errors import ParameterError
from vpp.features import FeatureEngine, FeatureSpec
from vpp.io import Telemetry
from vpp.model.metrics import shift_per_site
from vpp.schema import NET_LOAD

__all__ = ["TrainingSet", "build_training_set", "check_horizon", "default_target", "spec_values"]


@dataclass
class TrainingSet:
    """Features and targets of every event, in event order.

    Attributes:
        X: features from :class:`vpp.FeatureEngine`, shape ``(n, n_features)``.
        current: the target signal at the event, shape ``(n,)``.
        future: the target signal ``horizon_steps`` events later at the same site.
        ts_ns: event timestamps.
        sites: event site ids.
        feature_names: column names of ``X``.
    """

    X: np.ndarray
    current: np.ndarray
    future: np.ndarray
    ts_ns: np.ndarray
    sites: np.ndarray
    feature_names: list[str]

    @property
    def delta(self) -> np.ndarray:
        """What the model learns: the change from now to the horizon."""
        return self.future - self.current

    @property
    def valid(self) -> np.ndarray:
        """Rows with both a current and a future target value."""
        return np.isfinite(self.current) & np.isfinite(self.future)


def check_horizon(horizon_steps: object) -> int:
    """Return the horizon as an int >= 1, or raise ParameterError naming it."""
    if isinstance(horizon_steps, bool) or not isinstance(horizon_steps, int | np.integer):
        raise ParameterError(f"horizon must be a whole number of events, got {horizon_steps!r}")
    if horizon_steps <= 0:
        raise ParameterError(
            f"horizon must be >= 1 event ahead, got {horizon_steps} "
            "(0 would forecast the present, negative the past)"
        )
    return int(horizon_steps)


def default_target(signals: Sequence[str]) -> str:
    """``net_load_mw`` when load is present, else raise asking for ``--target``."""
    if "load_mw" in signals:
        return NET_LOAD
    raise ParameterError(
        f"no load_mw column, so no default target; give a target among {list(signals)}"
    )


def spec_values(tel: Telemetry, signals: Sequence[str]) -> np.ndarray:
    """The ``(n, len(signals))`` value matrix in ``signals`` order (absent ones NaN)."""
    out = np.full((len(tel), len(signals)), np.nan)
    for j, name in enumerate(signals):
        if name in tel.signals:
            out[:, j] = tel.column(name)
    return out


def target_values(tel: Telemetry, target: str) -> np.ndarray:
    """The target signal of every event (non-finite values become NaN)."""
    try:
        values = np.array(tel.column(target), dtype=np.float64)
    except KeyError:
        raise ParameterError(
            f"target {target!r} is not in the data; signals present: {tel.signals}"
            + (" (net_load_mw needs load_mw)" if target == NET_LOAD else "")
        ) from None
    values[~np.isfinite(values)] = np.nan
    return values


def build_training_set(
    tel: Telemetry, spec: FeatureSpec, target: str, horizon_steps: int
) -> TrainingSet:
    """Features of every event (streamed in order, as in serving) and its target.

    Raises:
        vpp.errors.ParameterError: bad horizon or a target absent from the data.
    """
    horizon_steps = check_horizon(horizon_steps)
    current = target_values(tel, target)
    engine = FeatureEngine(spec)
    X = engine.process(tel.ts_ns, spec_values(tel, spec.signals), tel.sites, on_out_of_order="skip")
    future = shift_per_site(current, tel.sites, horizon_steps)
    return TrainingSet(
        X=X,
        current=current,
        future=future,
        ts_ns=tel.ts_ns,
        sites=tel.sites,
        feature_names=list(engine.feature_names),
    )
