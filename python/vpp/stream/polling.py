"""Reading a poll's worth of messages and splitting it by partition."""

from __future__ import annotations

from itertools import pairwise
from typing import Any, cast

import numpy as np

from vpp.stream.errors import KafkaErrorHandler

__all__ = ["FETCH_CONFIG", "by_partition", "poll_batch", "reason_kind"]

#: Consumer settings for throughput. librdkafka (2.x) postpones a partition's
#: next fetch by ``fetch.queue.backoff.ms`` (default 1000) once its local
#: queue passed ``queued.min.messages``, which held consumption of a backlog
#: near 170k messages/s on the benchmark machine; 10 ms keeps the queue fed
#: (850k/s consume-only). Memory stays capped by ``queued.max.messages.kbytes``.
FETCH_CONFIG: dict[str, Any] = {"fetch.queue.backoff.ms": 10}


def reason_kind(reason: str) -> str:
    """Group dead-letter reasons for counting: the text before the first detail."""
    for sep in (":", " (", " {", " ["):
        reason = reason.split(sep, 1)[0]
    return reason.split(" for site", 1)[0][:60]


def poll_batch(consumer: Any, max_messages: int, timeout_s: float) -> list[Any]:
    """Up to ``max_messages`` messages: whatever is queued, else the first to arrive
    within ``timeout_s`` and whatever is queued behind it.

    A batch ``consume(n, timeout)`` waits until it has ``n`` messages or the
    timeout passes, so a poll that cannot fill up (the end of a backlog, a
    slow stream) would sit out the whole timeout with events in hand; this
    never waits while messages are available.
    """
    msgs = consumer.consume(num_messages=max_messages, timeout=0)
    if msgs:
        return list(msgs)
    first = consumer.poll(timeout_s)
    if first is None:
        return []
    rest = consumer.consume(num_messages=max_messages - 1, timeout=0) if max_messages > 1 else []
    return [first, *rest]


def by_partition(
    msgs: list[Any], errors: KafkaErrorHandler
) -> list[tuple[int, list[Any], list[bytes | None], list[bytes | None]]]:
    """Split a poll by partition, in order: ``(partition, messages, values, keys)``.

    A poll holds a few runs of consecutive messages per partition (one per
    fetch), so the lists are cut at run boundaries and the per-message work
    is the C-level attribute reads; error events go to ``errors``.
    """
    from confluent_kafka import Message

    if any(map(Message.error, msgs)):
        for m in msgs:
            err = m.error()
            if err is not None:
                errors.consume_error(err, m)
        msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            return []
    # Fetched messages always carry their partition (None only on events).
    parts = cast("list[int]", list(map(Message.partition, msgs)))
    values = list(map(Message.value, msgs))
    keys = list(map(Message.key, msgs))
    if parts[0] == parts[-1] and parts.count(parts[0]) == len(parts):
        return [(parts[0], msgs, values, keys)]
    arr = np.asarray(parts)
    cuts = [0, *(np.flatnonzero(arr[1:] != arr[:-1]) + 1).tolist(), len(parts)]
    groups: dict[int, tuple[list[Any], list[bytes | None], list[bytes | None]]] = {}
    for a, b in pairwise(cuts):
        pm, pv, pk = groups.setdefault(parts[a], ([], [], []))
        pm += msgs[a:b]
        pv += values[a:b]
        pk += keys[a:b]
    return [(p, *g) for p, g in groups.items()]
