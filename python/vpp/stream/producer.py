"""Publishing telemetry to Kafka: one JSON message per event, keyed by site.

Used by ``vpp produce`` and the tests. Events are encoded in chunks with
orjson (:func:`vpp.stream.messages.encode_events`) and sent at a target rate
or as fast as the client takes them; the call returns only after Kafka has
acknowledged every message (``flush``), and raises if any delivery failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vpp.errors import VppError
from vpp.io import Telemetry
from vpp.stream.messages import encode_events

__all__ = ["ProduceResult", "produce_telemetry"]

log = logging.getLogger("vpp.stream")

#: Events encoded and handed to the client at a time.
CHUNK_EVENTS = 5000


@dataclass
class ProduceResult:
    """What :func:`produce_telemetry` sent."""

    events: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        """Achieved rate."""
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def produce_telemetry(
    telemetry: Telemetry,
    brokers: str,
    topic: str = "grid.telemetry",
    rate_per_s: float | None = None,
    on_progress: Callable[[int], None] | None = None,
    producer_config: dict[str, Any] | None = None,
) -> ProduceResult:
    """Send every event of ``telemetry`` to ``topic`` and wait for the acknowledgements.

    Args:
        telemetry: the events, in time order.
        brokers: bootstrap servers.
        topic: destination topic.
        rate_per_s: events per second; None sends as fast as possible.
        on_progress: called with the number of events handed over per chunk.
        producer_config: extra librdkafka settings.

    Raises:
        VppError: a message was not delivered.
    """
    from confluent_kafka import Producer

    failures: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(f"{err} (topic={msg.topic()} partition={msg.partition()})")

    producer = Producer(
        {
            "bootstrap.servers": brokers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
            "on_delivery": on_delivery,
            **(producer_config or {}),
        }
    )
    n = len(telemetry)
    chunk = CHUNK_EVENTS if rate_per_s is None else max(1, min(CHUNK_EVENTS, int(rate_per_s / 20)))
    t0 = time.perf_counter()
    produce = producer.produce
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        keys, values = encode_events(telemetry.slice(start, stop))
        for key, value in zip(keys, values, strict=True):
            try:
                produce(topic, value, key)
            except BufferError:  # local queue full: wait for deliveries, then retry once more
                producer.poll(0.1)
                while True:
                    try:
                        produce(topic, value, key)
                        break
                    except BufferError:
                        producer.poll(0.1)
        producer.poll(0)
        if on_progress is not None:
            on_progress(stop - start)
        if rate_per_s is not None:
            ahead = stop / rate_per_s - (time.perf_counter() - t0)
            if ahead > 0:
                time.sleep(ahead)
        if failures:
            break
    while producer.flush(1.0) > 0:
        pass
    if failures:
        raise VppError(f"{len(failures)} message(s) not delivered, first: {failures[0]}")
    return ProduceResult(events=n, seconds=time.perf_counter() - t0)
