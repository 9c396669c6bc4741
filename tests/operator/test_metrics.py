"""Prometheus metrics: the endpoint serves the named metrics after a short run."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from vpp import metrics
from vpp.errors import ParameterError
from vpp.io import Telemetry
from vpp.runtime.processor import BatchOutput, BatchProcessor

VPP = [sys.executable, "-m", "vpp.cli.main"]

NAMED = (
    "vpp_events_in",
    "vpp_events_out",
    "vpp_dlq",
    "vpp_stage_latency_seconds",
    "vpp_consumer_lag",
    "vpp_forecast_abs_error",
    "vpp_forecast_mae",
    "vpp_fleet_soc_frac",
    "vpp_fleet_energy_mwh",
    "vpp_last_event_timestamp_seconds",
    "vpp_mcp_tool_calls",
)


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of a /metrics page: (name, sorted labels) → value."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def families(url: str) -> set[str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return {f.name for f in text_string_to_metric_families(resp.read().decode())}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server():
    srv = metrics.start_metrics_server(0)
    yield srv
    srv.close()


def test_endpoint_lists_every_named_metric(server):
    assert set(NAMED) <= families(server.url)
    assert server.url.startswith("http://127.0.0.1:")


def test_short_pipeline_run_fills_the_metrics(server):
    """One day of twin events through the real processor, batch by batch."""
    from vpp import twin
    from vpp.agents import AgentSet, FleetConfig, FrequencyResponseConfig

    tel = Telemetry.from_frame(twin.generate(days=1, seed=11))
    proc = metrics.MeteredProcessor(BatchProcessor.for_signals(tel.signals))
    before = scrape(server.url)
    forecasts = []
    batch_events = 240
    for start in range(0, len(tel), batch_events):
        batch = tel.slice(start, min(start + batch_events, len(tel)))
        metrics.EVENTS_IN.labels("test").inc(len(batch))
        out = proc.process(batch)
        if out.forecasts is not None:
            forecasts.append(out.forecasts)
    # SoC records of a real two-unit fleet deciding on the last hour of events.
    agents = AgentSet(FleetConfig.uniform(2), FrequencyResponseConfig(contracted_mw=1.0))
    rows = []
    for t, f, p in zip(
        tel.ts_ns[-60:],
        tel.column("frequency_hz")[-60:],
        tel.column("price_per_mwh")[-60:],
        strict=True,
    ):
        agents.decide(int(t), 0, float(f), float(p))
        for u, s in enumerate(agents.unit_soc()):
            rows.append((int(t), "grid", f"u{u}", float(s), float(s) * 2.0))
    soc = pd.DataFrame(rows, columns=["ts_ns", "site", "unit", "soc_frac", "energy_mwh"])
    metrics.observe_output(tel.slice(0, 0), BatchOutput(features=np.empty((0, 0)), soc=soc))
    after = scrape(server.url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    n_batches = -(-len(tel) // batch_events)
    assert delta("vpp_events_in_total", source="test") == len(tel)
    assert delta("vpp_stage_latency_seconds_count", stage="pipeline") == n_batches
    assert delta("vpp_stage_latency_seconds_sum", stage="pipeline") > 0
    assert value(after, "vpp_last_event_timestamp_seconds") == pytest.approx(tel.ts_ns[-1] / 1e9)
    final = agents.unit_soc()
    assert value(after, "vpp_fleet_soc_frac", site="grid") == pytest.approx(final.mean())
    assert value(after, "vpp_fleet_energy_mwh", site="grid") == pytest.approx(final.sum() * 2.0)

    if not forecasts:
        pytest.skip("no forecast model serves this data: forecast metrics not exercised")
    fc = pd.concat(forecasts, ignore_index=True)
    assert delta("vpp_events_out_total", kind="forecast") == len(fc)
    # Oracle: every forecast whose target event arrived, joined by time.
    truth = pd.DataFrame({"target_ts_ns": tel.ts_ns, "actual": tel.column(fc["target"].iloc[0])})
    j = fc[fc["horizon_steps"] == fc["horizon_steps"].min()].merge(truth, on="target_ts_ns")
    err = (j["point"] - j["actual"]).abs()
    target = str(fc["target"].iloc[0])
    # Batches of 240 stay under the per-batch sample cap: the histogram holds every error.
    assert delta("vpp_forecast_abs_error_count", target=target) == len(err)
    assert delta("vpp_forecast_abs_error_sum", target=target) == pytest.approx(err.sum())
    assert value(after, "vpp_forecast_mae", target=target) > 0


def test_forecast_error_tracker_matches_by_target_time():
    tracker = metrics.ForecastErrorTracker()
    t = np.arange(6, dtype=np.int64) * 60_000_000_000
    fc = pd.DataFrame(
        {
            "ts_ns": t[:4],
            "site": "a",
            "target": "load_mw",
            "horizon_steps": 1,
            "target_ts_ns": t[1:5],
            "point": [10.0, 20.0, 30.0, 40.0],
        }
    )
    tracker.add_forecasts(fc)
    # The events of times 1..3 arrive; time 4 is still ahead; site b is ignored.
    tel = Telemetry(
        np.array([t[1], t[2], t[3], t[3]]),
        np.array(["a", "a", "a", "b"], dtype=object),
        np.array([[12.0], [20.5], [25.0], [999.0]]),
        ["load_mw"],
    )
    before = metrics.FORECAST_ABS_ERROR.labels("load_mw")._sum.get()
    assert tracker.add_actuals(tel) == 3
    assert metrics.FORECAST_MAE.labels("load_mw")._value.get() == pytest.approx((2 + 0.5 + 5) / 3)
    assert metrics.FORECAST_ABS_ERROR.labels("load_mw")._sum.get() - before == pytest.approx(7.5)
    # The one still ahead stays queued and scores when its event comes.
    later = Telemetry(
        np.array([t[4]]), np.array(["a"], dtype=object), np.array([[41.0]]), ["load_mw"]
    )
    assert tracker.add_actuals(later) == 1


def test_start_from_args():
    import argparse

    p = argparse.ArgumentParser()
    metrics.add_metrics_args(p)
    assert metrics.start_from_args(p.parse_args([])) is None
    with pytest.raises(ParameterError, match=r"--metrics-port must be in 0\.\.65535"):
        metrics.start_from_args(p.parse_args(["--metrics-port", "70000"]))
    srv = metrics.start_from_args(p.parse_args(["--metrics-port", "0"]))
    try:
        assert srv is not None and srv.host == "127.0.0.1" and srv.port > 0
        assert "vpp_events_in" in families(srv.url)
    finally:
        srv.close()


def _wait_for(url: str, ready, timeout_s: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout_s
    last: dict = {}
    while time.monotonic() < deadline:
        try:
            last = scrape(url)
            if ready(last):
                return last
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"metrics never got ready; last scrape had {len(last)} samples")


@pytest.mark.kafka
def test_vpp_consume_serves_metrics(kafka_brokers, kafka_topic, tmp_path):
    from confluent_kafka import Producer

    from vpp import twin
    from vpp.stream.producer import produce_telemetry

    tel = Telemetry.from_frame(twin.generate(days=2, seed=5))
    produce_telemetry(tel, kafka_brokers, kafka_topic)
    bad = [
        b"not json",
        b'{"site": "grid"}',
        b'{"timestamp": "2025-01-01T00:00:00Z", "load_mw": "x"}',
    ]
    prod = Producer({"bootstrap.servers": kafka_brokers})
    for i, msg in enumerate(bad):
        prod.produce(kafka_topic, msg, key=f"bad{i}".encode())
    assert prod.flush(30) == 0
    total = len(tel) + len(bad)

    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    # Brokers, topic and the metrics port come from the environment (vpp.toml keys
    # kafka.brokers, kafka.topic, metrics.port): the config reaches vpp consume.
    env = {
        **os.environ,
        "VPP_KAFKA_BROKERS": kafka_brokers,
        "VPP_KAFKA_TOPIC": kafka_topic,
        "VPP_METRICS_PORT": str(port),
        # An InfluxDB from the environment gives way to the explicit --store.
        "VPP_INFLUX_URL": "http://127.0.0.1:9",
    }
    argv = [
        *VPP,
        "consume",
        "--group",
        f"g-{uuid.uuid4().hex[:8]}",
        "--idle-exit-s",
        "20",
        "--quiet",
        "--store",
        str(tmp_path / "store.sqlite"),
    ]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:

        def done(s: dict) -> bool:
            # Counted on arrival; the lag and the dead letters once a batch is
            # processed, so wait for every partition to be caught up (a scrape
            # between the last arrival and its batch's end saw 2 of 3 letters).
            lag = [v for k, v in s.items() if k[0] == "vpp_consumer_lag"]
            return (
                value(s, "vpp_events_in_total", source="kafka") >= total
                and lag != []
                and all(v == 0 for v in lag)
                and value(s, "vpp_events_out_total", kind="store_point") >= len(tel)
                # Offsets are committed with the checkpoints, up to a second later.
                and value(s, "vpp_stage_latency_seconds_count", stage="checkpoint") > 0
            )

        s = _wait_for(url, done)
        lags = {k: v for k, v in s.items() if k[0] == "vpp_consumer_lag"}
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert value(s, "vpp_events_in_total", source="kafka") == total
    assert sum(v for k, v in s.items() if k[0] == "vpp_dlq_total") == len(bad)
    assert lags and all(v == 0 for v in lags.values())  # caught up on every partition
    assert value(s, "vpp_checkpoint_bytes_total") > 0
    for stage in ("batch", "pipeline", "store_write", "produce_flush", "commit", "checkpoint"):
        assert value(s, "vpp_stage_latency_seconds_count", stage=stage) > 0, stage
    assert value(s, "vpp_events_out_total", kind="store_point") >= len(tel)
    assert value(s, "vpp_last_event_timestamp_seconds") == pytest.approx(tel.ts_ns.max() / 1e9)
    stats = json.loads(out)
    assert stats["dead_letters"] == len(bad), err


def test_vpp_mcp_serves_metrics(tmp_path):
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport

    store = tmp_path / "store.sqlite"
    subprocess.run(
        [*VPP, "run", "--days", "0.5", "--quiet", "--store", str(store)],
        check=True,
        capture_output=True,
    )
    port = free_port()
    transport = StdioTransport(
        command=sys.executable,
        args=[
            "-m",
            "vpp.cli.main",
            "mcp",
            "--store",
            str(store),
            "--quiet",
            "--metrics-port",
            str(port),
        ],
        env=dict(os.environ),
        cwd=str(tmp_path),
        keep_alive=False,
    )

    async def session() -> dict:
        async with Client(transport, timeout=120) as client:
            for _ in range(2):
                await client.call_tool("get_grid_state", {})
            await client.call_tool("get_fleet_status", {})
            bad = await client.call_tool(
                "plan_dispatch",
                {"site": "nowhere", "power_mw": 1.0, "duration_min": 5},
                raise_on_error=False,
            )
            assert bad.is_error
            return scrape(f"http://127.0.0.1:{port}/metrics")

    s = asyncio.run(session())
    assert value(s, "vpp_mcp_tool_calls_total", tool="get_grid_state", outcome="ok") == 2
    assert value(s, "vpp_mcp_tool_calls_total", tool="plan_dispatch", outcome="error") == 1
    assert value(s, "vpp_stage_latency_seconds_count", stage="mcp:get_grid_state") == 2
    assert 0 <= value(s, "vpp_fleet_soc_frac", site="grid") <= 1
    assert ("vpp_fleet_soc_frac", (("site", "grid"),)) in s
