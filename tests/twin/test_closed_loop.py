"""Closed loop: battery power enters the power balance."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from vpp.errors import ParameterError
from vpp.twin import GridTwin, TwinConfig, TwinObservation, nadir_hz, simulate


def fast_response_mw(obs: TwinObservation, contracted_mw: float = 1000.0) -> float:
    """A fast-frequency-response droop: nothing within ±15 mHz, full at -0.5 Hz."""
    dev = 50.0 - obs.frequency_hz
    if dev <= 0.015:
        return 0.0
    return contracted_mw * min(1.0, (dev - 0.015) / (0.5 - 0.015))


def test_zero_battery_reproduces_the_batch_run() -> None:
    cfg = TwinConfig(days=2, resolution="10min", sites=2, seed=5, trips=[(40_000.0, 900.0)])
    batch = simulate(cfg)
    twin = GridTwin(cfg)
    result, battery = twin.run()
    pd.testing.assert_frame_equal(result.frame, batch.frame)
    assert not battery.any()
    trace = twin.frequency_trace
    assert trace is not None and batch.frequency_trace is not None
    np.testing.assert_array_equal(trace, batch.frequency_trace[: trace.size])


def test_battery_during_a_trip_raises_the_nadir() -> None:
    cfg = TwinConfig(days=1 / 24, resolution="1s", seed=1, trips=[(120.0, 1800.0)])
    without, _ = GridTwin(cfg).run()
    with_fleet, battery = GridTwin(cfg).run(fast_response_mw)
    assert without.frequency_trace is not None and with_fleet.frequency_trace is not None
    nadir_without = nadir_hz(without.frequency_trace)
    nadir_with = nadir_hz(with_fleet.frequency_trace)
    assert nadir_without < 49.5
    assert nadir_with > nadir_without + 0.05
    assert battery.max() > 500.0  # the fleet did respond
    assert battery[120:150].mean() > 5 * battery[:119].mean()  # ...mostly after the trip


def test_discharging_raises_frequency_by_the_droop_gain() -> None:
    cfg = TwinConfig(days=1 / 24, resolution="1min", imbalance_std_pu=0.0, agc_time_s=None)
    twin = GridTwin(cfg)
    twin.reset()
    for _ in range(30):
        obs = twin.step(300.0)
    m = twin.model
    expected = 300.0 / (m.d_mw_per_hz + m.k_mw_per_hz)
    assert obs.frequency_hz - 50.0 == pytest.approx(expected, rel=1e-3)
    twin.reset()
    for _ in range(30):
        obs = twin.step(-300.0)  # charging lowers it
    assert obs.frequency_hz - 50.0 == pytest.approx(-expected, rel=1e-3)


def test_per_site_power_is_summed() -> None:
    cfg = TwinConfig(days=0.1, resolution="1min", sites=3, seed=2)
    a, b = GridTwin(cfg), GridTwin(cfg)
    a.reset()
    b.reset()
    for _ in range(20):
        oa = a.step([100.0, 50.0, 150.0])
        ob = b.step(300.0)
    assert oa.frequency_hz == ob.frequency_hz


def test_step_bookkeeping_reset_and_done() -> None:
    cfg = TwinConfig(days=1 / 24, resolution="5min", sites=2, seed=4)
    twin = GridTwin(cfg)
    first = twin.reset()
    assert twin.time_ns == first.ts_ns == cfg.start_ns
    assert first.frequency_hz == 50.0
    assert first["load_mw"].shape == (2,)
    steps = []
    while not twin.done:
        steps.append(twin.step(10.0))
    assert len(steps) == twin.n_steps - 1 == 11
    assert twin.time_ns - cfg.start_ns == 11 * 300 * 10**9
    with pytest.raises(RuntimeError, match="reset"):
        twin.step(0.0)
    again = twin.reset()
    np.testing.assert_array_equal(again.values, first.values)
    assert twin.step(10.0).values.tolist() == steps[0].values.tolist()
    d = steps[0].as_dict()
    assert d["sites"] == twin.sites and d["ts_ns"] == steps[0].ts_ns
    with pytest.raises(KeyError, match="unknown signal"):
        steps[0]["voltage"]


def test_bad_battery_power_is_rejected() -> None:
    twin = GridTwin(days=1 / 24, resolution="1min")
    twin.reset()
    with pytest.raises(ParameterError, match="battery_power_mw"):
        twin.step(float("nan"))


def test_pickled_twin_continues_identically() -> None:
    cfg = TwinConfig(days=1, resolution="1h", sites=2, seed=6, trips=[(7200.0, 500.0)])
    twin = GridTwin(cfg)
    twin.reset()
    for _ in range(5):
        twin.step(50.0)
    clone = pickle.loads(pickle.dumps(twin))
    while not twin.done:
        a, b = twin.step(20.0), clone.step(20.0)
        np.testing.assert_array_equal(a.values, b.values)
    assert clone.done
