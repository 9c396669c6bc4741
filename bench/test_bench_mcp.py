"""MCP: 200 concurrent ``get_grid_state`` calls over streamable HTTP on loopback.

The server is the real ``vpp mcp --transport http`` subprocess with a bearer
token, reading a store filled by ``vpp run``; the client side opens a few
FastMCP clients and fires 200 calls at once (``asyncio.gather``). Baseline in
the same run: the same 200 calls through FastMCP's in-memory transport to a
server built in-process (no HTTP, no auth), which isolates the cost of the
transport. ``extra_info`` records throughput, p50/p99 latency of single calls,
and that both paths returned the same answer.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastmcp import Client
from tests.mcp.helpers import fill_store, http_server

from vpp.mcp.config import McpConfig
from vpp.mcp.server import build_server

pytestmark = pytest.mark.benchmark

CALLS = 200
CLIENTS = 4
ROUNDS = 7


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fill_store(tmp_path_factory.mktemp("bench-mcp") / "store.sqlite", days=2)


class _Load:
    """Clients kept open on one event loop across benchmark rounds."""

    def __init__(self, clients: list[Client]) -> None:
        self.loop = asyncio.new_event_loop()
        self.clients = clients
        for c in clients:
            self.loop.run_until_complete(c.__aenter__())
        self.latencies_s: list[float] = []
        self.answers: list[Any] = []

    async def _one(self, c: Client) -> None:
        t0 = time.perf_counter()
        r = await c.call_tool("get_grid_state", {})
        self.latencies_s.append(time.perf_counter() - t0)
        self.answers.append(r.structured_content["sites"][0]["ts_ns"])

    async def _burst(self) -> None:
        await asyncio.gather(
            *(self._one(self.clients[i % len(self.clients)]) for i in range(CALLS))
        )

    def burst(self) -> None:
        self.loop.run_until_complete(self._burst())

    def sequential_p50_ms(self, n: int = 50) -> float:
        """Median latency of single calls one after another (no queueing)."""

        async def run() -> list[float]:
            out = []
            for _ in range(n):
                t0 = time.perf_counter()
                await self.clients[0].call_tool("get_grid_state", {})
                out.append(time.perf_counter() - t0)
            return out

        return float(np.median(self.loop.run_until_complete(run())) * 1e3)

    def close(self) -> None:
        for c in self.clients:
            self.loop.run_until_complete(c.__aexit__(None, None, None))
        self.loop.close()

    def stats(self) -> dict[str, float]:
        lat = np.asarray(self.latencies_s) * 1e3
        return {"p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99))}


@pytest.fixture(scope="module")
def http_load(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Load]:
    token = secrets.token_urlsafe(32)
    audit = tmp_path_factory.mktemp("bench-audit") / "audit.jsonl"
    with http_server(store, audit, token) as srv:
        load = _Load([srv.client() for _ in range(CLIENTS)])
        yield load
        load.close()


@pytest.fixture(scope="module")
def memory_load(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Load]:
    audit = tmp_path_factory.mktemp("bench-audit-mem") / "audit.jsonl"
    server = build_server(McpConfig(store_url=str(store), audit_log=str(audit)))
    load = _Load([Client(server) for _ in range(CLIENTS)])
    yield load
    load.close()


def _record(benchmark: Any, load: _Load, transport: str) -> float:
    per_burst_s = benchmark.stats.stats.median
    calls_per_s = CALLS / per_burst_s
    benchmark.extra_info.update(
        {
            "transport": transport,
            "concurrent_calls": CALLS,
            "clients": CLIENTS,
            "calls_per_s": round(calls_per_s, 1),
            **{k: round(v, 3) for k, v in load.stats().items()},
            "answers_agree": len(set(load.answers)) == 1,
        }
    )
    return calls_per_s


def test_get_grid_state_in_memory_baseline(benchmark, memory_load) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "mcp get_grid_state x200 concurrent"
    benchmark.pedantic(memory_load.burst, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    _record(benchmark, memory_load, "in-memory")
    assert len(memory_load.answers) == CALLS * (ROUNDS + 1)
    assert len(set(memory_load.answers)) == 1


def test_get_grid_state_http(benchmark, http_load, memory_load) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "mcp get_grid_state x200 concurrent"
    # The baseline in this same test, so the ratio compares like with like.
    t0 = time.perf_counter()
    memory_load.burst()
    base_calls_per_s = CALLS / (time.perf_counter() - t0)
    benchmark.pedantic(http_load.burst, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    calls_per_s = _record(benchmark, http_load, "streamable-http + bearer token, loopback")
    benchmark.extra_info["in_memory_calls_per_s"] = round(base_calls_per_s, 1)
    benchmark.extra_info["single_call_p50_ms"] = round(http_load.sequential_p50_ms(), 3)
    benchmark.extra_info["in_memory_single_call_p50_ms"] = round(memory_load.sequential_p50_ms(), 3)
    benchmark.extra_info["http_vs_in_memory"] = round(calls_per_s / base_calls_per_s, 3)
    # Every HTTP call returned the same latest record as the in-process server.
    assert set(http_load.answers) == set(memory_load.answers)
    assert len(http_load.answers) == CALLS * (ROUNDS + 1)
