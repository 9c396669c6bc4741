"""Which fleet the server acts on, through a real MCP client over stdio.

The store is filled by ``vpp run`` running the tests' fleet (4 × 2 MW / 4 MWh
at "grid"); that is the fleet of record.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.mcp.helpers import server_args, stdio_client, write_fleet
from vpp.agents import fleet_meta
from vpp.io import Telemetry, open_store
from vpp.mcp import verify_audit_log
from vpp.mcp.fleet import load_fleet_config
from vpp.mcp.fleet_identity import fleet_fingerprint

#: Another fleet: 2 units of 1 MW / 2 MWh at "grid".
OTHER = {
    "uniform": {
        "n_units": 2,
        "battery": {"energy_mwh": 2.0, "max_charge_mw": 1.0, "max_discharge_mw": 1.0},
        "sites": ["grid"],
    }
}
CHARGE = {"site": "grid", "power_mw": -1.0, "duration_min": 10.0}


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def _counts(store: Path) -> dict[str, int]:
    conn = sqlite3.connect(store)
    try:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("soc", "dispatch")
        }
    finally:
        conn.close()


def _record(store: Path) -> Any:
    with open_store(store) as s:
        return s.get_meta("fleet_config")


def test_same_fleet_in_another_shape_uses_the_store_soc_and_dispatches(
    store: Path, tmp_path: Path
) -> None:
    # The store's own fleet written out as explicit units, with another start_soc
    # (an initial state, not part of the identity).
    meta = _record(store)
    units = [{**u, "start_soc": 0.3} for u in meta["units"]]
    same = write_fleet(tmp_path / "same.json", {**meta, "units": units})
    with open_store(store) as s:
        latest = s.soc_latest("grid")
    pipeline_soc = dict(zip(latest["unit"], latest["soc_frac"], strict=True))

    async def go() -> tuple[Any, Any, Any]:
        async with stdio_client(store, tmp_path / "a.jsonl", "--fleet-config", str(same)) as c:
            status = (await c.call_tool("get_fleet_status", {})).data
            plan = (await c.call_tool("plan_dispatch", CHARGE)).data
            confirm = {**CHARGE, "confirm_token": plan["confirm_token"]}
            done = (await c.call_tool("dispatch_battery", confirm)).data
            return status, plan, done

    status, plan, done = asyncio.run(go())
    ident = status["fleet_identity"]
    assert ident["matches_record"] is True and ident["dispatch_allowed"] is True
    assert ident["server_fleet"]["fingerprint"] == ident["fleet_of_record"]["fingerprint"]
    assert ident["refusal"] is None and ident["unit_id_prefix"] == ""
    for u in status["units"]:
        assert u["soc_source"] == "store"
        assert abs(u["soc_frac"] - pipeline_soc[u["unit"]]) < 1e-6
    assert done["status"] == "executed"
    with open_store(store) as s:
        soc = s.soc_latest("grid")
    after = dict(zip(soc["unit"], soc["soc_frac"], strict=True))
    assert set(after) == {"u0", "u1", "u2", "u3"}  # the pipeline's units, no new ids
    for u in plan["units"]:
        assert abs(after[u["unit"]] - u["soc_after"]) < 1e-6


def test_other_fleet_refuses_dispatch_and_writes_nothing(store: Path, tmp_path: Path) -> None:
    other = write_fleet(tmp_path / "other.json", OTHER)
    audit = tmp_path / "audit.jsonl"

    async def go() -> tuple[Any, Any, Any]:
        async with stdio_client(store, audit, "--fleet-config", str(other)) as c:
            status = (await c.call_tool("get_fleet_status", {})).data
            plan = await c.call_tool("plan_dispatch", CHARGE, raise_on_error=False)
            done = await c.call_tool(
                "dispatch_battery", {**CHARGE, "confirm_token": "x" * 32}, raise_on_error=False
            )
            return status, plan, done

    before = _counts(store)
    status, plan, done = asyncio.run(go())
    assert _counts(store) == before  # no SoC and no dispatch records

    ident = status["fleet_identity"]
    server, record = ident["server_fleet"], ident["fleet_of_record"]
    assert (server["units"], record["units"]) == (2, 4)
    assert server["fingerprint"] == fleet_fingerprint(load_fleet_config(OTHER)[0])
    assert record["fingerprint"] == fleet_fingerprint(load_fleet_config(_record(store))[0])
    assert ident["matches_record"] is False and ident["dispatch_allowed"] is False
    # The other fleet does not adopt the pipeline's u0/u1 SoC: it starts at its own.
    assert {u["soc_source"] for u in status["units"]} == {"config start_soc"}
    assert {u["soc_frac"] for u in status["units"]} == {0.5}
    assert "not this fleet's" in ident["soc_source"]
    for r in (plan, done):
        msg = _text(r)
        assert r.is_error, msg
        assert "the fleet in --fleet-config (2 unit(s)" in msg
        assert "differs from the fleet the pipeline runs in the store (4 unit(s)" in msg
        assert server["fingerprint"][:12] in msg and record["fingerprint"][:12] in msg
        assert "dispatch refused" in msg
    # The refused dispatch is audited (the fleet is checked before the token).
    entries = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [e["result"]["status"] for e in entries] == ["refused"]
    assert "differs" in entries[0]["result"]["reason"]
    assert verify_audit_log(audit).ok


def test_fleet_change_in_the_store_stops_a_running_server(
    store: Path, fleet_file: Path, tmp_path: Path
) -> None:
    """A pipeline that writes another fleet while the server runs: the plan's token
    is refused, unused; once the fleets agree again, it runs."""
    record = _record(store)
    other_fleet, other_fr = load_fleet_config(OTHER)
    other_record = fleet_meta(other_fleet, other_fr)  # what `vpp run` writes

    def set_record(value: Any) -> None:
        with open_store(store) as s:
            s.set_meta("fleet_config", value)

    audit = tmp_path / "a.jsonl"

    async def go() -> tuple[Any, dict[str, int], dict[str, int], Any]:
        async with stdio_client(store, audit, "--fleet-config", str(fleet_file)) as c:
            plan = (await c.call_tool("plan_dispatch", CHARGE)).data
            confirm = {**CHARGE, "confirm_token": plan["confirm_token"]}
            before = _counts(store)
            set_record(other_record)
            refused = await c.call_tool("dispatch_battery", confirm, raise_on_error=False)
            counts = _counts(store)
            set_record(record)
            done = await c.call_tool("dispatch_battery", confirm)
            return refused, before, counts, done

    refused, before, counts, done = asyncio.run(go())
    assert counts == before  # the refused dispatch wrote no SoC or dispatch records
    assert refused.is_error
    assert "differs from the fleet the pipeline runs in the store (2 unit(s)" in _text(refused)
    assert done.data["status"] == "executed"
    assert _counts(store)["dispatch"] > counts["dispatch"]


def _telemetry_only_store(src: Path, dst: Path) -> Path:
    """A store with the pipeline's telemetry and no fleet (nothing has run a fleet on it)."""
    with open_store(src) as s:
        frame = s.telemetry_range()
    with open_store(dst) as d:
        d.write_telemetry(Telemetry.from_frame(frame))
    return dst


def test_without_a_fleet_of_record_the_servers_fleet_is_recorded(
    store: Path, fleet_file: Path, tmp_path: Path
) -> None:
    bare = _telemetry_only_store(store, tmp_path / "bare.sqlite")
    assert _record(bare) is None
    other = write_fleet(tmp_path / "other.json", OTHER)

    async def status_with(path: Path) -> Any:
        async with stdio_client(bare, tmp_path / "a.jsonl", "--fleet-config", str(path)) as c:
            status = (await c.call_tool("get_fleet_status", {})).data
            plan = await c.call_tool("plan_dispatch", CHARGE, raise_on_error=False)
            return status, plan

    status, plan = asyncio.run(status_with(fleet_file))
    recorded = _record(bare)
    assert recorded is not None
    fp = fleet_fingerprint(load_fleet_config(recorded)[0])
    assert fp == status["fleet_identity"]["server_fleet"]["fingerprint"]
    assert not plan.is_error and plan.data["feasible"]
    # A later session with another fleet is caught by the recorded one.
    status2, plan2 = asyncio.run(status_with(other))
    assert status2["fleet_identity"]["fleet_of_record"]["fingerprint"] == fp
    assert plan2.is_error and "differs from the fleet the pipeline runs" in _text(plan2)
    assert _record(bare) == recorded  # not overwritten


def test_default_fleet_is_recorded_only_when_it_dispatches(
    store: Path, fleet_file: Path, tmp_path: Path
) -> None:
    bare = _telemetry_only_store(store, tmp_path / "bare.sqlite")

    async def go() -> tuple[Any, Any]:
        async with stdio_client(bare, tmp_path / "a.jsonl") as c:
            status = (await c.call_tool("get_fleet_status", {})).data
            recorded_after_status = _record(bare)
            plan = (await c.call_tool("plan_dispatch", CHARGE)).data
            confirm = {**CHARGE, "confirm_token": plan["confirm_token"]}
            await c.call_tool("dispatch_battery", confirm)
            return status, recorded_after_status

    status, recorded_after_status = asyncio.run(go())
    assert status["fleet_identity"]["server_fleet"]["source"].startswith("default")
    assert recorded_after_status is None  # a guessed fleet is not recorded by reading
    recorded = _record(bare)
    assert recorded is not None and len(recorded["units"]) == 1
    # Its SoC rows now belong to the recorded default fleet: the tests' fleet is refused.

    async def with_fleet_file() -> Any:
        async with stdio_client(bare, None, "--fleet-config", str(fleet_file)) as c:
            return await c.call_tool("plan_dispatch", CHARGE, raise_on_error=False)

    r = asyncio.run(with_fleet_file())
    assert r.is_error and "(1 unit(s)" in _text(r)


def test_own_fleet_needs_a_fleet_config(store: Path) -> None:
    proc = subprocess.run(
        [sys.executable, *server_args(store), "--own-fleet"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "--own-fleet needs --fleet-config" in proc.stderr


def test_soc_records_without_a_fleet_of_record_are_not_trusted(
    store: Path, fleet_file: Path, tmp_path: Path
) -> None:
    """A writer that did not record its fleet left u<i> SoC records: the server
    refuses to dispatch on them and records nothing."""
    conn = sqlite3.connect(store)
    try:
        with conn:
            conn.execute("DELETE FROM meta WHERE key = 'fleet_config'")
    finally:
        conn.close()
    before = _counts(store)

    async def go() -> tuple[Any, Any]:
        async with stdio_client(store, None, "--fleet-config", str(fleet_file)) as c:
            status = (await c.call_tool("get_fleet_status", {})).data
            return status, await c.call_tool("plan_dispatch", CHARGE, raise_on_error=False)

    status, plan = asyncio.run(go())
    assert plan.is_error
    assert "SoC records of units u0, u1, u2, u3 but no fleet_config" in _text(plan)
    assert status["fleet_identity"]["dispatch_allowed"] is False
    assert {u["soc_source"] for u in status["units"]} == {"config start_soc"}
    assert _record(store) is None and _counts(store) == before
