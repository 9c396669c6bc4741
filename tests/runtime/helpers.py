"""Running a processor over a stream, and the power its dispatch records hold."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from vpp.io import Telemetry
from vpp.runtime.processor import BatchProcessor


def dispatch_of(
    new: Callable[[], BatchProcessor], tel: Telemetry, size: int, stop: int | None = None
) -> tuple[pd.DataFrame, BatchProcessor]:
    """All dispatch records of ``tel`` in batches of ``size``; before batch
    ``stop`` the processor is snapshotted and a new one (``new()``) restored
    from it, as a restarted service. Returns the records and the last processor."""
    proc, out = new(), []
    for i, batch in enumerate(tel.batches(size)):
        if i == stop:
            blob = proc.snapshot()
            proc = new()
            proc.restore(blob)
        out.append(proc.process(batch).dispatch)
    return pd.concat(out, ignore_index=True), proc


def held_power(dispatch: pd.DataFrame, ts_ns: np.ndarray, site: str | None = None) -> np.ndarray:
    """Power at each of ``ts_ns`` from the (sparse) records of one unit per
    site: each record holds until the next, 0 before the first."""
    mine = dispatch if site is None else dispatch[dispatch["site"] == site]
    held = pd.Series(mine["power_mw"].to_numpy(), index=mine["ts_ns"].to_numpy())
    held = held[~held.index.duplicated(keep="last")]
    return held.reindex(ts_ns, method="ffill").fillna(0.0).to_numpy()
