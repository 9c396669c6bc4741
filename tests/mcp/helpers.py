"""Shared helpers of the MCP tests and benchmark: a filled store, a real
``vpp mcp`` subprocess over stdio or HTTP, and a tiny model in the layout
``vpp train`` writes."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

REPO = Path(__file__).resolve().parents[2]
VPP = [sys.executable, "-m", "vpp.cli.main"]

#: Fleet used by the tests: 4 units of 2 MW / 4 MWh at "grid", 2 MW contracted
#: for frequency response (so 6 MW and 8·0.4·0.95 − 0.5 = 5.58 MWh are free).
FLEET = {
    "uniform": {
        "n_units": 4,
        "battery": {"energy_mwh": 4.0, "max_charge_mw": 2.0, "max_discharge_mw": 2.0},
        "sites": ["grid"],
    },
    "frequency_response": {"contracted_mw": 2.0},
}


#: ``vpp run`` options that make the pipeline run :data:`FLEET` (0.95 = sqrt(0.9025)).
FLEET_RUN_ARGS = (
    "--battery-units",
    "4",
    "--battery-mw",
    "2",
    "--battery-mwh",
    "4",
    "--fr-mw",
    "2",
)


def fill_store(path: Path, days: float = 2.0, *run_args: str) -> Path:
    """Fill a store with ``vpp run --twin`` (the real pipeline); returns the path."""
    proc = subprocess.run(
        [*VPP, "run", "--twin", "--days", str(days), "--store", str(path), "--quiet", *run_args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return path


def copy_store(src: Path, dst_dir: Path) -> Path:
    """Copy a (closed) SQLite store with any WAL files into ``dst_dir``."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / src.name
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(src) + suffix)
        if p.exists():
            shutil.copy(p, Path(str(dst) + suffix))
    return dst


def write_fleet(path: Path, fleet: dict[str, Any] | None = None) -> Path:
    path.write_text(json.dumps(fleet or FLEET), encoding="utf-8")
    return path


def server_args(store: Path, audit: Path | None = None, *extra: str) -> list[str]:
    args = ["-m", "vpp.cli.main", "mcp", "--store", str(store), "--quiet"]
    if audit is not None:
        args += ["--audit-log", str(audit)]
    return [*args, *extra]


def stdio_client(store: Path, audit: Path | None = None, *extra: str) -> Client:
    """A FastMCP client that spawns ``vpp mcp`` over stdio."""
    transport = StdioTransport(
        command=sys.executable,
        args=server_args(store, audit, *extra),
        env=dict(os.environ),
        cwd=str(store.parent),
        keep_alive=False,
    )
    return Client(transport, timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raw_post(url: str, token: str | None) -> int:
    """POST an MCP initialize request with (or without) a bearer token; returns the status."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        }
    ).encode()
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json, text/event-stream")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@dataclasses.dataclass
class HttpServer:
    url: str
    token: str
    proc: subprocess.Popen[bytes]

    def client(self, token: str | None = None) -> Client:
        return Client(StreamableHttpTransport(self.url, auth=token or self.token), timeout=60)


@contextlib.contextmanager
def http_server(
    store: Path, audit: Path | None, token: str, *extra: str, token_file: Path | None = None
) -> Iterator[HttpServer]:
    """Run ``vpp mcp --transport http`` on a free loopback port until the block ends."""
    port = free_port()
    env = dict(os.environ)
    env.pop("VPP_MCP_TOKEN", None)
    args = [*server_args(store, audit, *extra), "--transport", "http", "--port", str(port)]
    if token_file is not None:
        args += ["--token-file", str(token_file)]
    else:
        env["VPP_MCP_TOKEN"] = token
    log = open(store.parent / f"mcp-http-{port}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=str(store.parent),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"vpp mcp exited with {proc.returncode}: "
                    + (store.parent / f"mcp-http-{port}.log").read_text()
                )
            try:
                if raw_post(url, None) == 401:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("vpp mcp did not become ready in 60 s")
            time.sleep(0.2)
        yield HttpServer(url=url, token=token, proc=proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def train_tiny_model(out: Path, horizon: int = 1) -> Path:
    """Train a small model with the real ``vpp train`` (twin data, 30 rounds)."""
    args = ["--twin", "--days", "2", "--rounds", "30", "--horizon", str(horizon)]
    proc = subprocess.run(
        [*VPP, "train", *args, "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out
