"""Open-loop batch generation: a whole horizon of telemetry in one call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vpp.schema import GRID_SIGNALS
from vpp.twin.config import TwinConfig
from vpp.twin.engine import TwinEngine

__all__ = ["TwinResult", "generate", "simulate", "to_frame"]


@dataclass(frozen=True)
class TwinResult:
    """The output of :func:`simulate`.

    Attributes:
        frame: long telemetry table, one row per site per step, sorted by
            timestamp then site (columns ``timestamp``, ``site`` and
            :data:`vpp.schema.GRID_SIGNALS`).
        frequency_trace: frequency (Hz) at every fine step from ``start``
            (``n_fine + 1`` samples, the first at ``start``), or None when
            the trace was not kept (see :attr:`TwinConfig.keep_trace`).
        trace_step_s: spacing of ``frequency_trace`` (the fine step).
        start_ns: UTC nanoseconds of the first row and trace sample.
        config: the configuration that produced it.
    """

    frame: pd.DataFrame
    frequency_trace: np.ndarray | None
    trace_step_s: float
    start_ns: int
    config: TwinConfig

    def trace_times_s(self) -> np.ndarray:
        """Seconds after ``start`` of each ``frequency_trace`` sample."""
        if self.frequency_trace is None:
            raise ValueError("the frequency trace was not kept (set keep_trace=True)")
        return np.arange(self.frequency_trace.size) * self.trace_step_s


def to_frame(
    ts_ns: np.ndarray, site_names: tuple[str, ...], columns: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Long telemetry frame from per-step arrays: (n,) are shared, (n, m) per site."""
    n, m = ts_ns.size, len(site_names)
    data: dict[str, Any] = {
        "timestamp": pd.to_datetime(np.repeat(ts_ns, m), unit="ns", utc=True),
        "site": np.tile(np.asarray(site_names, dtype=object), n),
    }
    for name in GRID_SIGNALS:
        arr = columns[name]
        data[name] = np.repeat(arr, m) if arr.ndim == 1 else arr.reshape(-1)
    return pd.DataFrame(data, columns=["timestamp", "site", *GRID_SIGNALS])


def simulate(
    config: TwinConfig | None = None,
    progress: Callable[[int], None] | None = None,
    **kwargs: Any,
) -> TwinResult:
    """Run the twin open-loop over its horizon.

    Args:
        config: a :class:`TwinConfig`; or leave it out and pass its fields as
            keyword arguments.
        progress: called with the number of days just finished (for a bar).

    Raises:
        ParameterError: invalid configuration.

    Example:
        >>> res = simulate(days=1, resolution="1h", seed=3)
        >>> len(res.frame), round(float(res.frequency_trace[0]), 3)
        (24, 50.0)
    """
    cfg = config if config is not None else TwinConfig(**kwargs)
    if config is not None and kwargs:
        raise TypeError("pass either a config or keyword fields, not both")
    eng = TwinEngine(cfg)
    n, spd, res = eng.n_steps, eng.steps_per_day, eng.resolution_s
    m = eng.n_sites
    ts = np.empty(n, dtype=np.int64)
    freq = np.empty(n)
    price = np.empty(n)
    per_site = {k: np.empty((n, m)) for k in ("load_mw", "solar_mw", "wind_mw", "temperature_c")}
    keep = cfg.keeps_trace
    trace = np.empty(cfg.n_fine + 1) if keep else np.empty(0)
    if keep:
        trace[0] = 0.0
    fine_per_step = res * eng.substeps
    for day in range(eng.n_days):
        lo = day * spd
        hi = min(n, lo + spd)
        rows = hi - lo
        blk = eng.block(day)
        ts[lo:hi] = blk.ts_ns[:rows]
        price[lo:hi] = blk.price_per_mwh[:rows]
        for k, arr in per_site.items():
            arr[lo:hi] = getattr(blk, k)[:rows]
        day_trace = trace[1 + lo * fine_per_step : 1 + hi * fine_per_step] if keep else trace
        eng.integrate(lo * res, rows * res, 0.0, freq[lo:hi], day_trace)
        if progress is not None:
            progress(1)
    f0 = cfg.nominal_hz
    freq += f0
    frame = to_frame(ts, eng.site_names, {**per_site, "frequency_hz": freq, "price_per_mwh": price})
    return TwinResult(frame, trace + f0 if keep else None, cfg.fine_step_s, eng.start_ns, cfg)


def generate(
    days: float = 7.0,
    resolution: str | float = "1min",
    sites: Any = 1,
    seed: int = 0,
    **kwargs: Any,
) -> pd.DataFrame:
    """Open-loop telemetry of the twin as a long DataFrame.

    Args:
        days: horizon (days).
        resolution: output step, 1 s..1 h (``"1min"``, ``"15min"``, 3600, …).
        sites: number of sites or a sequence of :class:`SiteConfig`.
        seed: random seed; the same seed gives identical output.
        **kwargs: any other :class:`TwinConfig` field.

    Returns:
        Columns ``timestamp`` (datetime64[ns, UTC]), ``site`` and the six
        canonical signals; one row per site per step, sorted by timestamp
        then site.

    Example:
        >>> df = generate(days=1, resolution="1h", sites=2, seed=1)
        >>> df.shape, list(df.columns[:2])
        ((48, 8), ['timestamp', 'site'])
    """
    cfg = TwinConfig(days=days, resolution=resolution, sites=sites, seed=seed, **kwargs)
    return simulate(cfg).frame
