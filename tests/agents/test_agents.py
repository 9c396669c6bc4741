"""AgentSet behaviour from Python: droop, same-event response, NaN handling,
batch = loop, unit split, snapshot and pickle round trips."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vpp.agents
from vpp.agents import (
    REASONS,
    AgentSet,
    ArbitrageConfig,
    Battery,
    BatteryConfig,
    FleetConfig,
    FrequencyResponseConfig,
    droop_response,
)
from vpp.errors import OutOfOrderError, ParameterError, ShapeError, SnapshotError

MIN_NS = 60_000_000_000
DC = FrequencyResponseConfig(contracted_mw=10.0)


def make(n_units: int = 20, fr: FrequencyResponseConfig = DC, **arb: object) -> AgentSet:
    return AgentSet(FleetConfig.uniform(n_units), fr, ArbitrageConfig(**arb))  # type: ignore[arg-type]


def test_dynamic_containment_curve() -> None:
    f = np.array([50.0, 50.015, 49.985, 49.9, 49.8, 49.65, 49.5, 49.0, 50.2, 50.5, np.nan])
    got = droop_response(f)
    want = [0.0, 0.0, 0.0, 0.05 * 0.085 / 0.185, 0.05, 0.525, 1.0, 1.0, -0.05, -1.0]
    np.testing.assert_allclose(got[:-1], want, atol=1e-12)
    assert np.isnan(got[-1])


def test_acts_on_the_same_event_and_splits_across_units() -> None:
    agents = make()
    out = np.zeros(agents.n_units)
    total = agents.decide_into(MIN_NS, 0, 49.5, 60.0, out)
    assert total == pytest.approx(10.0)
    assert out.sum() == pytest.approx(total)
    # Identical units share equally.
    np.testing.assert_allclose(out, 0.5)
    d = agents.last_decision
    assert d["reason"] == "frequency_response"
    assert d["fr_delivered_mw"] == pytest.approx(d["fr_required_mw"])
    assert agents.decide(2 * MIN_NS, 0, 50.5, 60.0) == pytest.approx(-10.0)
    assert agents.compliance == 1.0


def test_non_finite_inputs_hold_the_last_action_and_are_counted() -> None:
    agents = make()
    first = agents.decide(MIN_NS, 0, 49.7, 60.0)
    held = agents.decide(2 * MIN_NS, 0, float("nan"), float("nan"))
    assert held == pytest.approx(first)
    assert agents.last_decision["reason"] == "hold_non_finite"
    agents.decide(3 * MIN_NS, 0, float("inf"), 50.0)
    c = agents.counters
    assert c["non_finite_frequency"] == 2
    assert c["non_finite_price"] == 1
    assert c["events"] == 3


def test_bad_calls() -> None:
    agents = make()
    agents.decide(MIN_NS, 0, 50.0, 60.0)
    with pytest.raises(OutOfOrderError):
        agents.decide(MIN_NS, 0, 50.0, 60.0)
    with pytest.raises(ParameterError, match="site"):
        agents.decide(2 * MIN_NS, 5, 50.0, 60.0)
    with pytest.raises(ShapeError):
        agents.decide_into(3 * MIN_NS, 0, 50.0, 60.0, np.zeros(3))


def test_sites_route_to_their_units() -> None:
    fleet = FleetConfig.uniform(4, sites=("a", "b"))
    agents = AgentSet(fleet, FrequencyResponseConfig(contracted_mw=2.0))
    out = np.zeros(4)
    agents.decide_into(MIN_NS, fleet.site_index("b"), 49.5, 60.0, out)
    # Site b holds units 1 and 3 and half the contract.
    np.testing.assert_allclose(out, [0.0, 0.5, 0.0, 0.5])


def _series(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = (np.arange(n, dtype=np.int64) + 1) * MIN_NS
    f = 50.0 + np.cumsum(rng.normal(0, 0.01, n)).clip(-0.6, 0.6)
    hours = np.arange(n) / 60.0
    p = 60.0 + 40.0 * np.sin(2 * np.pi * hours / 24.0) + rng.normal(0, 5, n)
    f[rng.integers(0, n, 20)] = np.nan
    p[rng.integers(0, n, 20)] = np.nan
    return ts, f, p


def test_batch_equals_loop_of_single_events() -> None:
    ts, f, p = _series(4 * 1440)
    batch = make().run(ts, f, p)
    single = make()
    totals = np.array([single.decide(int(t), 0, a, b) for t, a, b in zip(ts, f, p, strict=True)])
    np.testing.assert_array_equal(totals, batch["total_mw"])
    assert single.counters["plans"] > 0
    # Headroom after each step, as the fleet reports it after the last one.
    assert batch["available_up_mw"][-1] == pytest.approx(single.available_discharge_mw(60.0))
    assert batch["available_down_mwh"][-1] == pytest.approx(single.available_charge_energy_mwh())
    assert (batch["available_up_mw"] >= 0).all() and (batch["available_down_mw"] >= 0).all()
    names = {REASONS[c] for c in np.unique(batch["reason"])}
    assert {"arbitrage", "frequency_response", "hold_non_finite"} <= names


def test_external_forecast_rows_drive_the_plan() -> None:
    ts = (np.arange(12 * 60, dtype=np.int64) + 1) * MIN_NS
    f = np.full(ts.size, 50.0)
    p = np.full(ts.size, 50.0)
    hourly = np.r_[np.full(6, 10.0), np.full(6, 200.0), np.full(12, np.nan)]
    hour = (ts // (60 * MIN_NS)).astype(int)
    # Row i: the forecast from the hour of event i on.
    fc = np.stack([hourly[h : h + 12] for h in hour])
    agents = make(n_units=2, fr=FrequencyResponseConfig())
    lo, hi = agents.band_mwh(0)
    out = agents.run(ts, f, p, forecasts=fc)
    # Full after the cheap first half, empty after the dear second half.
    assert out["stored_mwh"][6 * 60 - 1] == pytest.approx(hi, abs=0.05)
    assert out["stored_mwh"][-1] == pytest.approx(lo, abs=0.05)
    assert out["total_mw"][: 6 * 60].max() <= 1e-9
    assert out["total_mw"][6 * 60 :].min() >= -1e-9


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-1e4, 1e4) | st.sampled_from([np.nan, np.inf, -np.inf]),
            st.floats(0, 1e5) | st.just(np.nan),
        ),
        min_size=1,
        max_size=100,
    )
)
def test_battery_never_leaves_bounds(requests: list[tuple[float, float]]) -> None:
    b = Battery(BatteryConfig(derate_band=0.05))
    for power, dt in requests:
        got = b.apply(power, dt)
        assert -1.0 - 1e-12 <= got <= 1.0 + 1e-12
        assert 0.1 - 1e-12 <= b.soc <= 0.9 + 1e-12


def _stateful_objects() -> list[object]:
    """One used instance of every class of vpp.agents that has `snapshot`."""
    agents = make()
    ts, f, p = _series(1500)
    agents.run(ts, f, p)
    battery = Battery(BatteryConfig())
    battery.apply(0.7, 1800.0)
    found = {
        name
        for name in vpp.agents.__all__
        if isinstance(getattr(vpp.agents, name), type)
        and hasattr(getattr(vpp.agents, name), "snapshot")
    }
    objs = [agents, battery]
    assert found == {type(o).__name__ for o in objs}, found
    return objs


@pytest.mark.parametrize("how", ["snapshot", "pickle"])
def test_state_round_trips(how: str) -> None:
    for obj in _stateful_objects():
        cls = type(obj)
        if how == "snapshot":
            clone = cls.restore(obj.snapshot())  # type: ignore[attr-defined]
        else:
            clone = pickle.loads(pickle.dumps(obj))
        assert clone.snapshot() == obj.snapshot()  # type: ignore[attr-defined]
        assert type(clone).__module__ == "vpp.agents"
    # And they continue identically.
    agents = _stateful_objects()[0]
    clone = pickle.loads(pickle.dumps(agents))
    ts, f, p = _series(3000, seed=1)
    a = agents.run(ts[1500:], f[1500:], p[1500:])  # type: ignore[attr-defined]
    b = clone.run(ts[1500:], f[1500:], p[1500:])
    np.testing.assert_array_equal(a["total_mw"], b["total_mw"])


def test_bad_snapshot() -> None:
    with pytest.raises(SnapshotError):
        AgentSet.restore(b"not a snapshot")


def test_dispatch_records() -> None:
    from vpp.agents.records import RECORD_COLUMNS, dispatch_frame, unit_records

    ts, f, p = _series(300)
    agents = make()
    out = agents.run(ts, f, p)
    frame = dispatch_frame(ts, None, out)
    assert tuple(frame.columns) == RECORD_COLUMNS
    assert len(frame) == ts.size
    np.testing.assert_array_equal(frame["power_mw"].to_numpy(), out["total_mw"])
    fr_rows = frame["reason"] == "frequency_response"
    assert fr_rows.any() and (frame.loc[fr_rows, "agent"] == "frequency_response").all()
    buf = np.zeros(agents.n_units)
    agents.decide_into(int(ts[-1]) + MIN_NS, 0, 49.6, 60.0, buf)
    rows = unit_records(
        int(ts[-1]) + MIN_NS, "grid", buf, range(agents.n_units), agents.last_decision
    )
    assert len(rows) == agents.n_units
    assert sum(r["power_mw"] for r in rows) == pytest.approx(agents.last_decision["total_mw"])


def test_compliance_falls_when_the_reserve_runs_out() -> None:
    agents = AgentSet(
        FleetConfig(units=(BatteryConfig(),), default_dt_s=1.0),
        FrequencyResponseConfig(contracted_mw=0.5),
        ArbitrageConfig(enabled=False),
    )
    ts = (np.arange(4 * 3600, dtype=np.int64) + 1) * 1_000_000_000
    # Four hours at full low-frequency response: the 15-min reserve lasts,
    # then the battery empties (0.8 MWh above its floor, 0.5 MW out).
    out = agents.run(ts, np.full(ts.size, 49.4), np.full(ts.size, 50.0))
    rec = agents.record
    assert rec["event_time_s"] == pytest.approx(ts.size)
    empty_at = np.argmax(out["fr_delivered_mw"] < 0.5 - 0.005)
    assert 0.25 * 3600 < empty_at < 2 * 3600
    assert rec["compliance"] == pytest.approx(empty_at / ts.size, abs=2e-3)
    assert agents.unit_soc()[0] == pytest.approx(0.1)
