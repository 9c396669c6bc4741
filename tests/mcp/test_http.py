"""`vpp mcp --transport http` as a subprocess: bearer tokens on every request."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.helpers import http_server, raw_post, server_args
from tests.mcp.test_stdio import EXPECTED_TOOLS


def test_tools_over_http_with_token(store: Path, fleet_file: Path, tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    audit = tmp_path / "audit.jsonl"
    with http_server(store, audit, token, "--fleet-config", str(fleet_file)) as srv:

        async def go() -> dict[str, Any]:
            async with srv.client() as c:
                tools = {t.name for t in await c.list_tools()}
                state = (await c.call_tool("get_grid_state", {})).data
                fleet = (await c.call_tool("get_fleet_status", {})).data
                p = {"site": "grid", "power_mw": -1.0, "duration_min": 10.0}
                plan = (await c.call_tool("plan_dispatch", p)).data
                done = (
                    await c.call_tool(
                        "dispatch_battery", {**p, "confirm_token": plan["confirm_token"]}
                    )
                ).data
                sites = json.loads((await c.read_resource("grid://sites"))[0].text)
                return {
                    "tools": tools,
                    "state": state,
                    "fleet": fleet,
                    "done": done,
                    "sites": sites,
                }

        out = asyncio.run(go())
        log = (store.parent / f"mcp-http-{srv.url.split(':')[2].split('/')[0]}.log").read_text()
    assert out["tools"] == EXPECTED_TOOLS
    assert out["state"]["status"] == "ok" and out["state"]["sites"][0]["site"] == "grid"
    assert out["fleet"]["fleet"]["units"] == 4
    assert out["done"]["status"] == "executed"
    assert out["sites"]["sites"][0]["site"] == "grid"
    (entry,) = [json.loads(x) for x in audit.read_text().splitlines()]
    assert entry["who"] == "http-client"  # the client id bound to the env token
    assert token not in log  # the token is never printed


def test_requests_without_or_with_wrong_token_are_rejected(store: Path, tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    with http_server(store, tmp_path / "audit.jsonl", token) as srv:
        assert raw_post(srv.url, None) == 401
        assert raw_post(srv.url, "not-the-token-" + "x" * 20) == 401
        assert raw_post(srv.url, token[:-1]) == 401  # a prefix is not the token
        assert raw_post(srv.url, token) == 200

        async def wrong_client() -> None:
            async with srv.client(token="wrong-" + secrets.token_urlsafe(16)) as c:
                await c.list_tools()

        # The real client cannot even initialise a session with a wrong token.
        with pytest.raises(Exception, match=r"401|nauthori|error response"):
            asyncio.run(wrong_client())


def test_token_file_names_the_client_in_the_audit_log(
    store: Path, fleet_file: Path, tmp_path: Path
) -> None:
    alice, bob = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"# operators\nalice:{alice}\nbob:{bob}\n")
    audit = tmp_path / "audit.jsonl"
    with http_server(store, audit, "", "--fleet-config", str(fleet_file), token_file=tokens) as srv:

        async def dispatch_as(token: str) -> None:
            async with srv.client(token=token) as c:
                p = {"site": "grid", "power_mw": -0.5, "duration_min": 5.0}
                plan = (await c.call_tool("plan_dispatch", p)).data
                await c.call_tool("dispatch_battery", {**p, "confirm_token": plan["confirm_token"]})

        asyncio.run(dispatch_as(alice))
        asyncio.run(dispatch_as(bob))
    who = [json.loads(x)["who"] for x in audit.read_text().splitlines()]
    assert who == ["alice", "bob"]


def test_http_refuses_to_start_without_a_token(store: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VPP_MCP_TOKEN"}
    proc = subprocess.run(
        [sys.executable, *server_args(store), "--transport", "http", "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "VPP_MCP_TOKEN" in proc.stderr and "--token-file" in proc.stderr
    env["VPP_MCP_TOKEN"] = "short"
    proc = subprocess.run(
        [sys.executable, *server_args(store), "--transport", "http", "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "shorter than 16" in proc.stderr
