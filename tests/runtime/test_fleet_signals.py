"""The fleet's held totals against an event-by-event loop, across batches and snapshots."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from vpp.errors import SnapshotError
from vpp.runtime.fleet_signals import FleetSignals


def _naive(ts, sites, values, n_sites, mean_cols):  # type: ignore[no-untyped-def]
    """Fleet events and totals by the module doc's rule, one event at a time."""
    held = np.full((n_sites, values.shape[1]), np.nan)
    last = None
    rows, totals = [], []
    for i in range(ts.size):
        s = sites[i]
        if last is None or ts[i] > last:
            last = ts[i]
            row = []
            for j in range(values.shape[1]):
                own = values[i, j]
                if not np.isfinite(own):
                    row.append(np.nan)
                    continue
                others = [held[k, j] for k in range(n_sites) if k != s and np.isfinite(held[k, j])]
                total = own + sum(others) if j not in mean_cols else None
                if j in mean_cols:
                    total = (own + sum(others)) / (1 + len(others))
                row.append(total)
            rows.append(i)
            totals.append(row)
        ok = np.isfinite(values[i])
        held[s, ok] = values[i, ok]
    return np.array(rows, dtype=np.int64), np.array(totals).reshape(len(rows), values.shape[1])


@pytest.mark.parametrize("seed", range(6))
def test_totals_equal_an_event_by_event_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, n_sites = 400, 1 + seed % 4
    ts = np.sort(rng.integers(0, 150, n)) * 60
    ts[rng.random(n) < 0.05] -= 600  # some late events
    sites = rng.integers(0, n_sites, n)
    values = rng.normal(100, 30, (n, 3))
    values[rng.random(values.shape) < 0.15] = np.nan
    want_rows, want = _naive(ts, sites, values, n_sites, (2,))

    fs = FleetSignals(n_sites, 3, (2,))
    got_rows, got = [], []
    cuts = [0, *sorted(rng.choice(np.arange(1, n), 4, replace=False)), n]
    for k, (a, b) in enumerate(pairwise(cuts)):
        if k == 2:  # continue from a snapshot
            fs = FleetSignals.restore(fs.snapshot())
        r, t = fs.update(ts[a:b], sites[a:b], values[a:b])
        got_rows.append(r + a)
        got.append(t)
    np.testing.assert_array_equal(np.concatenate(got_rows), want_rows)
    np.testing.assert_allclose(np.concatenate(got), want, rtol=1e-12)


def test_one_site_passes_its_own_readings_through_exactly() -> None:
    ts = np.arange(50, dtype=np.int64)
    values = np.random.default_rng(3).normal(0, 1e3, (50, 2))
    values[::7, 0] = np.nan
    rows, totals = FleetSignals(1, 2).update(ts, np.zeros(50, dtype=np.int64), values)
    np.testing.assert_array_equal(rows, np.arange(50))
    np.testing.assert_array_equal(totals, values)  # bit for bit, NaN where missing


def test_garbage_is_not_a_snapshot() -> None:
    with pytest.raises(SnapshotError, match="fleet signals"):
        FleetSignals.restore(b"nope")
