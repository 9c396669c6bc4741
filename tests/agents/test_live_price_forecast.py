"""The live fundamental forecaster: the batch forecaster's rows from a stream in
any batching, across a snapshot, with out-of-order events skipped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vpp.agents.fundamental_forecast import LOOKBACK_H, FundamentalPriceForecaster
from vpp.agents.live_price_forecast import LivePriceForecaster
from vpp.agents.price_curve import PriceCurve
from vpp.errors import ParameterError, SnapshotError
from vpp.twin import generate

H_NS = 3_600_000_000_000
SMALL = {"warmup_days": 7.0, "refit_days": 1.0, "n_jobs": 1}
KEYS = ("load_mw", "solar_mw", "wind_mw", "temperature_c")


@pytest.fixture(scope="module")
def stream() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    df = generate(days=10, resolution="1min", sites=1, seed=5)
    ts = pd.DatetimeIndex(df["timestamp"]).asi8
    p = df["price_per_mwh"].to_numpy().copy()
    p[3000:3090] = np.nan  # an outage of the price feed inside the warm-up
    return ts, p, {k: df[k].to_numpy() for k in KEYS}


@pytest.fixture(scope="module")
def batch_rows(stream: tuple) -> dict[int, np.ndarray]:
    """The batch forecaster's row at the first event of each hour, by event index."""
    ts, p, sig = stream
    fc = FundamentalPriceForecaster(**SMALL).forecast(ts, p, sig)
    hour = ts // H_NS
    starts = np.flatnonzero(np.r_[True, np.diff(hour) > 0])
    rows = {int(i): fc.prices[hour[i] - hour[0]] for i in starts}
    return {i: r for i, r in rows.items() if np.isfinite(r).all()}


def _feed(live: LivePriceForecaster, stream: tuple, a: int, b: int) -> dict[int, np.ndarray]:
    ts, p, sig = stream
    got = live.update(ts[a:b], p[a:b], {k: v[a:b] for k, v in sig.items()})
    assert all(ts[a + f.index] == f.ts_ns for f in got)
    return {a + f.index: f.prices for f in got}


def _assert_same(got: dict[int, np.ndarray], want: dict[int, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    assert len(want) > 48  # the test spans refits, not only the first hours
    for i, row in want.items():
        np.testing.assert_allclose(got[i], row, rtol=1e-9, atol=1e-9)


def test_stream_in_random_batches_gives_the_batch_rows(stream: tuple, batch_rows: dict) -> None:
    ts = stream[0]
    cuts = np.sort(np.random.default_rng(1).choice(np.arange(1, ts.size), 200, replace=False))
    live = LivePriceForecaster(**SMALL)
    got: dict[int, np.ndarray] = {}
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, ts.size], strict=True):
        got.update(_feed(live, stream, int(a), int(b)))
    _assert_same(got, batch_rows)
    assert live.skipped == 0


def test_a_restored_snapshot_forecasts_on_as_if_never_stopped(
    stream: tuple, batch_rows: dict
) -> None:
    ts = stream[0]
    live = LivePriceForecaster(**SMALL)
    # Stop after the first refits (curve and rng state in play), mid-hour.
    mid = int(np.searchsorted(ts, ts[0] + 8 * 24 * H_NS + H_NS // 2))
    got = _feed(live, stream, 0, mid)
    blob = live.snapshot()
    again = LivePriceForecaster.restore(blob)
    assert again.carry.curve is not None and again.hours_seen == live.hours_seen
    got.update(_feed(again, stream, mid, ts.size))
    _assert_same(got, batch_rows)


def test_out_of_order_and_repeated_events_are_skipped_and_counted(
    stream: tuple, batch_rows: dict
) -> None:
    ts, p, sig = stream
    live = LivePriceForecaster(**SMALL)
    got: dict[int, np.ndarray] = {}
    step = 5000
    for a in range(0, ts.size, step):
        b = min(a + step, ts.size)
        got.update(_feed(live, stream, a, b))
        if a:  # the previous batch's tail again: all stale
            lo = a - 100
            assert live.update(ts[lo:a], p[lo:a], {k: v[lo:a] for k, v in sig.items()}) == []
    _assert_same(got, batch_rows)
    assert live.skipped == 100 * (len(range(0, ts.size, step)) - 1)


def test_history_beyond_the_limit_is_dropped_and_forecasts_go_on(stream: tuple) -> None:
    ts = stream[0]
    live = LivePriceForecaster(max_history_days=2.0, **SMALL)
    got = {}
    for a in range(0, ts.size, 1440):
        got.update(_feed(live, stream, a, min(a + 1440, ts.size)))
    kept_h = (live._ev_hour.view[-1] - live._ev_hour.view[0]) / 24
    assert kept_h <= 2.0 * 1.1 + 1  # the limit plus the trimming step and the open day
    assert len(got) > 48 and all(np.isfinite(r).all() for r in got.values())


def test_bad_input_is_named(stream: tuple) -> None:
    ts, p, sig = stream
    live = LivePriceForecaster(**SMALL)
    with pytest.raises(ParameterError, match="wind_mw"):
        live.update(
            ts[:10], p[:10], {"load_mw": sig["load_mw"][:10], "solar_mw": sig["solar_mw"][:10]}
        )
    with pytest.raises(ParameterError, match="prices"):
        live.update(ts[:10], p[:9], {k: v[:10] for k, v in sig.items()})
    with pytest.raises(ParameterError, match="max_history_days"):
        LivePriceForecaster(max_history_days=0.0)
    with pytest.raises(ParameterError, match="load_tau_h"):
        LivePriceForecaster(load_tau_h=-1.0)
    with pytest.raises(SnapshotError, match="price forecaster snapshot"):
        LivePriceForecaster.restore(b"not a snapshot")


def test_price_curve_from_its_table() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(0, 100, 500), rng.uniform(0, 1, 500)])
    y = 20 + x[:, 0] - 10 * x[:, 1]
    curve = PriceCurve(x, y, rng, n_jobs=1)
    same = PriceCurve.from_table(curve.net, curve.share, curve.table)
    np.testing.assert_array_equal(same(x), curve(x))
    with pytest.raises(ParameterError, match="price curve"):
        PriceCurve.from_table(curve.net[::-1], curve.share, curve.table)
    with pytest.raises(ParameterError, match="price curve"):
        PriceCurve.from_table(curve.net, curve.share, curve.table[:, :-1])


def test_a_long_stream_keeps_bounded_hourly_state_and_the_batch_rows() -> None:
    """Hourly data for 80 days: the hourly buffers are trimmed to the weeks
    the step reads, and the forecasts stay the batch forecaster's."""
    df = generate(days=80, resolution="1h", sites=1, seed=7)
    ts = pd.DatetimeIndex(df["timestamp"]).asi8
    p, sig = df["price_per_mwh"].to_numpy(), {k: df[k].to_numpy() for k in KEYS}
    want = FundamentalPriceForecaster(**SMALL).forecast(ts, p, sig).prices
    live = LivePriceForecaster(**SMALL)
    got = {}
    for a in range(0, ts.size, 100):
        b = min(a + 100, ts.size)
        for f in live.update(ts[a:b], p[a:b], {k: v[a:b] for k, v in sig.items()}):
            got[a + f.index] = f.prices
        if a == 1500:  # through a snapshot after the first trim
            assert live._row0 > 0
            live = LivePriceForecaster.restore(live.snapshot())
    assert live._row0 > 24 * 30 and live._first.n <= LOOKBACK_H + 24 * 7 + 1
    assert live.hours_seen == ts.size
    rows = {i: want[i] for i in range(ts.size) if np.isfinite(want[i]).all()}
    _assert_same(got, rows)
