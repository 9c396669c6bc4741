"""Kafka error handling for the stream service, in one place.

Every error the consumer meets (a poll error, a failed delivery, a failed
commit, a client-level error) goes through :class:`KafkaErrorHandler`, which
logs it with topic, partition and offset and asks a typed callback whether to
:attr:`ErrorAction.SKIP` it or :attr:`ErrorAction.STOP` the service. Stopping
raises :class:`StreamStopped`; the batch in flight is then not committed, so
a restart replays it (writes are idempotent).

The defaults: fatal client errors stop; a failed delivery stops (an output
or dead letter that Kafka did not take cannot be committed past); poll errors
that are not fatal and commit errors caused by a rebalance are skipped.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ErrorAction",
    "KafkaErrorHandler",
    "StreamStopped",
    "default_on_commit_error",
    "default_on_consume_error",
    "default_on_produce_error",
]

log = logging.getLogger("vpp.stream")


class ErrorAction(enum.Enum):
    """What to do about an error."""

    SKIP = "skip"
    STOP = "stop"


class StreamStopped(RuntimeError):
    """Raised when an error callback decided to stop the service."""


def _where(topic: str | None, partition: int | None, offset: int | None) -> str:
    return f"topic={topic} partition={partition} offset={offset}"


def default_on_consume_error(error: Any, message: Any | None) -> ErrorAction:
    """Stop on fatal errors; skip the rest (librdkafka retries by itself)."""
    return ErrorAction.STOP if error.fatal() else ErrorAction.SKIP


def default_on_produce_error(error: Any, message: Any) -> ErrorAction:
    """Stop: a record Kafka did not take must not be committed past."""
    return ErrorAction.STOP


def default_on_commit_error(error: Any, offsets: Sequence[Any]) -> ErrorAction:
    """Skip errors from a rebalance (the new owner replays from its snapshot); stop otherwise."""
    from confluent_kafka import KafkaError

    rebalance_codes = {
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError._ASSIGNMENT_LOST,
        KafkaError._STATE,
        KafkaError._NO_OFFSET,
    }
    return ErrorAction.SKIP if error.code() in rebalance_codes else ErrorAction.STOP


@dataclass
class KafkaErrorHandler:
    """Routes Kafka errors to typed callbacks and logs each with its position.

    Attributes:
        on_consume_error: ``(KafkaError, Message | None) -> ErrorAction``.
        on_produce_error: ``(KafkaError, Message) -> ErrorAction``.
        on_commit_error: ``(KafkaError, list[TopicPartition]) -> ErrorAction``.
        counts: errors seen, by kind (``consume``, ``produce``, ``commit``, ``client``).
    """

    on_consume_error: Callable[[Any, Any | None], ErrorAction] = default_on_consume_error
    on_produce_error: Callable[[Any, Any], ErrorAction] = default_on_produce_error
    on_commit_error: Callable[[Any, Sequence[Any]], ErrorAction] = default_on_commit_error
    counts: dict[str, int] = field(
        default_factory=lambda: {"consume": 0, "produce": 0, "commit": 0, "client": 0}
    )

    def consume_error(self, error: Any, message: Any | None = None) -> None:
        """Handle an error returned by poll/consume (``message.error()``)."""
        from confluent_kafka import KafkaError

        if error.code() == KafkaError._PARTITION_EOF:
            return
        self.counts["consume"] += 1
        where = (
            _where(message.topic(), message.partition(), message.offset())
            if message is not None
            else _where(None, None, None)
        )
        self._decide("consume", self.on_consume_error(error, message), error, where)

    def produce_error(self, error: Any, message: Any) -> None:
        """Handle a failed delivery report."""
        self.counts["produce"] += 1
        where = _where(message.topic(), message.partition(), message.offset())
        self._decide("produce", self.on_produce_error(error, message), error, where)

    def commit_error(self, error: Any, offsets: Sequence[Any]) -> None:
        """Handle a failed synchronous commit of ``offsets``."""
        self.counts["commit"] += 1
        where = "; ".join(_where(tp.topic, tp.partition, tp.offset) for tp in offsets)
        self._decide("commit", self.on_commit_error(error, offsets), error, where)

    def client_error(self, error: Any) -> None:
        """The ``error_cb`` of consumers and producers: log; stop only if fatal."""
        self.counts["client"] += 1
        action = ErrorAction.STOP if error.fatal() else ErrorAction.SKIP
        self._decide("client", action, error, "client")

    def _decide(self, kind: str, action: ErrorAction, error: Any, where: str) -> None:
        if action is ErrorAction.STOP:
            log.error("kafka %s error (stopping): %s at %s", kind, error, where)
            raise StreamStopped(f"kafka {kind} error at {where}: {error}")
        log.warning("kafka %s error (skipped): %s at %s", kind, error, where)
