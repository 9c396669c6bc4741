"""Streaming features: the public face of the Rust feature engine.

The engine keeps, per site and per signal, a ring of recent values and O(1)
rolling statistics, and turns each event into a fixed-width feature row:

* lags ``k`` (pandas ``shift(k)`` over that site's events),
* rolling ``mean``, ``std`` (ddof=1), ``min``, ``max`` over ``w`` events
  including the current one (pandas ``rolling(w, min_periods=w)``: missing
  until ``w`` values and while any value in the window is missing),
* ``diff1``, calendar terms of the UTC timestamp, and interactions
  (renewable share, net-load ramp in MW per hour).

Missing values are NaN, never 0. NaN or ±inf in input mean "missing".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vpp import _core
from vpp.schema import ASSET_SIGNALS, GRID_SIGNALS

#: Lags of the default spec, in events: the last few steps, a quarter hour to
#: an hour at 5-15 min data, and a day at 30-min data (48).
DEFAULT_LAGS: tuple[int, ...] = (1, 2, 3, 6, 12, 24, 48)
#: Rolling windows of the default spec, in events.
DEFAULT_WINDOWS: tuple[int, ...] = (4, 12, 24, 48)
STATS: tuple[str, ...] = ("mean", "std", "min", "max")


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature engine computes.

    Attributes:
        signals: Canonical signal names, in the column order of the values
            passed to the engine. ``net_load_mw`` is derived when ``load_mw``
            is present.
        lags: Lags in events (each >= 1).
        windows: Rolling window lengths in events (each >= 1).
        stats: Rolling statistics, any of ``mean``, ``std``, ``min``, ``max``.
        calendar: Add hour/day-of-week/month sin-cos terms and ``is_weekend``.
        interactions: Add ``renewable_share`` and ``net_load_ramp_mw_per_h``.
        diff: Add the first difference ``<signal>_diff1``.
    """

    signals: Sequence[str] = field(default_factory=lambda: list(GRID_SIGNALS))
    lags: Sequence[int] = field(default_factory=lambda: list(DEFAULT_LAGS))
    windows: Sequence[int] = field(default_factory=lambda: list(DEFAULT_WINDOWS))
    stats: Sequence[str] = field(default_factory=lambda: list(STATS))
    calendar: bool = True
    interactions: bool = True
    diff: bool = True

    def __post_init__(self) -> None:
        for name in ("signals", "lags", "windows", "stats"):
            value = getattr(self, name)
            if isinstance(value, str | bytes):
                raise TypeError(f"{name} must be a list, not a string")
            object.__setattr__(self, name, list(value))
        # Validate eagerly so a bad spec fails where it is written.
        _core.FeatureEngine(self)

    @classmethod
    def default(cls, signals: Sequence[str] | None = None) -> FeatureSpec:
        """The default spec over ``signals`` (all grid signals if None); asset
        signals (:data:`vpp.schema.ASSET_SIGNALS`) feed the agents, not the
        features, and are left out."""
        if signals is None:
            return cls(signals=list(GRID_SIGNALS))
        return cls(signals=[s for s in signals if s not in ASSET_SIGNALS])

    def to_dict(self) -> dict[str, object]:
        """Plain-data form, for model metadata files."""
        return {
            "signals": list(self.signals),
            "lags": list(self.lags),
            "windows": list(self.windows),
            "stats": list(self.stats),
            "calendar": self.calendar,
            "interactions": self.interactions,
            "diff": self.diff,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)  # type: ignore[arg-type]

    @property
    def feature_names(self) -> list[str]:
        """Names of the features this spec yields, in output order."""
        return list(_core.FeatureEngine(self).feature_names)


class FeatureEngine(_core.FeatureEngine):
    """Streaming features for many sites, computed in Rust.

    Example:
        >>> import numpy as np
        >>> from vpp import FeatureEngine, FeatureSpec
        >>> eng = FeatureEngine(FeatureSpec(signals=["load_mw"], lags=[1], windows=[2]))
        >>> _ = eng.push(0, [10.0])
        >>> row = eng.push(60_000_000_000, [12.0])
        >>> float(dict(zip(eng.feature_names, row))["load_mw_mean2"])
        11.0

    ``push(ts_ns, values, site="grid")`` applies one event and returns
    ``float64[n_features]``. ``process(ts_ns, values, sites=None,
    on_out_of_order="raise")`` applies a batch (``int64[n]`` UTC ns and
    ``float64[n, n_signals]``), releases the GIL, reads C-contiguous input
    without copying (do not mutate it from another thread meanwhile) and
    returns exactly what a loop of ``push`` would. An event not later than
    its site's last one raises :class:`vpp.errors.OutOfOrderError`; with
    ``on_out_of_order="skip"`` its row is NaN and ``counters["out_of_order"]``
    counts it.
    """

    @property
    def spec(self) -> FeatureSpec:
        """The spec this engine computes."""
        return FeatureSpec.from_dict(self._spec_dict())

    @classmethod
    def restore(cls, blob: bytes) -> FeatureEngine:
        """Rebuild an engine, with all site state, from :meth:`snapshot` bytes.

        Raises:
            vpp.errors.SnapshotError: if ``blob`` is not a snapshot.
        """
        return cls(_state=bytes(blob))

    def __reduce__(self) -> tuple[object, tuple[bytes]]:
        return (_restore_engine, (self.snapshot(),))

    def process_frame(self, ts_ns: np.ndarray, values: np.ndarray, sites: object = None) -> object:
        """Like :meth:`process` but returns a pandas DataFrame with feature names."""
        import pandas as pd

        return pd.DataFrame(self.process(ts_ns, values, sites), columns=self.feature_names)


def _restore_engine(blob: bytes) -> FeatureEngine:
    return FeatureEngine.restore(blob)


__all__ = ["DEFAULT_LAGS", "DEFAULT_WINDOWS", "STATS", "FeatureEngine", "FeatureSpec"]
