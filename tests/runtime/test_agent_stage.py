"""The agent stage of the batch processor: decisions in the same native call as
features and forecasts, records in the store, checkpoints, and the path
without a compiled forecaster."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vpp import twin
from vpp.agents import AgentSet, fleet_from_settings
from vpp.cli.main import main
from vpp.config import AgentSettings, BatterySettings
from vpp.io import Telemetry, open_store
from vpp.pipeline import NO_DECISION
from vpp.runtime.agent_stage import AgentStage
from vpp.runtime.processor import BatchProcessor

BATTERY = BatterySettings(units_per_site=2, power_mw=5.0, energy_mwh=10.0)
AGENTS = AgentSettings(contracted_mw=4.0)


@pytest.fixture(scope="module")
def tel() -> Telemetry:
    """Two sites, 2 days at 1 min (the default model's resolution)."""
    return Telemetry.from_frame(twin.generate(days=2, resolution="1min", sites=2, seed=5))


def _processor(tel: Telemetry, model: str | None = "default", sites=None) -> BatchProcessor:
    stage = AgentStage(BATTERY, AGENTS, sites=sites or tel.site_ids(), default_dt_s=60.0)
    return BatchProcessor.for_signals(tel.signals, model=model, agents=stage)


def _run(proc: BatchProcessor, tel: Telemetry, size: int = 1000) -> tuple[pd.DataFrame, ...]:
    dispatch, soc = [], []
    for batch in tel.batches(size):
        out = proc.process(batch)
        dispatch.append(out.dispatch)
        soc.append(out.soc)
    return pd.concat(dispatch, ignore_index=True), pd.concat(soc, ignore_index=True)


def _energy_change_mwh(power_mw: np.ndarray, dt_s: np.ndarray, eta_c: float, eta_d: float):
    """Stored-energy change of running at ``power_mw`` (discharge > 0) for ``dt_s``."""
    store_side = np.where(power_mw > 0, power_mw / eta_d, power_mw * eta_c)
    return -np.cumsum(store_side * dt_s / 3600.0)


def test_vpp_run_writes_dispatch_and_soc_with_consistent_energy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VPP_MODEL", raising=False)
    store_path = tmp_path / "store.sqlite"
    argv = ["run", "--store", str(store_path), "--days", "1", "--sites", "2", "-q"]
    argv += ["--batch-events", "500", "--battery-units", "2", "--fr-mw", "1.5"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    agents = summary["agents"]
    assert agents["path"] == "pipeline" and agents["units"] == 4
    assert agents["decided_events"] == summary["events"] == 2880
    assert agents["frequency_response"]["contracted_mw"] == 1.5
    assert 0.99 <= agents["frequency_response"]["compliance"] <= 1.0
    assert agents["throughput_mwh"] > 0 and "notes" not in agents
    assert summary["records"]["dispatch"] == agents["dispatch_records"] > 0
    assert summary["records"]["soc"] > 4  # every batch writes each unit's SoC

    with open_store(str(store_path)) as store:  # type: ignore[attr-defined]
        meta = store.get_meta("fleet_config")
        tel = store.telemetry_range()
        dispatch = store.dispatch_range()
        soc = store.soc_range()
    # The MCP server's parser reads the same fleet.
    from vpp.mcp.fleet import load_fleet_config, unit_id

    fleet, fr = load_fleet_config(meta)
    assert fleet.sites == ("site_00", "site_01") and fr.contracted_mw == 1.5
    assert len(fleet.units) == 4 and fleet.unit_sites == (0, 0, 1, 1)
    assert set(soc["unit"]) == {unit_id(i) for i in range(4)}
    unit = fleet.units[0]
    assert (
        (soc["soc_frac"] >= unit.soc_min - 1e-12) & (soc["soc_frac"] <= unit.soc_max + 1e-12)
    ).all()
    np.testing.assert_allclose(soc["energy_mwh"], soc["soc_frac"] * unit.energy_mwh, rtol=1e-12)
    assert set(dispatch["unit"]) == {unit_id(i) for i in range(4)}
    assert set(dispatch["reason"]) >= {"frequency_response"}
    assert (soc.groupby("unit").size() >= 24 * 4).all()  # every 15 min of event time

    # Energy bookkeeping per unit: hold each dispatch record until the unit's
    # next one, run every event of its site for the time since the site's
    # previous event (default_dt_s for the first), compare with its SoC records.
    for i, u in enumerate(fleet.units):
        site = fleet.sites[fleet.unit_sites[i]]
        ts = tel.loc[tel["site"] == site, "ts_ns"].to_numpy()
        d = dispatch[dispatch["unit"] == unit_id(i)].sort_values("ts_ns")
        at = np.searchsorted(d["ts_ns"].to_numpy(), ts, side="right") - 1
        power = np.where(at >= 0, d["power_mw"].to_numpy()[np.maximum(at, 0)], 0.0)
        dt_s = np.diff(ts, prepend=ts[0] - int(fleet.default_dt_s * 1e9)) / 1e9
        change = _energy_change_mwh(power, dt_s, u.charge_efficiency, u.discharge_efficiency)
        mine = soc[soc["unit"] == unit_id(i)]
        assert (mine["site"] == site).all() and mine["ts_ns"].is_unique
        expected = u.start_soc * u.energy_mwh + change[np.searchsorted(ts, mine["ts_ns"])]
        np.testing.assert_allclose(mine["energy_mwh"], expected, rtol=0, atol=1e-9)
        # Something happened, within the power rating.
        assert np.abs(power).max() <= u.max_discharge_mw + 1e-9
        assert np.ptp(mine["energy_mwh"].to_numpy()) > 1e-4


def test_both_paths_and_agents_alone_decide_alike(tel: Telemetry) -> None:
    piped = _processor(tel)
    assert piped.forecaster is not None and piped.forecaster.compiled
    alone = _processor(tel, model=None)
    d1, s1 = _run(piped, tel)
    d2, s2 = _run(alone, tel)
    assert piped.agents.attached and not alone.agents.attached
    pd.testing.assert_frame_equal(d1, d2)
    pd.testing.assert_frame_equal(s1, s2, check_exact=False, rtol=1e-12)
    # ... and AgentSet.run over the same events, every event.
    setup = fleet_from_settings(BATTERY, AGENTS, tel.site_ids(), default_dt_s=60.0)
    f, price = tel.column("frequency_hz"), tel.column("price_per_mwh")
    idx = np.searchsorted(np.array(tel.site_ids()), tel.sites.astype(str))
    want = setup.agents.run(tel.ts_ns, f, price, sites=idx.astype(np.int64))
    p = _processor(tel).forecaster  # agents attached on construction: sites and step known
    _, _, got = p.process_decide(tel.ts_ns, tel.values, tel.sites)
    for key, arr in want.items():
        if key in got:
            np.testing.assert_array_equal(got[key], arr, err_msg=key)
    described = piped.describe()["agents"]
    assert described == {**alone.describe()["agents"], "path": "pipeline"}


@pytest.mark.parametrize("model", ["default", None])
def test_snapshot_restore_mid_stream_gives_identical_records(
    tel: Telemetry, model: str | None
) -> None:
    whole = _run(_processor(tel, model), tel)
    # At a batch boundary: SoC records are also written at the end of each batch.
    first, rest = tel.slice(0, 3000), tel.slice(3000, len(tel))
    proc = _processor(tel, model)
    head = _run(proc, first)
    blob = proc.snapshot()
    resumed = _processor(tel, model)
    resumed.restore(blob)
    tail = _run(resumed, rest)
    for k in range(2):
        pd.testing.assert_frame_equal(
            pd.concat([head[k], tail[k]], ignore_index=True), whole[k], check_exact=k == 0
        )
    assert resumed.describe()["agents"]["decided_events"] == len(tel)


@pytest.mark.parametrize("model", ["default", None])
def test_unknown_site_gets_no_decision_and_does_not_fail(tel: Telemetry, model) -> None:
    proc = _processor(tel, model, sites=["site_00"])
    dispatch, soc = _run(proc, tel, size=700)
    assert set(dispatch["site"]) == {"site_00"} and set(soc["site"]) == {"site_00"}
    agents = proc.describe()["agents"]
    n_other = int((tel.sites == "site_01").sum())
    assert agents["undecided_events"] == n_other
    assert agents["decided_events"] == len(tel) - n_other
    assert proc.describe()["counters"]["events"] == len(tel)  # features for every event


def test_process_decide_marks_unknown_sites_and_skipped_events(tel: Telemetry) -> None:
    p = _processor(tel, sites=["site_00"]).forecaster
    p.attach_agents(AgentSet(fleet_from_settings(BATTERY, AGENTS, ["site_00"]).fleet), ["site_00"])
    part = tel.slice(0, 200)
    ts = part.ts_ns.copy()
    ts[10] = ts[8]  # site_00 again at an earlier time: skipped as out of order
    _, _, dec = p.process_decide(ts, part.values, part.sites, on_out_of_order="skip")
    undecided = dec["reason"] == NO_DECISION
    assert undecided[10] and np.isnan(dec["total_mw"][10])
    np.testing.assert_array_equal(undecided[part.sites == "site_01"], True)
    assert not undecided[(part.sites == "site_00") & (np.arange(200) != 10)].any()


def test_without_frequency_and_price_the_agents_hold_and_say_so() -> None:
    frame = twin.generate(days=1, resolution="15min", sites=1, seed=2)
    tel = Telemetry.from_frame(frame[["timestamp", "site", "load_mw"]])
    proc = BatchProcessor.for_signals(
        tel.signals, agents=AgentStage(BATTERY, AgentSettings(), default_dt_s=900.0)
    )
    dispatch, soc = _run(proc, tel, size=40)
    agents = proc.describe()["agents"]
    assert agents["path"] == "agents alone"  # the default model reads other signals
    assert len(agents["notes"]) == 2 and agents["non_finite_price"] == len(tel)
    # One record per unit: holding.
    assert (dispatch["power_mw"] == 0).all() and list(dispatch["unit"]) == ["u0", "u1"]
    assert (soc["soc_frac"] == BATTERY.start_soc).all()


def test_vpp_consume_runs_agents_only_for_configured_sites() -> None:
    from vpp.cli.consume_cmd import _agent_processor
    from vpp.config import load_config
    from vpp.stream.consumer import ConsumerConfig

    config = ConsumerConfig(brokers="127.0.0.1:1", group="g")
    assert _agent_processor(load_config(env={}), config) is None
    cfg = load_config(env={"VPP_SITES_IDS": "north,south", "VPP_AGENTS_CONTRACTED_MW": "1"})
    factory = _agent_processor(cfg, config)
    assert factory is not None
    proc = factory()
    assert proc.agents is not None and proc.agents.sites == ["north", "south"]
    assert proc.agents.meta()["frequency_response"]["contracted_mw"] == 1.0


def test_checkpoint_from_before_the_agents_starts_them_afresh(tel: Telemetry) -> None:
    plain = BatchProcessor.for_signals(tel.signals)
    plain.process(tel.slice(0, 1000))
    proc = _processor(tel)
    proc.restore(plain.snapshot())
    assert proc.agents is not None and proc.agents.attached
    assert proc.agents.sites == tel.site_ids()
    out = proc.process(tel.slice(1000, 2000))
    assert len(out.dispatch) and set(out.soc["site"]) == set(tel.site_ids())
    assert proc.describe()["agents"]["decided_events"] == 1000


def test_vpp_run_dispatch_tolerance_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VPP_MODEL", raising=False)
    counts = {}
    for tol in ("0", "0.2"):
        monkeypatch.setenv("VPP_AGENTS_DISPATCH_TOLERANCE_MW", tol)
        store_path = tmp_path / f"store-{tol}.sqlite"
        argv = ["run", "--store", str(store_path), "--days", "0.5", "--sites", "1", "-q"]
        argv += ["--battery-units", "3", "--fr-mw", "3"]
        assert main(argv) == 0
        summary = json.loads(capsys.readouterr().out)
        with open_store(str(store_path)) as store:  # type: ignore[attr-defined]
            dispatch = store.dispatch_range()
        assert len(dispatch) == summary["records"]["dispatch"] > 0
        counts[tol] = (len(dispatch), summary["agents"]["throughput_mwh"])
    # Fewer records for the same decisions (the tolerance thins records only).
    assert counts["0.2"][0] < counts["0"][0] / 2
    assert counts["0.2"][1] == pytest.approx(counts["0"][1], rel=1e-12)
