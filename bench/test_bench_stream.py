"""End-to-end events/s of the ``vpp consume`` path against a plain passthrough.

Both read the same 200,000 events (8 sites, 4 partitions) from the real
broker with at-least-once bookkeeping, in polls of up to 10,000 messages
polled the same way (:func:`vpp.stream.polling.poll_batch`: what is queued,
without waiting out a timeout to fill the batch):

* passthrough: confluent-kafka consume → produce each message to another
  topic, either flushed and committed per poll or only at the end (raw
  client speed); the faster one is the bar.
  Its consumer has the same fetch settings as vpp's (librdkafka's default
  ``fetch.queue.backoff.ms`` alone caps a backlog near 170k/s here); a run
  with the defaults is recorded for reference.
* vpp: :class:`vpp.stream.StreamConsumer` without a store (InfluxDB off):
  Rust decode + validation, features and forecasts (the shipped default
  model) per partition, forecast records produced to their topic and, at
  its default ``checkpoint_interval_s`` (1 s) and at the end, one state
  checkpoint per partition produced and acknowledged, then the commit.

Rates count from the first message received (joining the group is not
throughput). Targets from the streaming issue: vpp >= 100,000 events/s and
>= half the passthrough; both figures go into ``extra_info``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.stream.helpers import StreamTopics, synthetic_telemetry

from vpp.stream import ConsumerConfig, StreamConsumer, produce_telemetry
from vpp.stream.polling import FETCH_CONFIG, poll_batch

pytestmark = [pytest.mark.benchmark, pytest.mark.kafka, pytest.mark.slow]

N_EVENTS = 200_000
POLL = 10_000


@pytest.fixture(scope="module")
def loaded(kafka_brokers: str) -> Iterator[StreamTopics]:
    """A 4-partition topic holding the events; it and its derived topics are deleted after."""
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"bench.{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": kafka_brokers})
    new = [NewTopic(n, num_partitions=4, replication_factor=1) for n in (name, f"{name}.copy")]
    for fut in admin.create_topics(new).values():
        fut.result(timeout=30)
    produce_telemetry(synthetic_telemetry(N_EVENTS, n_sites=8, seed=11), kafka_brokers, name)
    topics = StreamTopics(kafka_brokers, name)
    yield topics
    topics.delete_derived()
    for fut in admin.delete_topics([name, f"{name}.copy"]).values():
        fut.result(timeout=30)


def passthrough(brokers: str, topic: str, per_poll: bool = True, tuned: bool = True) -> float:
    """Events/s of consume → produce, from the first message.

    With ``per_poll`` each poll is flushed and committed before the next (the
    same at-least-once bookkeeping as vpp); without, only once at the end
    (the raw client speed). ``tuned`` gives the consumer the fetch settings
    vpp uses (:data:`vpp.stream.polling.FETCH_CONFIG`), so the bar is not
    held back by a client default; without, librdkafka's defaults.
    """
    from confluent_kafka import Consumer, Producer

    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"pass.{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            **(FETCH_CONFIG if tuned else {}),
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": brokers,
            "enable.idempotence": True,
            "linger.ms": 5,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    consumer.subscribe([topic])
    out, n, t0 = f"{topic}.copy", 0, None
    try:
        while n < N_EVENTS:
            msgs = poll_batch(consumer, POLL, 0.5)
            if not msgs:
                continue
            t0 = t0 or time.perf_counter()
            for m in msgs:
                producer.produce(out, m.value(), m.key())
            producer.poll(0)
            if per_poll:
                producer.flush()
                consumer.commit(asynchronous=False)
            n += len(msgs)
        producer.flush()
        if not per_poll:
            consumer.commit(asynchronous=False)
        elapsed = time.perf_counter() - (t0 or 0.0)
    finally:
        consumer.close()
    assert n == N_EVENTS
    return n / elapsed


def vpp_consume(topics: StreamTopics) -> dict[str, Any]:
    config = ConsumerConfig(
        brokers=topics.brokers,
        group=f"vpp.{uuid.uuid4().hex[:8]}",
        topic=topics.topic,
        forecast_topic=topics.forecast,
        dispatch_topic=topics.dispatch,
        batch_events=POLL,
        max_events=N_EVENTS,
    )
    return StreamConsumer(config).run().as_dict()


def test_consume_path_against_passthrough(benchmark: Any, loaded: StreamTopics) -> None:
    safe = [passthrough(loaded.brokers, loaded.topic) for _ in range(2)]
    raw = [passthrough(loaded.brokers, loaded.topic, per_poll=False) for _ in range(2)]
    # For reference only (not the bar): the client's default fetch settings.
    plain = [passthrough(loaded.brokers, loaded.topic, tuned=False) for _ in range(2)]
    runs: list[dict[str, Any]] = []
    benchmark.pedantic(lambda: runs.append(vpp_consume(loaded)), rounds=3, iterations=1)

    for r in runs:  # every run did all the work
        assert (r["messages"], r["events"], r["dead_letters"]) == (N_EVENTS, N_EVENTS, 0)
        assert r["forecasts"] == runs[0]["forecasts"]
    rates = sorted(r["events_per_s"] for r in runs)
    # The faster of the two passthroughs is the bar.
    vpp_rate, base_rate = rates[len(rates) // 2], max(*safe, *raw)
    benchmark.extra_info.update(
        {
            "events": N_EVENTS,
            "vpp_events_per_s": vpp_rate,
            "vpp_events_per_s_runs": rates,
            "passthrough_events_per_s": round(base_rate),
            "passthrough_commit_per_poll_events_per_s": [round(b) for b in safe],
            "passthrough_commit_at_end_events_per_s": [round(b) for b in raw],
            "passthrough_default_fetch_settings_events_per_s": [round(b) for b in plain],
            "consumer_fetch_settings": FETCH_CONFIG,
            "ratio_to_passthrough": round(vpp_rate / base_rate, 3),
            "forecast_records": runs[0]["forecasts"],
            "target_events_per_s": 100_000,
            "target_ratio": 0.5,
        }
    )
    print(
        f"\nvpp consume {vpp_rate:,.0f} events/s; passthrough {base_rate:,.0f} events/s; "
        f"ratio {vpp_rate / base_rate:.2f}"
    )
