"""Guarded dispatch through a real MCP client: limits, tokens, idempotency, audit.

The server runs its own fleet (``--own-fleet``) beside the pipeline's in the
store ``vpp run`` filled: its units have their own ids and start from the
configured SoC (0.5), so the limits below are exact, and the pipeline's
records stay untouched.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.mcp.helpers import stdio_client
from vpp.io import open_store
from vpp.mcp import verify_audit_log


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def _mcp_dispatch_rows(store: Path) -> int:
    with open_store(store) as s:
        return len(s.dispatch_range(agent="mcp"))


def _args(fleet_file: Path, *extra: str) -> tuple[str, ...]:
    return ("--fleet-config", str(fleet_file), "--own-fleet", *extra)


def _pipeline_rows(store: Path) -> tuple[int, int]:
    """Dispatch and SoC records of the pipeline's units ``u<i>``."""
    with open_store(store) as s:
        d, soc = s.dispatch_range(), s.soc_range()
    return int(d["unit"].str.match(r"^u\d+$").sum()), int(soc["unit"].str.match(r"^u\d+$").sum())


def test_over_limit_plans_get_no_token_and_cannot_dispatch(
    store: Path, fleet_file: Path, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with stdio_client(store, audit, *_args(fleet_file, "--max-dispatch-mw", "5")) as c:
            call = c.call_tool
            # 6 MW free (8 MW rating − 2 MW reserve) but the server max is 5 MW.
            out["max"] = (
                await call("plan_dispatch", {"site": "grid", "power_mw": 5.5, "duration_min": 10})
            ).data
            out["power"] = (
                await call("plan_dispatch", {"site": "grid", "power_mw": -50, "duration_min": 10})
            ).data
            # 4 MW for 2 h = 8 MWh > 5.58 MWh free above the minimum SoC and the reserve.
            out["energy"] = (
                await call("plan_dispatch", {"site": "grid", "power_mw": 4, "duration_min": 120})
            ).data
            ok = (
                await call("plan_dispatch", {"site": "grid", "power_mw": 4, "duration_min": 30})
            ).data
            # A real token with other parameters is refused, as is a made-up token.
            out["other_params"] = await call(
                "dispatch_battery",
                {
                    "site": "grid",
                    "power_mw": 40,
                    "duration_min": 30,
                    "confirm_token": ok["confirm_token"],
                },
                raise_on_error=False,
            )
            out["made_up"] = await call(
                "dispatch_battery",
                {"site": "grid", "power_mw": 4, "duration_min": 30, "confirm_token": "x" * 32},
                raise_on_error=False,
            )
        return out

    out = asyncio.run(go())
    limits = {k: {b["limit"] for b in out[k]["binding_limits"]} for k in ("max", "power", "energy")}
    assert limits == {
        "max": {"max_dispatch_mw"},
        "power": {"max_dispatch_mw", "power", "energy"},
        "energy": {"energy"},
    }
    for k in ("max", "power", "energy"):
        assert out[k]["feasible"] is False and out[k]["confirm_token"] is None
    assert out["power"]["direction"] == "charge"
    assert out["power"]["available_power_mw"] == 6.0  # 8 MW less 2 MW reserved
    assert out["other_params"].is_error and "parameters differ" in _text(out["other_params"])
    assert out["made_up"].is_error and "unknown" in _text(out["made_up"])
    assert _mcp_dispatch_rows(store) == 0
    # Both refusals are in the audit log, chained.
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [e["result"]["status"] for e in lines] == ["refused", "refused"]
    assert all(e["who"] == "stdio" for e in lines)
    assert verify_audit_log(audit).ok


def test_execute_once_replay_and_restart(store: Path, fleet_file: Path, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    params = {"site": "grid", "power_mw": 3.0, "duration_min": 30.0}

    async def first() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with stdio_client(store, audit, *_args(fleet_file)) as c:
            plan = (await c.call_tool("plan_dispatch", params)).data
            done = (
                await c.call_tool(
                    "dispatch_battery", {**params, "confirm_token": plan["confirm_token"]}
                )
            ).data
            again = (
                await c.call_tool(
                    "dispatch_battery", {**params, "confirm_token": plan["confirm_token"]}
                )
            ).data
            status = (await c.call_tool("get_fleet_status", {})).data
            return plan, done, again, status

    pipeline_before = _pipeline_rows(store)
    plan, done, again, status = asyncio.run(first())
    assert plan["feasible"] and done["status"] == "executed" and done["replayed"] is False
    assert again == {**done, "replayed": True}
    rows = _mcp_dispatch_rows(store)
    assert rows == 4 * 2  # one start and one end row per unit, once
    with open_store(store) as s:
        recs = s.dispatch_range(agent="mcp")
        soc = s.soc_latest("grid")
    assert abs(recs["power_mw"].clip(lower=0).sum() - 3.0) < 1e-9  # the start rows add to 3 MW
    # The own fleet's ids: a prefix with its fingerprint, never the pipeline's u<i>.
    prefix = status["fleet_identity"]["unit_id_prefix"]
    assert prefix == "mcp-" + status["fleet_identity"]["server_fleet"]["fingerprint"][:8] + "-"
    own = {f"{prefix}u{i}" for i in range(4)}
    assert set(recs["unit"]) == own and own <= set(soc["unit"])
    assert _pipeline_rows(store) == pipeline_before
    # The SoC after the dispatch persisted and is what the fleet reports now.
    for u in status["units"]:
        assert u["soc_source"] == "store"
        i = int(u["unit"].removeprefix(prefix + "u"))
        assert abs(u["soc_frac"] - plan["units"][i]["soc_after"]) < 1e-6
    # 1.5 MWh delivered over 4 units at 0.95 efficiency from 16 MWh at SoC 0.5.
    assert abs(status["fleet"]["stored_mwh"] - (8.0 - 1.5 / 0.95)) < 1e-6

    # A restarted server still knows the token: replay returns the first result.
    async def restarted() -> Any:
        async with stdio_client(store, audit, *_args(fleet_file)) as c:
            return await c.call_tool(
                "dispatch_battery", {**params, "confirm_token": plan["confirm_token"]}
            )

    r = asyncio.run(restarted())
    assert not r.is_error and r.data["replayed"] is True
    assert r.data["start_ts_ns"] == done["start_ts_ns"]
    assert _mcp_dispatch_rows(store) == rows
    entries = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [e["result"].get("status") for e in entries] == ["executed", "replayed", "replayed"]
    assert len({e["what"]["token_sha256"] for e in entries}) == 1
    assert plan["confirm_token"] not in audit.read_text()  # only its hash is logged
    with open_store(store) as s:
        head = s.get_meta("mcp.audit.head")
    report = verify_audit_log(audit, expected_head=head["hash"])
    assert report.ok and report.entries == 3


def test_limits_rechecked_at_execution(store: Path, fleet_file: Path, tmp_path: Path) -> None:
    """Two plans that each fit the fleet alone: the second is refused once the first ran."""
    audit = tmp_path / "audit.jsonl"
    params = {"site": "grid", "power_mw": 5.0, "duration_min": 50.0}  # 4.17 MWh of 5.58

    async def go() -> tuple[Any, Any, Any]:
        async with stdio_client(store, audit, *_args(fleet_file)) as c:
            a = (await c.call_tool("plan_dispatch", params)).data
            b = (await c.call_tool("plan_dispatch", params)).data
            ra = await c.call_tool(
                "dispatch_battery", {**params, "confirm_token": a["confirm_token"]}
            )
            rb = await c.call_tool(
                "dispatch_battery",
                {**params, "confirm_token": b["confirm_token"]},
                raise_on_error=False,
            )
            rb2 = await c.call_tool(
                "dispatch_battery",
                {**params, "confirm_token": b["confirm_token"]},
                raise_on_error=False,
            )
            return ra, rb, rb2

    ra, rb, rb2 = asyncio.run(go())
    assert ra.data["status"] == "executed"
    assert rb.is_error and "energy" in _text(rb) and "execution time" in _text(rb)
    assert rb2.data["status"] == "refused" and rb2.data["replayed"] is True  # the refusal is final
    assert _mcp_dispatch_rows(store) == 4 * 2
    assert verify_audit_log(audit).ok


def test_charge_dispatch_raises_soc(store: Path, fleet_file: Path, tmp_path: Path) -> None:
    params = {"site": "grid", "power_mw": -2.0, "duration_min": 60.0}

    async def go() -> dict[str, Any]:
        async with stdio_client(store, tmp_path / "a.jsonl", *_args(fleet_file)) as c:
            plan = (await c.call_tool("plan_dispatch", params)).data
            await c.call_tool(
                "dispatch_battery", {**params, "confirm_token": plan["confirm_token"]}
            )
            return (await c.call_tool("get_fleet_status", {})).data

    status = asyncio.run(go())
    assert abs(status["fleet"]["stored_mwh"] - (8.0 + 2.0 * 0.95)) < 1e-6
    with open_store(store) as s:
        recs = s.dispatch_range(agent="mcp")
    assert (recs["power_mw"] <= 0).all() and abs(recs["power_mw"].sum() + 2.0) < 1e-9


def test_expired_token_is_refused(store: Path, fleet_file: Path, tmp_path: Path) -> None:
    params = {"site": "grid", "power_mw": 1.0, "duration_min": 10.0}

    async def go() -> Any:
        async with stdio_client(
            store, tmp_path / "a.jsonl", *_args(fleet_file, "--token-ttl", "1")
        ) as c:
            plan = (await c.call_tool("plan_dispatch", params)).data
            await asyncio.sleep(1.5)
            return await c.call_tool(
                "dispatch_battery",
                {**params, "confirm_token": plan["confirm_token"]},
                raise_on_error=False,
            )

    r = asyncio.run(go())
    assert r.is_error and "expired" in _text(r)
    assert _mcp_dispatch_rows(store) == 0
