"""Checkpoints at most every ``checkpoint_interval_s``: fewer commits, nothing lost.

Between two checkpoints the consumer has applied events whose state and
offsets are not yet on Kafka. These tests hold the three ways out of that
window to the guarantees: a stop checkpoints what was applied, a rebalance
hands the partitions over through a checkpoint (no replay), and a crash
replays from the last checkpoint (InfluxDB exactly once, state as an
uninterrupted run).
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.servers import InfluxConn
from tests.stream.helpers import (
    StreamTopics,
    assert_features_equal_uninterrupted,
    assert_influx_matches,
    committed_total,
    consumer_cmd,
    finish,
    kill9,
    output_records,
    read_topic,
    start_consumer,
    synthetic_telemetry,
    wait_for_log,
)
from vpp.errors import ParameterError
from vpp.stream import ConsumerConfig, StreamConsumer
from vpp.stream.producer import produce_telemetry

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

#: Longer than any test: only a stop or a rebalance checkpoints.
NEVER = ("--checkpoint-interval-s", "3600")


def _wait_for_records(brokers: str, topic: str, at_least: int, timeout_s: float = 90) -> None:
    """Wait until ``topic`` holds ``at_least`` records (outputs of applied events)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if len(output_records(brokers, topic)) >= at_least:
                return
        except Exception:  # the topic may not exist yet
            pass
        time.sleep(0.3)
    raise AssertionError(f"{topic} did not reach {at_least} records in {timeout_s} s")


@pytest.mark.parametrize("interval_s", [0.0, 3600.0])
def test_the_interval_sets_how_often_state_is_checkpointed(
    topics: StreamTopics, interval_s: float
) -> None:
    tel = synthetic_telemetry(6000, n_sites=8, seed=12)
    produce_telemetry(tel, topics.brokers, topics.topic)
    group = f"cadence.{uuid.uuid4().hex[:8]}"
    config = ConsumerConfig(
        brokers=topics.brokers,
        group=group,
        topic=topics.topic,
        forecast_topic=topics.forecast,
        dispatch_topic=topics.dispatch,
        batch_events=500,
        max_events=len(tel),
        checkpoint_interval_s=interval_s,
    )
    stats = StreamConsumer(config).run()

    assert stats.messages == len(tel) and stats.batches >= len(tel) // 500
    if interval_s == 0:
        assert stats.checkpoints == stats.batches  # one per poll
    else:
        assert stats.checkpoints == 1  # only the stop's
    assert stats.commits == stats.checkpoints
    assert stats.checkpoint_bytes > 0
    assert committed_total(topics.brokers, group, topics.topic) == len(tel)
    assert_features_equal_uninterrupted(topics, group, tel)


def test_a_bad_interval_is_named() -> None:
    with pytest.raises(ParameterError, match="checkpoint_interval_s"):
        ConsumerConfig(brokers="127.0.0.1:1", group="g", checkpoint_interval_s=-1.0)


def test_a_rebalance_hands_partitions_over_through_a_checkpoint(
    topics: StreamTopics, tmp_path: Path
) -> None:
    tel = synthetic_telemetry(20_000, n_sites=8, seed=13)
    half = len(tel) // 2
    produce_telemetry(tel.slice(0, half), topics.brokers, topics.topic)
    group = f"handover.{uuid.uuid4().hex[:8]}"
    cmd = consumer_cmd(topics, group, None, "--batch-events", "400", *NEVER, "--idle-exit-s", "6")
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = start_consumer(cmd, log_a)
    wait_for_log(log_a, "vpp.stream: partition 3:")
    _wait_for_records(topics.brokers, topics.forecast, 1000)  # a applied events...
    assert committed_total(topics.brokers, group, topics.topic) == 0  # ...and committed none
    b = start_consumer(cmd, log_b)
    rest = threading.Thread(
        target=produce_telemetry,
        args=(tel.slice(half, len(tel)), topics.brokers, topics.topic),
        kwargs={"rate_per_s": 5000.0},
    )
    rest.start()
    rest.join(timeout=120)
    summary_a, summary_b = finish(a, log_a), finish(b, log_b)

    # b resumed a's partitions from the checkpoint a wrote when they were
    # revoked, so no event was read twice.
    assert summary_b["restored_partitions"] >= 1
    assert summary_a["messages"] + summary_b["messages"] == len(tel)
    assert committed_total(topics.brokers, group, topics.topic) == len(tel)
    assert_features_equal_uninterrupted(topics, group, tel)


@pytest.mark.influx
def test_a_crash_between_checkpoints_replays_from_the_last_one(
    topics: StreamTopics, influx_fresh: InfluxConn, tmp_path: Path
) -> None:
    tel = synthetic_telemetry(12_000, n_sites=8, seed=14)
    produce_telemetry(tel, topics.brokers, topics.topic)
    group = f"replay.{uuid.uuid4().hex[:8]}"
    log = tmp_path / "consumer.log"
    slow = ("--batch-events", "400", "--idle-exit-s", "4")
    proc = start_consumer(consumer_cmd(topics, group, influx_fresh, *slow, *NEVER), log)
    _wait_for_records(topics.brokers, topics.forecast, 2000)
    kill9(proc)
    # Outputs of applied events went out, but no state or offset did.
    assert committed_total(topics.brokers, group, topics.topic) == 0
    summary = finish(start_consumer(consumer_cmd(topics, group, influx_fresh, *slow), log), log)

    assert summary["messages"] == len(tel)  # everything again, from the start
    assert summary["restored_partitions"] == 0
    assert committed_total(topics.brokers, group, topics.topic) == len(tel)
    assert_influx_matches(influx_fresh, tel)  # the replay overwrote, never duplicated
    assert read_topic(topics.brokers, topics.dlq) == []
    assert_features_equal_uninterrupted(topics, group, tel)


def test_a_stop_waits_for_kafka_a_bounded_time(
    kafka_brokers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from confluent_kafka import Producer

    import vpp.stream.consumer as consumer_mod
    from vpp.stream import StreamStopped

    monkeypatch.setattr(consumer_mod, "STOP_GRACE_S", 2.5)
    for brokers, reachable in ((kafka_brokers, True), ("127.0.0.1:9", False)):
        service = StreamConsumer(ConsumerConfig(brokers=brokers, group="g"))
        service._producer = Producer(
            {"bootstrap.servers": brokers, "message.timeout.ms": 60_000, "log_level": 0}
        )
        service._produce(f"grace.{uuid.uuid4().hex[:8]}", b"k", b"v")
        service.stop()  # the last checkpoint still needs this output acknowledged
        t0 = time.monotonic()
        if reachable:
            service._flush()  # delivered within the grace: the stop can checkpoint
        else:
            with pytest.raises(StreamStopped, match="acknowledge"):
                service._flush()
            # Waited out the grace (not the first second's flush), then gave up.
            assert 2.5 <= time.monotonic() - t0 < 10.0
