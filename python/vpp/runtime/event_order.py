"""Which events of a batch come in time order per site, and the data's step.

The feature engine skips an event that is not after its site's previous
accepted one; the agents' standalone path applies the same rule with these
helpers, and ``vpp run`` sizes the agents' first step from the data's step.
"""

from __future__ import annotations

import numpy as np

__all__ = ["after_previous", "in_order", "rows_by_code", "step_s"]


def step_s(ts_ns: np.ndarray, sites: np.ndarray) -> float | None:
    """Median step between consecutive events of a site, s (None if unknown)."""
    from vpp.model.metrics import median_step_ns

    step = median_step_ns(ts_ns, sites)
    return None if step is None else step / 1e9


def after_previous(ts_ns: np.ndarray, last: int | None) -> tuple[np.ndarray, int | None]:
    """One site's events after every earlier one and after ``last`` (its
    previous accepted timestamp, None: none yet), and the new ``last``."""
    if ts_ns.size == 0:
        return np.zeros(0, dtype=bool), last
    before = np.maximum.accumulate(ts_ns)
    prior = np.concatenate(([np.iinfo(np.int64).min], before[:-1]))
    if last is not None:
        prior = np.maximum(prior, last)
    return ts_ns > prior, int(before[-1] if last is None else max(before[-1], last))


def rows_by_code(codes: np.ndarray, n_codes: int) -> list[np.ndarray]:
    """Positions of each code ``0..n_codes-1`` in ``codes``, in order (one sort;
    other codes, e.g. -1, are left out)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_codes + 1))
    return [order[bounds[k] : bounds[k + 1]] for k in range(n_codes)]


def in_order(ts_ns: np.ndarray, sites: np.ndarray, last_ts: dict[str, int]) -> np.ndarray:
    """Events after their site's previous accepted one (the engine's skip rule).

    ``last_ts`` (site → timestamp of its last accepted event) is updated in place.
    """
    ok = np.zeros(len(ts_ns), dtype=bool)
    uniq, inv = np.unique(sites, return_inverse=True)
    for site, where in zip(uniq, rows_by_code(inv, uniq.size), strict=True):
        ok[where], last = after_previous(ts_ns[where], last_ts.get(str(site)))
        assert last is not None
        last_ts[str(site)] = last
    return ok
