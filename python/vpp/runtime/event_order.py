"""Which events of a batch come in time order per site, and the data's step.

The feature engine skips an event that is not after its site's previous
accepted one; the agents' standalone path applies the same rule with these
helpers, and ``vpp run`` sizes the agents' first step from the data's step.
"""

from __future__ import annotations

import numpy as np

__all__ = ["after_previous", "in_order", "step_s"]


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


def in_order(ts_ns: np.ndarray, sites: np.ndarray, last_ts: dict[str, int]) -> np.ndarray:
    """Events after their site's previous accepted one (the engine's skip rule).

    ``last_ts`` (site → timestamp of its last accepted event) is updated in place.
    """
    ok = np.zeros(len(ts_ns), dtype=bool)
    uniq, inv = np.unique(sites, return_inverse=True)
    # One sort groups the events by site, each site's in batch order.
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(uniq.size + 1))
    for k, site in enumerate(uniq):
        where = order[bounds[k] : bounds[k + 1]]
        ok[where], last = after_previous(ts_ns[where], last_ts.get(str(site)))
        assert last is not None
        last_ts[str(site)] = last
    return ok
