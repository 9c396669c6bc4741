"""`vpp mcp` over stdio, spawned as a subprocess, driven by FastMCP's real client."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.mcp.helpers import stdio_client
from vpp.io import open_store

EXPECTED_TOOLS = {
    "get_grid_state",
    "get_forecast",
    "explain_forecast",
    "detect_anomalies",
    "get_fleet_status",
    "plan_dispatch",
    "dispatch_battery",
    "run_backtest",
}


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def test_lists_tools_resources_and_prompt(store: Path) -> None:
    async def go() -> None:
        async with stdio_client(store) as c:
            tools = {t.name: t for t in await c.list_tools()}
            assert set(tools) == EXPECTED_TOOLS
            # Ranges are part of the advertised schema, so clients can validate too.
            props = tools["plan_dispatch"].input_schema["properties"]
            assert props["duration_min"]["exclusiveMinimum"] == 0
            assert props["duration_min"]["maximum"] == 1440
            assert tools["dispatch_battery"].annotations.destructive_hint is True
            assert tools["get_grid_state"].annotations.read_only_hint is True
            resources = {str(r.uri) for r in await c.list_resources()}
            assert "grid://sites" in resources
            templates = {t.uri_template for t in await c.list_resource_templates()}
            assert "grid://site/{id}/latest" in templates
            prompts = {p.name for p in await c.list_prompts()}
            assert prompts == {"resilience_review"}

    asyncio.run(go())


def test_grid_state_matches_the_store(store: Path) -> None:
    with open_store(store) as s:
        latest = s.latest_telemetry("grid")["grid"]

    async def go() -> dict[str, Any]:
        async with stdio_client(store) as c:
            r = await c.call_tool("get_grid_state", {})
            return r.structured_content

    out = asyncio.run(go())
    assert out["status"] == "ok"
    (site,) = out["sites"]
    assert site["site"] == "grid"
    assert site["ts_ns"] == latest["ts_ns"]
    net = latest["load_mw"] - latest["solar_mw"] - latest["wind_mw"]
    assert abs(site["net_load_mw"] - net) < 1e-2
    assert abs(site["frequency_deviation_hz"] - (latest["frequency_hz"] - 50.0)) < 1e-3
    assert site["data_age_s"] > 0
    assert "net_load_ramp_mw_per_h" in site


def test_empty_store_answers_no_data(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    open_store(empty).close()

    async def go() -> tuple[Any, Any]:
        async with stdio_client(empty) as c:
            state = await c.call_tool("get_grid_state", {})
            anomalies = await c.call_tool("detect_anomalies", {}, raise_on_error=False)
            return state, anomalies

    state, anomalies = asyncio.run(go())
    assert state.structured_content["status"] == "no data"
    assert "no telemetry" in state.structured_content["message"]
    assert anomalies.is_error and "no data" in _text(anomalies)


def test_every_tool_answers(store: Path, fleet_file: Path, tiny_model: Path) -> None:
    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with stdio_client(
            store, None, "--fleet-config", str(fleet_file), "--model", str(tiny_model)
        ) as c:
            calls = {
                "get_grid_state": {"site": "grid"},
                "get_forecast": {"site": "grid"},
                "explain_forecast": {"site": "grid", "top_k": 5},
                "detect_anomalies": {"site": "grid", "since": "12h"},
                "get_fleet_status": {},
                # Charge: the pipeline's arbitrage leaves the fleet near its minimum SoC.
                "plan_dispatch": {"site": "grid", "power_mw": -1.5, "duration_min": 15},
            }
            for name, args in calls.items():
                r = await c.call_tool(name, args, raise_on_error=False)
                assert not r.is_error, (name, _text(r))
                out[name] = r.structured_content
            plan = out["plan_dispatch"]
            r = await c.call_tool(
                "dispatch_battery",
                {
                    "site": "grid",
                    "power_mw": -1.5,
                    "duration_min": 15,
                    "confirm_token": plan["confirm_token"],
                },
            )
            out["dispatch_battery"] = r.structured_content
            r = await c.call_tool("run_backtest", {"days": 1.0}, raise_on_error=False)
            out["run_backtest"] = (r.is_error, _text(r), r.structured_content)
            r = await c.call_tool(
                "run_backtest",
                {"source": "store", "site": "grid", "days": 2.0},
                raise_on_error=False,
            )
            out["run_backtest_store"] = (r.is_error, _text(r), r.structured_content)
            out["sites"] = json.loads((await c.read_resource("grid://sites"))[0].text)
            out["latest"] = json.loads((await c.read_resource("grid://site/grid/latest"))[0].text)
            prompt = await c.get_prompt("resilience_review", {"site": "grid", "horizon_hours": "3"})
            out["prompt"] = prompt.messages[0].content.text
        return out

    out = asyncio.run(go())
    fc = out["get_forecast"]
    assert fc["source"] == "model" and fc["target"] == "net_load_mw" and fc["compiled"]
    assert fc["lower"] <= fc["point"] <= fc["upper"]
    # A 1-step net-load forecast of a 30 GW system lands near the current value.
    assert abs(fc["point"] - fc["current"]) < 0.2 * abs(fc["current"])
    ex = out["explain_forecast"]
    assert len(ex["drivers"]) == 5
    d0 = ex["drivers"][0]
    assert d0["text"].startswith(f"{d0['feature']} = ")
    assert ("pushes the forecast up by" in d0["text"]) == (d0["contribution"] >= 0)
    assert d0["text"].endswith(" MW")
    # |contributions| are listed largest first.
    mags = [abs(d["contribution"]) for d in ex["drivers"]]
    assert mags == sorted(mags, reverse=True)
    # Baseline plus all contributions add up to the forecast change, and the
    # level is the current value plus that change: the explained forecast is
    # the model's median (the compiled pipeline's point, up to float32 sums).
    total = ex["baseline_change"] + sum(d["contribution"] for d in ex["drivers"])
    total += ex["other_features_total"]
    assert abs(total - ex["forecast_change"]) < 1e-2
    assert abs(ex["current"] + ex["forecast_change"] - ex["forecast"]) < 1e-2
    assert abs(ex["forecast"] - fc["point"]) <= 1e-4 * abs(fc["point"]) + 1e-2
    an = out["detect_anomalies"]
    assert an["events_checked"] == 12 * 60 + 1  # 1-min twin data, both ends included
    assert set(an["summary"]) >= {"frequency_excursions", "unusual_ramps", "gaps", "stale"}
    assert an["staleness"]["stale"] is True  # twin data is from the past
    fleet = out["get_fleet_status"]["fleet"]
    assert fleet["units"] == 4 and fleet["reserved_mw"] == 2.0
    ident = out["get_fleet_status"]["fleet_identity"]
    assert ident["matches_record"] is True and ident["dispatch_allowed"] is True
    assert {u["soc_source"] for u in out["get_fleet_status"]["units"]} == {"store"}
    assert out["dispatch_battery"]["status"] == "executed"
    assert abs(out["dispatch_battery"]["delivered_mwh"] + 1.5 * 0.25) < 1e-9
    bt_error, bt_text, bt = out["run_backtest"]
    import vpp.cli.main as cli

    if "vpp.cli.backtest_cmd" in cli.COMMAND_MODULES:
        assert not bt_error, bt_text
        assert bt["events"] == 1440 and bt["forecast"]["target"] == "net_load_mw"
        st_error, st_text, st = out["run_backtest_store"]
        assert not st_error, st_text
        assert st["events"] == 2880 and st["backtest_source"] == "store"  # the whole stored range
    else:  # the forecasting package is not in this build: a clear error, not a crash
        assert bt_error and "not available" in bt_text
    assert out["sites"]["sites"][0]["site"] == "grid"
    assert out["latest"]["site"] == "grid" and "net_load_mw" in out["latest"]
    assert 'site "grid"' in out["prompt"] and "3 hour(s)" in out["prompt"]
    assert "Never call dispatch_battery on your own" in out["prompt"]


def test_bad_arguments_give_clear_tool_errors(store: Path) -> None:
    cases = [
        ("get_grid_state", {"site": "atlantis"}, "unknown site 'atlantis'"),
        ("get_grid_state", {"site": "bad site!"}, "site"),
        ("plan_dispatch", {"site": "grid", "power_mw": "lots", "duration_min": 10}, "power_mw"),
        ("plan_dispatch", {"site": "grid", "power_mw": 1.0, "duration_min": -5}, "duration_min"),
        ("plan_dispatch", {"site": "grid", "power_mw": 1.0, "duration_min": 5000}, "duration_min"),
        ("plan_dispatch", {"site": "grid", "power_mw": 0, "duration_min": 5}, "non-zero"),
        ("plan_dispatch", {"site": "grid", "duration_min": 5}, "power_mw"),
        ("detect_anomalies", {"since": "last tuesday"}, "since='last tuesday'"),
        ("explain_forecast", {"top_k": 0}, "top_k"),
        ("run_backtest", {"days": 365}, "days"),
        ("run_backtest", {"source": "kafka"}, "source"),
        (
            "dispatch_battery",
            {"site": "grid", "power_mw": 1.0, "duration_min": 5, "confirm_token": "short"},
            "confirm_token",
        ),
    ]

    async def go() -> list[tuple[str, Any]]:
        async with stdio_client(store) as c:
            return [(want, await c.call_tool(n, a, raise_on_error=False)) for n, a, want in cases]

    for want, r in asyncio.run(go()):
        text = _text(r)
        assert r.is_error, text
        assert want in text, text
        assert "Traceback" not in text and 'File "' not in text


def test_forecast_without_model_serves_stored_forecasts(store: Path, tmp_path: Path) -> None:
    with open_store(store) as s:
        ts = s.latest_telemetry("grid")["grid"]["ts_ns"]
        s.write_forecasts(
            {
                "ts_ns": [ts, ts],
                "site": ["grid", "grid"],
                "target": ["net_load_mw", "net_load_mw"],
                "horizon_steps": [1, 2],
                "target_ts_ns": [ts + 60 * 10**9, ts + 120 * 10**9],
                "point": [25_000.0, 25_100.0],
                "lower": [24_500.0, 24_400.0],
                "upper": [25_500.0, 25_800.0],
                "lower_q": [0.1, 0.1],
                "upper_q": [0.9, 0.9],
                "model": ["m1", "m1"],
            }
        )
    missing = tmp_path / "no-model"

    async def go() -> tuple[Any, Any, Any]:
        async with stdio_client(store, None, "--model", str(missing)) as c:
            one = await c.call_tool("get_forecast", {"horizon_steps": 2})
            both = await c.call_tool("get_forecast", {})
            ex = await c.call_tool("explain_forecast", {}, raise_on_error=False)
            return one, both, ex

    one, both, ex = asyncio.run(go())
    assert one.data["source"].startswith("store")
    assert (one.data["point"], one.data["lower"], one.data["upper"]) == (
        25_100.0,
        24_400.0,
        25_800.0,
    )
    assert [h["horizon_steps"] for h in both.data["all_horizons"]] == [1, 2]
    assert ex.is_error and "no model directory" in _text(ex)


def test_forecast_horizon_must_match_the_model(store: Path, tiny_model: Path) -> None:
    async def go() -> Any:
        async with stdio_client(store, None, "--model", str(tiny_model)) as c:
            return await c.call_tool("get_forecast", {"horizon_steps": 7}, raise_on_error=False)

    r = asyncio.run(go())
    assert r.is_error and "1 step(s) ahead" in _text(r) and "horizon_steps=7" in _text(r)
