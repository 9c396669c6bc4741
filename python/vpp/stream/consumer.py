"""The stream service: Kafka telemetry in; records out to Kafka and the store.

For each polled batch, per assigned partition: decode and validate (bad
messages go to the dead-letter topic with the reason in a header), run the
partition's :class:`~vpp.runtime.processor.BatchProcessor`, produce forecast
and dispatch records to their topics and write telemetry, forecasts, dispatch
and SoC to the store (InfluxDB), retrying with backoff while it is down.
At most every ``checkpoint_interval_s`` (and before a partition is given up
or the service stops), once every produce is acknowledged and every write is
done, the consumer checkpoints each partition it applied events to (see
:mod:`vpp.stream.state`) and then commits the offsets, synchronously and
explicitly. Hence at-least-once delivery with idempotent writes: a crash at
any point replays from the last checkpoint, and the replay overwrites the
same points. The interval bounds both the replay after a crash and the
checkpoint traffic, which grows with the state (a live fundamental price
forecaster keeps about 0.8 MB per site).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from vpp.errors import SnapshotError
from vpp.io import Store, Telemetry
from vpp.runtime.processor import BatchOutput, BatchProcessor
from vpp.schema import SIGNALS
from vpp.stream.errors import KafkaErrorHandler, StreamStopped
from vpp.stream.messages import decode_batch
from vpp.stream.polling import FETCH_CONFIG, by_partition, poll_batch, reason_kind
from vpp.stream.records import encode_records
from vpp.stream.state import PartitionState, StateTopic, state_key
from vpp.stream.store_writes import Backoff, write_poll
from vpp.stream.topics import ensure_topic

__all__ = ["FETCH_CONFIG", "ConsumeStats", "ConsumerConfig", "StreamConsumer", "poll_batch"]

log = logging.getLogger("vpp.stream")

#: Longest wait, after a stop was asked for, for Kafka to acknowledge the
#: outputs that the last checkpoint must follow, s.
STOP_GRACE_S = 10.0


@dataclass
class ConsumerConfig:
    """Settings of :class:`StreamConsumer`.

    Attributes:
        brokers: bootstrap servers, ``host:port[,host:port]``.
        group: consumer group id; consumers in one group share the partitions.
        topic: input telemetry topic.
        dlq_topic: dead letters (default ``<topic>.dlq``).
        forecast_topic: forecast records.
        dispatch_topic: dispatch records.
        state_topic: compacted checkpoint topic (default ``<topic>.state``).
        batch_events: most messages per poll.
        poll_timeout_s: how long one poll waits for messages.
        max_events: stop after this many messages (None: run until stopped).
        idle_exit_s: stop after this long without messages (None: never).
        signals: feature-engine signals (every consumer of a group must agree).
        session_timeout_ms: group session timeout (how fast a dead member is noticed).
        max_poll_interval_ms: longest gap between polls before the group
            evicts this consumer, which bounds how long a store outage can
            block a batch without a rebalance.
        process_threads: partitions of one poll processed at once (each
            partition has its own processor; 1 processes them in turn).
        checkpoint_interval_s: least time between two checkpoints (each
            changed partition's state to the state topic, then the offset
            commit); 0 checkpoints after every poll. A crash replays about
            this much of the stream; Kafka Streams' at-least-once default
            (``commit.interval.ms``) is 30 s, vpp's 1 s keeps replays short.
        retry_initial_s: first backoff while the store is down (doubles).
        retry_max_s: longest backoff.
        consumer_config: extra librdkafka consumer settings.
        producer_config: extra librdkafka producer settings.
    """

    brokers: str
    group: str
    topic: str = "grid.telemetry"
    dlq_topic: str | None = None
    forecast_topic: str = "grid.forecast"
    dispatch_topic: str = "grid.dispatch"
    state_topic: str | None = None
    batch_events: int = 10_000
    poll_timeout_s: float = 0.5
    max_events: int | None = None
    idle_exit_s: float | None = None
    signals: tuple[str, ...] = SIGNALS
    session_timeout_ms: int = 6000
    max_poll_interval_ms: int = 600_000
    process_threads: int = 2
    checkpoint_interval_s: float = 1.0
    retry_initial_s: float = 0.2
    retry_max_s: float = 5.0
    consumer_config: dict[str, Any] = field(default_factory=dict)
    producer_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.checkpoint_interval_s >= 0 and self.checkpoint_interval_s != float("inf")):
            from vpp.errors import ParameterError

            raise ParameterError(
                "invalid parameter: checkpoint_interval_s: must be finite and not negative, "
                f"got {self.checkpoint_interval_s}"
            )
        self.dlq_topic = self.dlq_topic or f"{self.topic}.dlq"
        self.state_topic = self.state_topic or f"{self.topic}.state"


@dataclass
class ConsumeStats:
    """Counters of one :meth:`StreamConsumer.run`."""

    messages: int = 0
    events: int = 0
    dead_letters: int = 0
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)
    forecasts: int = 0
    dispatch: int = 0
    soc: int = 0
    store_points: int = 0
    store_retries: int = 0
    batches: int = 0
    checkpoints: int = 0
    checkpoint_bytes: int = 0
    commits: int = 0
    assignments: int = 0
    restored_partitions: int = 0
    seconds: float = 0.0
    #: From the first message received to the end (excludes joining the group).
    active_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (reasons keyed by their first words)."""
        out = {k: v for k, v in self.__dict__.items() if k != "dead_letter_reasons"}
        out["dead_letter_reasons"] = dict(self.dead_letter_reasons)
        busy = self.active_seconds
        out["events_per_s"] = round(self.messages / busy) if busy > 0 else None
        return out


class StreamConsumer:
    """Consume telemetry, process it per partition and commit after the writes.

    Args:
        config: the settings.
        store: where records are written (an :class:`~vpp.io.store_influx.InfluxStore`,
            or any store); None writes nothing (benchmarks, topic-only runs).
        new_processor: builds a fresh processor for a partition; the default
            uses the default feature spec over ``config.signals``.
        errors: the Kafka error callbacks.
    """

    def __init__(
        self,
        config: ConsumerConfig,
        store: Store | None = None,
        new_processor: Callable[[], BatchProcessor] | None = None,
        errors: KafkaErrorHandler | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.new_processor = new_processor or (
            lambda: BatchProcessor.for_signals(list(config.signals))
        )
        self.errors = errors or KafkaErrorHandler()
        self.stats = ConsumeStats()
        self.parts: dict[int, PartitionState] = {}
        # Partitions with events applied since their last checkpoint.
        self._dirty: dict[int, PartitionState] = {}
        self._last_checkpoint = time.monotonic()
        self._state = StateTopic(config.brokers, str(config.state_topic))
        self._stop = False
        self._stop_at = 0.0
        self._last_activity = time.monotonic()
        self._delivery_errors: list[tuple[Any, Any]] = []
        self._consumer: Any = None
        self._producer: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._retry = Backoff(
            config.retry_initial_s,
            config.retry_max_s,
            stopping=lambda: self._stop,
            serve=lambda: self._producer.poll(0.1),
        )

    def stop(self) -> None:
        """Ask :meth:`run` to finish the batch in hand, checkpoint, commit and return."""
        self._stop_at = time.monotonic()
        self._stop = True

    # -- main loop ---------------------------------------------------------------
    def run(self) -> ConsumeStats:
        """Consume until stopped, ``max_events`` or ``idle_exit_s``; returns the counters.

        Raises:
            StreamStopped: an error callback chose to stop (nothing after
                the last checkpoint is committed).
        """
        from confluent_kafka import Consumer, Producer

        cfg = self.config
        self._state.ensure()
        for name in (cfg.dlq_topic, cfg.forecast_topic, cfg.dispatch_topic):
            ensure_topic(cfg.brokers, str(name), 1 if name == cfg.dlq_topic else 4)
        self._consumer = Consumer(
            {
                "bootstrap.servers": cfg.brokers,
                "group.id": cfg.group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": cfg.session_timeout_ms,
                "max.poll.interval.ms": cfg.max_poll_interval_ms,
                **FETCH_CONFIG,
                "error_cb": self.errors.client_error,
                **cfg.consumer_config,
            }
        )
        self._producer = Producer(
            {
                "bootstrap.servers": cfg.brokers,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "queue.buffering.max.messages": 1_000_000,
                "message.max.bytes": 64 * 1024 * 1024,
                "error_cb": self.errors.client_error,
                **cfg.producer_config,
            }
        )
        self._consumer.subscribe(
            [cfg.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        if cfg.process_threads > 1:
            self._pool = ThreadPoolExecutor(cfg.process_threads, thread_name_prefix="vpp-part")
        t0 = time.perf_counter()
        t_first: float | None = None
        self._last_activity = self._last_checkpoint = time.monotonic()
        next_log = time.monotonic() + 5.0
        try:
            while not self._stop:
                msgs = poll_batch(self._consumer, cfg.batch_events, cfg.poll_timeout_s)
                now = time.monotonic()
                if not msgs:
                    self._checkpoint_due(now)  # a quiet stream still commits what it applied
                    if not self.parts:
                        # Idle time counts only while partitions are assigned:
                        # joining can wait out a dead member's session.
                        self._last_activity = now
                    elif (
                        cfg.idle_exit_s is not None and now - self._last_activity > cfg.idle_exit_s
                    ):
                        log.info("no messages for %.1f s: exiting", cfg.idle_exit_s)
                        break
                    continue
                self._last_activity = now
                if t_first is None:
                    t_first = time.perf_counter()
                self._process(msgs)
                self._checkpoint_due(time.monotonic())
                if now >= next_log:
                    next_log = now + 5.0
                    log.info(
                        "consumed %d messages (%d dead letters), %.0f/s",
                        self.stats.messages,
                        self.stats.dead_letters,
                        self.stats.messages / max(time.perf_counter() - t0, 1e-9),
                    )
                if cfg.max_events is not None and self.stats.messages >= cfg.max_events:
                    break
            self._checkpoint(list(self._dirty.values()))
        finally:
            # After an error nothing uncommitted may be checkpointed, not even
            # by the revoke callback that closing the consumer runs.
            self._dirty.clear()
            t_end = time.perf_counter()
            self.stats.seconds = t_end - t0
            self.stats.active_seconds = t_end - t_first if t_first is not None else 0.0
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            self._producer.flush(30)
            self._consumer.close()
        return self.stats

    def _process(self, msgs: list[Any]) -> None:
        """One poll: process per partition, produce the records, write the store."""
        touched: list[PartitionState] = []
        written: list[tuple[Telemetry, BatchOutput]] = []
        dead: list[tuple[Any, str]] = []
        pending: list[tuple[Telemetry, Any]] = []
        for p, pm, values, keys in by_partition(msgs, self.errors):
            st = self.parts.get(p)
            if st is None:  # revoked while the poll was in flight: its new owner reads it
                continue
            dec = decode_batch(values, keys, st.last_ts)
            self.stats.messages += len(pm)
            for pos, reason in dec.rejects:
                dead.append((pm[pos], reason))
            if len(dec.index):
                tel = dec.telemetry()
                # Partitions have their own processors, and the native batch
                # call releases the GIL: one partition computes while the
                # next is decoded. Results are taken in poll order below.
                pending.append((tel, self._submit(st.processor.process, tel)))
            st.next_offset = pm[-1].offset() + 1
            touched.append(st)
        for tel, job in pending:
            out = job.result() if isinstance(job, Future) else job
            self.stats.events += len(tel)
            self._emit(out)
            written.append((tel, out))
        if not touched:
            return
        for msg, reason in dead:
            self._dead_letter(msg, reason)
        if self.store is not None:
            self._write_store(written, dead)
        self._producer.poll(0)  # serve delivery reports; acknowledgements wait for the checkpoint
        for st in touched:
            self._dirty[st.partition] = st
        self.stats.batches += 1

    def _checkpoint_due(self, now: float) -> None:
        """Checkpoint the changed partitions once the interval has passed."""
        if self._dirty and now - self._last_checkpoint >= self.config.checkpoint_interval_s:
            self._checkpoint(list(self._dirty.values()))

    def _checkpoint(self, states: list[PartitionState]) -> None:
        """Wait for every output, write the states, wait for them, commit the offsets."""
        if not states:
            return
        self._flush()
        for st in states:
            key = state_key(self.config.topic, st.partition, self.config.group)
            blob = st.to_bytes()
            self.stats.checkpoint_bytes += len(blob)
            self._produce(str(self.config.state_topic), key, blob)
        self._flush()
        self._commit(states)
        self.stats.checkpoints += 1
        for st in states:
            self._dirty.pop(st.partition, None)
        self._last_checkpoint = time.monotonic()

    def _submit(self, fn: Callable[[Telemetry], BatchOutput], tel: Telemetry) -> Any:
        """``fn(tel)`` on the worker pool (a Future), or at once without one."""
        if self._pool is None:
            return fn(tel)
        return self._pool.submit(fn, tel)

    # -- outputs -------------------------------------------------------------------
    def _emit(self, out: BatchOutput) -> None:
        cfg = self.config
        if out.forecasts is not None and len(out.forecasts):
            self.stats.forecasts += len(out.forecasts)
            for key, value in encode_records(out.forecasts):
                self._produce(cfg.forecast_topic, key, value)
        if out.dispatch is not None and len(out.dispatch):
            self.stats.dispatch += len(out.dispatch)
            for key, value in encode_records(out.dispatch):
                self._produce(cfg.dispatch_topic, key, value)
        if out.soc is not None:
            self.stats.soc += len(out.soc)

    def _dead_letter(self, msg: Any, reason: str) -> None:
        self.stats.dead_letters += 1
        self.stats.dead_letter_reasons[reason_kind(reason)] += 1
        headers = [
            ("vpp.reason", reason.encode()),
            ("vpp.source.topic", msg.topic().encode()),
            ("vpp.source.partition", str(msg.partition()).encode()),
            ("vpp.source.offset", str(msg.offset()).encode()),
        ]
        self._produce(str(self.config.dlq_topic), msg.key(), msg.value(), headers)

    def _produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[Any] | None = None
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, value, key, headers=headers, on_delivery=self._on_delivery
                )
                return
            except BufferError:  # local queue full: let deliveries drain
                self._producer.poll(0.05)

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._delivery_errors.append((err, msg))

    def _flush(self) -> None:
        """Wait until Kafka acknowledged every produced message.

        After :meth:`stop` it waits :data:`STOP_GRACE_S` more at most: the
        last checkpoint needs the outputs before it, but a Kafka that
        cannot take them must not hold the stop forever.
        """
        while self._producer.flush(1.0) > 0:
            if self._stop and time.monotonic() - self._stop_at > STOP_GRACE_S:
                raise StreamStopped("stopped while waiting for Kafka to acknowledge outputs")
        errors, self._delivery_errors = self._delivery_errors, []
        for err, msg in errors:
            self.errors.produce_error(err, msg)  # raises when the callback says stop

    def _write_store(
        self, written: list[tuple[Telemetry, BatchOutput]], dead: list[tuple[Any, str]]
    ) -> None:
        assert self.store is not None
        self.stats.store_points += write_poll(self.store, written, dead, self._retry)
        self.stats.store_retries = self._retry.retries  # both live as long as the service

    def _commit(self, touched: list[PartitionState]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        offsets = [
            TopicPartition(self.config.topic, st.partition, int(st.next_offset or 0))
            for st in touched
        ]
        try:
            result = self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self.errors.commit_error(exc.args[0], offsets)
            return
        failed = [tp for tp in result or [] if tp.error is not None]
        for tp in failed:
            self.errors.commit_error(tp.error, [tp])
        self.stats.commits += 1

    # -- rebalances ----------------------------------------------------------------
    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        from confluent_kafka import OFFSET_BEGINNING

        cfg = self.config
        self.stats.assignments += 1
        keys = {tp.partition: state_key(cfg.topic, tp.partition, cfg.group) for tp in partitions}
        blobs = self._state.load(keys.values())
        for tp in partitions:
            st = None
            blob = blobs.get(keys[tp.partition])
            if blob is not None:
                try:
                    st = PartitionState.from_bytes(blob, self.new_processor)
                except SnapshotError as exc:
                    log.warning("partition %d: checkpoint unusable (%s)", tp.partition, exc)
            if st is None or st.next_offset is None:
                st = PartitionState(tp.partition, self.new_processor())
                tp.offset = OFFSET_BEGINNING
                log.info("partition %d: no checkpoint, reading from the start", tp.partition)
            else:
                tp.offset = st.next_offset
                self.stats.restored_partitions += 1
                log.info(
                    "partition %d: restored %d site(s) at offset %d",
                    tp.partition,
                    len(st.last_ts),
                    st.next_offset,
                )
            self.parts[tp.partition] = st
        consumer.assign(partitions)
        self._last_activity = time.monotonic()

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        # Hand over what was applied: the new owner resumes from this checkpoint.
        self._checkpoint(
            [self._dirty[tp.partition] for tp in partitions if tp.partition in self._dirty]
        )
        for tp in partitions:
            self.parts.pop(tp.partition, None)
        log.info("revoked partitions %s", sorted(tp.partition for tp in partitions))

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        # Lost, not revoked: another member may own them already, so nothing
        # is committed; it replays from the last checkpoint.
        for tp in partitions:
            self.parts.pop(tp.partition, None)
            self._dirty.pop(tp.partition, None)
        log.warning("lost partitions %s", sorted(tp.partition for tp in partitions))
