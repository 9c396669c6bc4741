"""stdout of `vpp mcp` over stdio carries only JSON-RPC messages, even while the
model library is compiled and tools fail."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.mcp.helpers import server_args


def _msg(i: int, method: str, params: dict) -> str:  # type: ignore[type-arg]
    return json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n"


def test_stdout_is_only_protocol(store: Path, tiny_model: Path, tmp_path: Path) -> None:
    lines = [
        _msg(
            1,
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        ),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n",
        _msg(2, "tools/call", {"name": "get_forecast", "arguments": {}}),
        _msg(3, "tools/call", {"name": "get_grid_state", "arguments": {"site": "nowhere"}}),
        _msg(
            4,
            "tools/call",
            {"name": "detect_anomalies", "arguments": {"since": "2025-01-02T12:00:00Z"}},
        ),
    ]
    args = [a for a in server_args(store, tmp_path / "audit.jsonl") if a != "--quiet"]
    err_path = tmp_path / "stderr.log"
    err_file = open(err_path, "w")  # a file, so a chatty stderr cannot block the server
    proc = subprocess.Popen(
        [sys.executable, *args, "--model", str(tiny_model)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=err_file,
        text=True,
        cwd=str(tmp_path),
        # An empty compile cache: the model library is built during the call,
        # and nothing the compiler toolchain prints may reach stdout.
        env={**os.environ, "VPP_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("".join(lines))
    proc.stdin.flush()
    # Requests run concurrently; keep stdin open until every answer is in.
    out: list[dict] = []  # type: ignore[type-arg]
    deadline = time.monotonic() + 240
    while {m.get("id") for m in out} < {1, 2, 3, 4} and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            out.append(json.loads(line))  # every stdout line is a JSON message
    try:
        rest = proc.communicate(timeout=30)[0]  # closes stdin: the server exits
    except subprocess.TimeoutExpired:
        proc.kill()
        rest = proc.communicate()[0]
    out += [json.loads(x) for x in rest.splitlines() if x.strip()]
    err_file.close()
    stderr = err_path.read_text()
    assert all(m.get("jsonrpc") == "2.0" for m in out)
    by_id = {m["id"]: m for m in out if "id" in m}
    assert set(by_id) == {1, 2, 3, 4}, stderr[-2000:]
    forecast = by_id[2]["result"]
    assert not forecast.get("isError") and forecast["structuredContent"]["source"] == "model"
    assert by_id[3]["result"]["isError"] is True
    anomalies = by_id[4]["result"]["structuredContent"]
    assert anomalies["from"] == "2025-01-02T12:00:00Z"
    assert "vpp mcp: store" in stderr  # logs went to stderr
