"""The in-order rule of the agents' standalone path against a per-event loop."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vpp.runtime.event_order import in_order


def _naive(ts: list[int], sites: list[str], last: dict[str, int]) -> list[bool]:
    out = []
    for t, s in zip(ts, sites, strict=True):
        ok = s not in last or t > last[s]
        if ok:
            last[s] = t
        out.append(ok)
    return out


events = st.lists(st.tuples(st.integers(0, 40), st.sampled_from("abcd")), max_size=60)


@settings(max_examples=200, deadline=None)
@given(first=events, second=events)
def test_in_order_equals_an_event_by_event_loop_across_batches(first: list, second: list) -> None:
    got_last: dict[str, int] = {}
    want_last: dict[str, int] = {}
    for batch in (first, second):  # the state carries from one batch to the next
        ts = np.array([t for t, _ in batch], dtype=np.int64)
        sites = np.array([s for _, s in batch], dtype=object)
        got = in_order(ts, sites, got_last)
        want = _naive(ts.tolist(), sites.tolist(), want_last)
        assert got.tolist() == want
        assert got_last == want_last
