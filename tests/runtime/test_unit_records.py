"""Per-unit dispatch and SoC records written by the deciding loop itself
(``process_decide(units=True)``, ``push_decide(units=True)``,
``AgentSet.run(units=True)``)."""

from __future__ import annotations

import numpy as np
import pytest

from vpp import twin
from vpp.agents import AgentSet, fleet_from_settings
from vpp.config import AgentSettings, BatterySettings
from vpp.errors import VppError
from vpp.features import FeatureSpec
from vpp.io import Telemetry
from vpp.model.serving import forecaster_for
from vpp.pipeline import NO_DECISION, UNIT_RECORD_KEYS

BATTERY = BatterySettings(units_per_site=3, power_mw=5.0, energy_mwh=10.0)
AGENTS = AgentSettings(contracted_mw=6.0)
SOC_S = 600.0


@pytest.fixture(scope="module")
def tel() -> Telemetry:
    """Two sites, 1 day at 1 min (the default model's resolution)."""
    return Telemetry.from_frame(twin.generate(days=1, resolution="1min", sites=2, seed=11))


def _pipeline(tel: Telemetry):
    p = forecaster_for(FeatureSpec.default(tel.signals), "default")
    assert p is not None and p.compiled
    setup = fleet_from_settings(BATTERY, AGENTS, tel.site_ids(), default_dt_s=60.0)
    p.attach_agents(setup.agents, sites=tel.site_ids())
    return p, setup


def _batches(p, tel: Telemetry, size: int) -> tuple[dict, dict]:
    """Decisions and per-unit records of ``tel`` in batches, event indices global."""
    decs: dict[str, list] = {}
    recs: dict[str, list] = {k: [] for k in UNIT_RECORD_KEYS}
    for start in range(0, len(tel), size):
        part = tel.slice(start, min(start + size, len(tel)))
        _, _, dec, units = p.process_decide(
            part.ts_ns, part.values, part.sites, units=True, soc_record_s=SOC_S
        )
        for k, v in dec.items():
            decs.setdefault(k, []).append(v)
        for k in UNIT_RECORD_KEYS:
            v = units[k]
            recs[k].append(v + start if k.endswith("_event") else v)
    return (
        {k: np.concatenate(v) for k, v in decs.items()},
        {k: np.concatenate(v) for k, v in recs.items()},
    )


def _held(recs: dict, value: str, n_events: int, n_units: int, prefix: str) -> np.ndarray:
    """``(n_events, n_units)``: each unit's last record at or before each event."""
    out = np.full((n_events, n_units), np.nan)
    ev, unit, v = recs[f"{prefix}_event"], recs[f"{prefix}_unit"], recs[value]
    for u in range(n_units):
        mine = unit == u
        at = np.searchsorted(ev[mine], np.arange(n_events), side="right") - 1
        out[:, u] = np.where(at >= 0, v[mine][np.maximum(at, 0)], np.nan)
    return out


def test_records_sum_to_site_power_and_match_energy_bookkeeping(tel: Telemetry) -> None:
    p, setup = _pipeline(tel)
    dec, recs = _batches(p, tel, size=700)
    assert set(recs) == set(UNIT_RECORD_KEYS)
    assert (dec["reason"] != NO_DECISION).all()
    fleet = setup.fleet
    n, n_units = len(tel), len(fleet.units)
    site_of = np.array(fleet.unit_sites)
    sites = np.searchsorted(np.array(fleet.sites), tel.sites.astype(str))
    # A unit's records are at events of its own site.
    assert (site_of[recs["dispatch_unit"]] == sites[recs["dispatch_event"]]).all()
    assert (recs["dispatch_reason"] == dec["reason"][recs["dispatch_event"]]).all()
    # Thinned, yet at every event of a site its units' held records add up to its power.
    assert len(recs["dispatch_event"]) < n * 3
    power = _held(recs, "dispatch_power_mw", n, n_units, "dispatch")
    for s in range(len(fleet.sites)):
        at = sites == s
        total = power[at][:, site_of == s].sum(axis=1)
        np.testing.assert_allclose(total, dec["total_mw"][at], rtol=0, atol=1e-9)
        assert np.abs(dec["total_mw"][at]).max() > 0.1  # the fleet did respond

    # SoC: in bounds, every SOC_S of event time, and equal to the energy the
    # held powers moved (each event runs for the time since its site's previous one).
    soc, stored = recs["soc_frac"], recs["soc_stored_mwh"]
    unit = fleet.units[0]
    assert ((soc >= unit.soc_min - 1e-12) & (soc <= unit.soc_max + 1e-12)).all()
    np.testing.assert_allclose(stored, soc * unit.energy_mwh, rtol=1e-12)
    per_unit = np.bincount(recs["soc_unit"], minlength=n_units)
    assert (per_unit == 24 * 3600 / SOC_S).all()
    eta_c, eta_d = unit.charge_efficiency, unit.discharge_efficiency
    for u in range(n_units):
        events = np.flatnonzero(sites == site_of[u])
        ts = tel.ts_ns[events]
        dt_h = np.diff(ts, prepend=ts[0] - 60 * 10**9) / 3.6e12
        p_u = np.nan_to_num(power[events, u])
        moved = np.where(p_u > 0, -p_u / eta_d, -p_u * eta_c) * dt_h
        energy = unit.start_soc * unit.energy_mwh + np.cumsum(moved)
        mine = recs["soc_unit"] == u
        pos = np.searchsorted(events, recs["soc_event"][mine])
        np.testing.assert_allclose(stored[mine], energy[pos], rtol=0, atol=1e-9)
        assert np.ptp(stored[mine]) > 1e-3


def test_batch_equals_push_loop_and_agents_run(tel: Telemetry) -> None:
    part = tel.slice(0, 600)
    p, _ = _pipeline(tel)
    _, batch = _batches(p, part, size=600)
    q, setup = _pipeline(tel)
    loop: dict[str, list] = {k: [] for k in UNIT_RECORD_KEYS}
    for i in range(len(part)):
        *_, one = q.push_decide(
            int(part.ts_ns[i]), part.values[i], str(part.sites[i]), units=True, soc_record_s=SOC_S
        )
        for k in UNIT_RECORD_KEYS:
            loop[k].append(one[k] + i if k.endswith("_event") else one[k])
    for k in UNIT_RECORD_KEYS:
        np.testing.assert_array_equal(np.concatenate(loop[k]), batch[k], err_msg=k)
    idx = np.searchsorted(np.array(tel.site_ids()), part.sites.astype(str)).astype(np.int64)
    got = setup.agents.run(
        part.ts_ns,
        part.column("frequency_hz"),
        part.column("price_per_mwh"),
        sites=idx,
        units=True,
        soc_record_s=SOC_S,
    )["units"]
    for k in UNIT_RECORD_KEYS:
        np.testing.assert_array_equal(got[k], batch[k], err_msg=k)


def test_snapshot_restore_continues_with_identical_records(tel: Telemetry) -> None:
    site_idx = np.searchsorted(np.array(tel.site_ids()), tel.sites.astype(str)).astype(np.int64)
    f, price = tel.column("frequency_hz"), tel.column("price_per_mwh")

    def run(agents: AgentSet, lo: int, hi: int) -> dict:
        sl = slice(lo, hi)
        out = agents.run(tel.ts_ns[sl], f[sl], price[sl], sites=site_idx[sl], units=True)["units"]
        return {k: v + lo if k.endswith("_event") else v for k, v in out.items()}

    def fresh() -> AgentSet:
        return fleet_from_settings(BATTERY, AGENTS, tel.site_ids(), default_dt_s=60.0).agents

    whole = run(fresh(), 0, len(tel))
    half = fresh()
    head = run(half, 0, 1001)
    tail = run(AgentSet.restore(half.snapshot()), 1001, len(tel))
    for k in UNIT_RECORD_KEYS:
        np.testing.assert_array_equal(np.concatenate([head[k], tail[k]]), whole[k], err_msg=k)


def test_soc_cadence_zero_and_bad_values(tel: Telemetry) -> None:
    p, _ = _pipeline(tel)
    part = tel.slice(0, 50)
    *_, units = p.process_decide(part.ts_ns, part.values, part.sites, units=True, soc_record_s=0)
    assert len(units["soc_event"]) == 0 and len(units["dispatch_event"]) > 0
    with pytest.raises((ValueError, VppError), match="soc_record_s"):
        p.process_decide(part.ts_ns, part.values, part.sites, units=True, soc_record_s=-1.0)
    # Refused before any state changed; without units=True the call keeps its shape.
    nxt = tel.slice(50, 100)
    assert len(p.process_decide(nxt.ts_ns, nxt.values, nxt.sites)) == 3


def test_dispatch_tolerance_thins_records_within_the_tolerance(tel: Telemetry) -> None:
    part = tel.slice(0, 1200)
    n, tol = len(part), 0.1

    def records(**kw: float) -> dict:
        p, setup = _pipeline(tel)
        *_, units = p.process_decide(part.ts_ns, part.values, part.sites, units=True, **kw)
        return units, len(setup.fleet.units)

    (exact, n_units), (thin, _) = records(), records(dispatch_tolerance_mw=tol)
    assert 0 < len(thin["dispatch_event"]) < len(exact["dispatch_event"]) / 2
    truth = _held(exact, "dispatch_power_mw", n, n_units, "dispatch")
    held = _held(thin, "dispatch_power_mw", n, n_units, "dispatch")
    known = np.isfinite(truth)
    np.testing.assert_array_equal(np.isfinite(held), known)
    assert np.abs(held[known] - truth[known]).max() <= tol + 1e-12
    # Starting and stopping are exact: a unit at 0 MW is recorded at 0 MW.
    idle = known & (truth == 0.0)
    assert idle.any() and (held[idle] == 0.0).all()
    # SoC records do not depend on the dispatch tolerance.
    np.testing.assert_array_equal(thin["soc_stored_mwh"], exact["soc_stored_mwh"])


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_dispatch_tolerance_is_refused_by_name(tel: Telemetry, bad: float) -> None:
    p, _ = _pipeline(tel)
    part = tel.slice(0, 20)
    with pytest.raises((ValueError, VppError), match="dispatch_tolerance_mw"):
        p.process_decide(part.ts_ns, part.values, part.sites, units=True, dispatch_tolerance_mw=bad)
