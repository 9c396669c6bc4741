"""Shared pieces of the streaming tests: data, subprocess consumers, oracles."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from tests.servers import InfluxConn
from vpp.io import Telemetry
from vpp.runtime.processor import BatchProcessor
from vpp.schema import GRID_SIGNALS, SIGNALS
from vpp.stream.records import decode_records
from vpp.stream.state import PartitionState, StateTopic, state_key

T0_NS = 1_700_000_000_000_000_000
MINUTE_NS = 60_000_000_000
ROOT = Path(__file__).resolve().parents[2]


def synthetic_telemetry(n_events: int, n_sites: int = 8, seed: int = 0) -> Telemetry:
    """Sites interleaved at one-minute steps; daily shapes, noise and a few gaps."""
    rng = np.random.default_rng(seed)
    steps = -(-n_events // n_sites)
    t = np.repeat(np.arange(steps, dtype=np.int64), n_sites)[:n_events]
    site_idx = np.tile(np.arange(n_sites), steps)[:n_events]
    day = 2 * np.pi * t / 1440.0
    values = np.column_stack(
        [
            100 + 20 * site_idx + 15 * np.sin(day) + rng.normal(0, 2, n_events),
            np.clip(40 * np.sin(day - np.pi / 2), 0, None) + rng.normal(0, 1, n_events),
            30 + 10 * np.cos(day / 3) + rng.normal(0, 3, n_events),
            50 + rng.normal(0, 0.02, n_events),
            60 + 30 * np.sin(day + 1) + rng.normal(0, 5, n_events),
            10 + 5 * np.sin(day) + rng.normal(0, 0.5, n_events),
        ]
    )
    values[rng.random(values.shape) < 0.01] = np.nan  # missing readings stay missing
    sites = np.array([f"site_{i:02d}" for i in range(n_sites)], dtype=object)[site_idx]
    return Telemetry(T0_NS + t * MINUTE_NS, sites, values, list(GRID_SIGNALS))


@dataclass
class StreamTopics:
    """Topic names of one test (input and everything the service derives)."""

    brokers: str
    topic: str

    @property
    def dlq(self) -> str:
        return f"{self.topic}.dlq"

    @property
    def state(self) -> str:
        return f"{self.topic}.state"

    @property
    def forecast(self) -> str:
        return f"{self.topic}.forecast"

    @property
    def dispatch(self) -> str:
        return f"{self.topic}.dispatch"

    def cli_args(self, group: str) -> list[str]:
        return [
            "--brokers",
            self.brokers,
            "--group",
            group,
            "--topic",
            self.topic,
            "--forecast-topic",
            self.forecast,
            "--dispatch-topic",
            self.dispatch,
        ]

    def delete_derived(self) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.brokers})
        names = [self.dlq, self.state, self.forecast, self.dispatch]
        existing = set(admin.list_topics(timeout=30).topics)
        doomed = [n for n in names if n in existing]
        if doomed:
            for fut in admin.delete_topics(doomed).values():
                fut.result(timeout=30)


@pytest.fixture
def topics(kafka_brokers: str, kafka_topic: str) -> Iterator[StreamTopics]:
    """The test's topics; the derived ones are deleted afterwards."""
    t = StreamTopics(kafka_brokers, kafka_topic)
    yield t
    t.delete_derived()


def consumer_cmd(
    topics: StreamTopics, group: str, influx: InfluxConn | None, *extra: str
) -> list[str]:
    cmd = [sys.executable, "-m", "vpp.cli.main", "consume", *topics.cli_args(group), *extra]
    if influx is not None:
        cmd += ["--influx-url", influx.url, "--influx-bucket", influx.bucket]
        cmd += ["--influx-token", influx.token]
    return cmd


def start_consumer(cmd: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as log:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, cwd=ROOT, env=env)


def finish(proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float = 180) -> dict[str, Any]:
    """Wait for a consumer started with --idle-exit-s; return its summary."""
    out, _ = proc.communicate(timeout=timeout_s)
    assert proc.returncode == 0, f"consumer exit {proc.returncode}:\n{log_path.read_text()[-4000:]}"
    summary: dict[str, Any] = orjson.loads(out)
    return summary


def kill9(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # reaps it and closes its stdout pipe


def committed_total(brokers: str, group: str, topic: str, partitions: int = 4) -> int:
    """Sum of the group's committed offsets on ``topic`` (0 where none)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    finally:
        c.close()
    return sum(max(tp.offset, 0) for tp in tps)


def wait_for_progress(
    brokers: str, group: str, topic: str, above: int, timeout_s: float = 90
) -> int:
    """Wait until the group committed more than ``above`` messages; return the total."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        total = committed_total(brokers, group, topic)
        if total > above:
            return total
        time.sleep(0.2)
    raise AssertionError(f"group {group} made no progress past {above} in {timeout_s} s")


def wait_for_log(path: Path, text: str, timeout_s: float = 90) -> None:
    """Wait until a consumer's log contains ``text``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.is_file() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{path.name} did not log {text!r} in {timeout_s} s")


def read_topic(brokers: str, topic: str, timeout_s: float = 30) -> list[Any]:
    """Every message of ``topic`` (all partitions), read to the end."""
    from confluent_kafka import Consumer, KafkaError

    c = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"reader.{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "session.timeout.ms": 6000,
        }
    )
    meta = c.list_topics(topic, timeout=10).topics[topic]
    remaining = set(meta.partitions)
    c.subscribe([topic])
    got: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while remaining and time.monotonic() < deadline:
            for msg in c.consume(num_messages=10_000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    assert err.code() == KafkaError._PARTITION_EOF, err
                    remaining.discard(msg.partition())
                    continue
                got.append(msg)
    finally:
        c.close()
    assert not remaining, f"did not reach the end of {topic} partitions {remaining}"
    return got


def influx_telemetry(influx: InfluxConn) -> pd.DataFrame:
    """Every telemetry point, sorted by site and time."""
    from vpp.io.store_influx import InfluxStore

    store = InfluxStore(influx.url, token=influx.token, bucket=influx.bucket)
    try:
        df = store.telemetry_range()
    finally:
        store.close()
    return df.sort_values(["site", "ts_ns"], kind="stable").reset_index(drop=True)


def assert_influx_matches(influx: InfluxConn, tel: Telemetry) -> None:
    """InfluxDB holds exactly one point per event, with the event's values."""
    got = influx_telemetry(influx)
    want = tel.to_frame()
    want.insert(0, "ts_ns", tel.ts_ns)
    want = want.drop(columns="timestamp").sort_values(["site", "ts_ns"], kind="stable")
    want = want.reset_index(drop=True)
    assert len(got) == len(want), f"{len(got)} points for {len(want)} events"
    assert got["site"].tolist() == want["site"].tolist()
    assert got["ts_ns"].tolist() == want["ts_ns"].tolist()
    for name in tel.signals:
        np.testing.assert_array_equal(got[name].to_numpy(), want[name].to_numpy(), err_msg=name)


def checkpoints(topics: StreamTopics, group: str) -> dict[int, PartitionState]:
    """The latest checkpoint of each input partition."""
    keys = {p: state_key(topics.topic, p, group) for p in range(4)}
    blobs = StateTopic(topics.brokers, topics.state).load(keys.values())
    new = lambda: BatchProcessor.for_signals(list(SIGNALS))  # noqa: E731
    return {p: PartitionState.from_bytes(blobs[k], new) for p, k in keys.items() if k in blobs}


def assert_features_equal_uninterrupted(
    topics: StreamTopics, group: str, tel: Telemetry
) -> dict[int, PartitionState]:
    """Each site's feature state in the checkpoints equals one uninterrupted run's.

    A probe event one minute after each site's last event goes through the
    restored checkpoint and through an engine that saw every event in one go;
    the two feature rows must be identical (lags, windows and diffs all read
    the state). Sites are independent in the engine, so the partitioning does
    not matter for the reference.
    """
    states = checkpoints(topics, group)
    ref = BatchProcessor.for_signals(list(SIGNALS))
    ref.process(tel)
    sites_seen: dict[str, int] = {}
    for st in states.values():
        for site, last in st.last_ts.items():
            assert site not in sites_seen, f"site {site} in two partitions"
            sites_seen[site] = last
    assert sorted(sites_seen) == tel.site_ids()
    # Every event applied exactly once: a replay on top of state that already
    # held it would count it twice (or reject it as out of order).
    applied = sum(int(st.processor.engine.counters["events"]) for st in states.values())
    assert applied == len(tel), f"{applied} events applied for {len(tel)} sent"
    probe = np.array([101.0, 5.0, 20.0, 50.01, 70.0, 12.0])
    for st in states.values():
        for site, last in st.last_ts.items():
            want_last = int(tel.ts_ns[tel.sites == site].max())
            assert last == want_last, f"site {site}: last applied {last}, want {want_last}"
            got = st.processor.engine.push(last + MINUTE_NS, probe, site=site)
            want = ref.engine.push(last + MINUTE_NS, probe, site=site)
            # A pipeline with a model returns (features, forecast): both must match.
            for g, w in zip(_as_tuple(got), _as_tuple(want), strict=True):
                np.testing.assert_array_equal(g, w, err_msg=f"features/forecast of {site}")
    return states


def _as_tuple(x: Any) -> tuple[Any, ...]:
    return x if isinstance(x, tuple) else (x,)


def output_records(brokers: str, topic: str) -> pd.DataFrame:
    """Every record on an output topic as one frame (empty if none)."""
    frames = [decode_records(m.value()) for m in read_topic(brokers, topic)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def reference_records(tel: Telemetry, states: dict[int, PartitionState]) -> dict[str, pd.DataFrame]:
    """Forecast and dispatch records of one uninterrupted in-process run per partition.

    ``states`` (the checkpoints) say which sites each partition holds.
    """
    site_partition = {s: p for p, st in states.items() for s in st.last_ts}
    out: dict[str, list[pd.DataFrame]] = {"forecasts": [], "dispatch": []}
    part = np.array([site_partition[s] for s in tel.sites.tolist()])
    for p in sorted(states):
        rows = np.flatnonzero(part == p)
        sub = Telemetry(tel.ts_ns[rows], tel.sites[rows], tel.values[rows], tel.signals)
        res = BatchProcessor.for_signals(list(SIGNALS)).process(sub)
        for name in out:
            df = getattr(res, name)
            if df is not None and len(df):
                out[name].append(df)
    return {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in out.items()}


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("site", "target", "unit", "agent", "horizon_steps", "ts_ns") if c in df]
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def assert_same_records(got: pd.DataFrame, want: pd.DataFrame, what: str) -> None:
    """The same records in any order (numbers to the models' float32 precision)."""
    assert len(got) == len(want), f"{what}: {len(got)} records, want {len(want)}"
    if not len(want):
        return
    g, w = _sorted(got), _sorted(want)
    for col in w.columns:
        if col not in g:
            assert w[col].isna().all(), f"{what}.{col} missing"
        elif w[col].dtype.kind in "fiu":
            np.testing.assert_allclose(
                g[col].to_numpy(float), w[col].to_numpy(float), err_msg=f"{what}.{col}"
            )
        else:
            gs = [None if pd.isna(v) else str(v) for v in g[col]]
            ws = [None if pd.isna(v) else str(v) for v in w[col]]
            assert gs == ws, f"{what}.{col}"


def assert_influx_records_match(influx: InfluxConn, want: dict[str, pd.DataFrame]) -> None:
    """InfluxDB holds each forecast and dispatch record exactly once, with its values."""
    from vpp.io.store_influx import InfluxStore

    store = InfluxStore(influx.url, token=influx.token, bucket=influx.bucket)
    try:
        assert_same_records(store.forecast_range(), want["forecasts"], "influx forecast")
        assert_same_records(store.dispatch_range(), want["dispatch"], "influx dispatch")
    finally:
        store.close()
