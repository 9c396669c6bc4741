"""Faults the service survives: kill -9, a rebalance, an InfluxDB outage.

Each test checks the same guarantees afterwards: every event is in InfluxDB
exactly once with its values, nothing went to the dead-letter topic (a replay
applied on top of state that already held it would be rejected as out of
order), and each site's feature state equals that of an uninterrupted run.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.servers import SCRIPTS_DIR, InfluxConn
from tests.stream.helpers import (
    StreamTopics,
    assert_features_equal_uninterrupted,
    assert_influx_matches,
    assert_influx_records_match,
    committed_total,
    consumer_cmd,
    finish,
    kill9,
    read_topic,
    reference_records,
    start_consumer,
    synthetic_telemetry,
    wait_for_log,
    wait_for_progress,
)
from vpp.io import Telemetry
from vpp.stream.producer import produce_telemetry

pytestmark = [pytest.mark.kafka, pytest.mark.influx, pytest.mark.slow]

#: Small polls make a run last long enough to be interrupted mid-way.
SLOW = ("--batch-events", "400")


def _check_guarantees(topics: StreamTopics, group: str, influx: InfluxConn, tel: Telemetry) -> None:
    assert_influx_matches(influx, tel)
    assert read_topic(topics.brokers, topics.dlq) == []
    states = assert_features_equal_uninterrupted(topics, group, tel)
    # Forecasts (and dispatch) in InfluxDB: each exactly once, as an uninterrupted run.
    assert_influx_records_match(influx, reference_records(tel, states))


def test_kill_9_and_restart_loses_and_duplicates_nothing(
    topics: StreamTopics, influx_fresh: InfluxConn, tmp_path: Path
) -> None:
    tel = synthetic_telemetry(60_000, n_sites=8, seed=1)
    produce_telemetry(tel, topics.brokers, topics.topic)
    group = f"crash.{uuid.uuid4().hex[:8]}"
    log = tmp_path / "consumer.log"
    cmd = consumer_cmd(topics, group, influx_fresh, *SLOW, "--idle-exit-s", "4")
    rng = random.Random(9)
    done, kills_mid_run = 0, 0
    for _ in range(3):
        proc = start_consumer(cmd, log)
        done = wait_for_progress(topics.brokers, group, topics.topic, above=done)
        time.sleep(rng.uniform(0.05, 0.5))  # land anywhere in a batch
        kill9(proc)
        done = committed_total(topics.brokers, group, topics.topic)
        if done == len(tel):
            break  # a fast machine finished first; the restarts below still count
        kills_mid_run += 1
    assert kills_mid_run >= 2
    summary = finish(start_consumer(cmd, log), log)

    assert summary["restored_partitions"] > 0  # the last run resumed from checkpoints
    assert committed_total(topics.brokers, group, topics.topic) == len(tel)
    _check_guarantees(topics, group, influx_fresh, tel)


def test_rebalance_when_one_of_two_consumers_stops(
    topics: StreamTopics, influx_fresh: InfluxConn, tmp_path: Path
) -> None:
    tel = synthetic_telemetry(30_000, n_sites=8, seed=2)
    half = len(tel) // 2
    produce_telemetry(tel.slice(0, half), topics.brokers, topics.topic)
    group = f"rebalance.{uuid.uuid4().hex[:8]}"
    cmd = consumer_cmd(topics, group, influx_fresh, *SLOW, "--idle-exit-s", "6")
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = start_consumer(cmd, log_a)
    wait_for_log(log_a, "vpp.stream: partition 3:")  # a owns everything...
    b = start_consumer(cmd, log_b)
    wait_for_log(log_b, "vpp.stream: partition")  # ...until b joins; they split them
    # The rest arrives while both run; one stops part-way through it.
    rest = threading.Thread(
        target=produce_telemetry,
        args=(tel.slice(half, len(tel)), topics.brokers, topics.topic),
        kwargs={"rate_per_s": 5000.0},
    )
    rest.start()
    try:
        wait_for_progress(topics.brokers, group, topics.topic, above=half + 2000)
        a.send_signal(signal.SIGTERM)  # a graceful stop: finishes its batch, leaves the group
        summary_a = finish(a, log_a)
    finally:
        rest.join(timeout=120)
    summary_b = finish(b, log_b)

    assert summary_a["messages"] > 0 and summary_b["messages"] > 0
    assert summary_a["assignments"] >= 2  # a shared the partitions with b...
    assert summary_b["assignments"] >= 2  # ...and b took over a's when it left
    assert summary_a["messages"] + summary_b["messages"] >= len(tel)
    assert committed_total(topics.brokers, group, topics.topic) == len(tel)
    _check_guarantees(topics, group, influx_fresh, tel)


def _influx(action: str) -> None:
    subprocess.run(
        ["bash", str(SCRIPTS_DIR / "influx.sh"), action],
        check=True,
        capture_output=True,
        timeout=300,
    )


def test_influx_outage_blocks_commits_then_catches_up(
    topics: StreamTopics, influx_fresh: InfluxConn, tmp_path: Path
) -> None:
    tel = synthetic_telemetry(20_000, n_sites=8, seed=3)
    first = 4000
    produce_telemetry(tel.slice(0, first), topics.brokers, topics.topic)
    group = f"outage.{uuid.uuid4().hex[:8]}"
    log = tmp_path / "consumer.log"
    proc = start_consumer(
        consumer_cmd(topics, group, influx_fresh, *SLOW, "--idle-exit-s", "5"), log
    )
    try:
        wait_for_progress(topics.brokers, group, topics.topic, above=first - 1)
        _influx("stop")
        try:
            produce_telemetry(tel.slice(first, len(tel)), topics.brokers, topics.topic)
            time.sleep(2.0)
            frozen = committed_total(topics.brokers, group, topics.topic)
            time.sleep(3.0)
            # Nothing is committed while the points cannot be written.
            assert committed_total(topics.brokers, group, topics.topic) == frozen
            assert frozen < len(tel)
        finally:
            _influx("start")
        summary = finish(proc, log)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert summary["store_retries"] > 0
    assert summary["messages"] == len(tel)
    assert committed_total(topics.brokers, group, topics.topic) == len(tel)
    _check_guarantees(topics, group, influx_fresh, tel)
