"""Per-partition processing state and its checkpoints on a compacted Kafka topic.

Each input partition has its own :class:`PartitionState`: a
:class:`~vpp.runtime.processor.BatchProcessor` holding the feature state of
the sites keyed to that partition, each site's last accepted timestamp (the
out-of-order reference) and the offset of the next message to apply.

At every commit the consumer writes the partition's checkpoint to the state
topic (``cleanup.policy=compact``, key ``topic:partition:group``), and only
after Kafka acknowledged it commits the offset. The checkpoint holds the
offset it was taken at, so state and position are consistent by construction:
a consumer that gains the partition (rebalance, restart after ``kill -9``)
restores the state and seeks to that offset; events after it are re-read and
re-applied, which yields the same state as an uninterrupted run. With no
checkpoint the partition is re-read from the beginning.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from vpp.errors import SnapshotError
from vpp.runtime.processor import BatchProcessor

__all__ = ["PartitionState", "StateTopic", "state_key"]

log = logging.getLogger("vpp.stream")

_MAGIC = b"VPPPART1"


def state_key(topic: str, partition: int, group: str) -> bytes:
    """Key of a partition's checkpoint on the state topic."""
    return f"{topic}:{partition}:{group}".encode()


@dataclass
class PartitionState:
    """What the consumer keeps for one assigned partition.

    Attributes:
        partition: the input partition.
        processor: features (and further stages) for the partition's sites.
        last_ts: site → timestamp of its last accepted event.
        next_offset: offset of the next message to apply (None: from the start).
    """

    partition: int
    processor: BatchProcessor
    last_ts: dict[str, int] = field(default_factory=dict)
    next_offset: int | None = None

    def to_bytes(self) -> bytes:
        """The checkpoint: a small JSON header, then the processor snapshot."""
        header = orjson.dumps(
            {
                "version": 1,
                "partition": self.partition,
                "next_offset": self.next_offset,
                "last_ts": self.last_ts,
            }
        )
        return b"".join([_MAGIC, struct.pack("<I", len(header)), header, self.processor.snapshot()])

    @classmethod
    def from_bytes(cls, blob: bytes, new_processor: Callable[[], BatchProcessor]) -> PartitionState:
        """Rebuild a partition's state from :meth:`to_bytes`.

        Raises:
            SnapshotError: not a checkpoint, or one taken with another feature spec.
        """
        if blob[:8] != _MAGIC:
            raise SnapshotError("not a vpp partition checkpoint")
        try:
            (hlen,) = struct.unpack_from("<I", blob, 8)
            header = orjson.loads(blob[12 : 12 + hlen])
        except (struct.error, orjson.JSONDecodeError) as exc:
            raise SnapshotError(f"corrupt partition checkpoint: {exc}") from None
        processor = new_processor()
        names = list(processor.engine.feature_names)
        processor.restore(blob[12 + hlen :])
        if list(processor.engine.feature_names) != names:
            raise SnapshotError("checkpoint was taken with another feature spec")
        return cls(
            partition=int(header["partition"]),
            processor=processor,
            last_ts={str(k): int(v) for k, v in header["last_ts"].items()},
            next_offset=header["next_offset"],
        )


class StateTopic:
    """Reads and creates the compacted checkpoint topic.

    Args:
        brokers: bootstrap servers.
        topic: the state topic's name.
    """

    def __init__(self, brokers: str, topic: str) -> None:
        self.brokers = brokers
        self.topic = topic

    def ensure(self) -> None:
        """Create the topic (one partition, compacted) if it does not exist."""
        from vpp.stream.topics import ensure_topic

        # Compact eagerly so a restore reads little more than the latest
        # checkpoint of each partition; checkpoints of many sites are large.
        ensure_topic(
            self.brokers,
            self.topic,
            1,
            {
                "cleanup.policy": "compact",
                "segment.ms": "60000",
                "min.cleanable.dirty.ratio": "0.1",
                "max.message.bytes": str(64 * 1024 * 1024),
            },
        )

    def load(self, keys: Iterable[bytes]) -> dict[bytes, bytes]:
        """Return the latest checkpoint for each of ``keys`` that has one."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

        wanted = set(keys)
        found: dict[bytes, bytes] = {}
        reader = Consumer(
            {
                "bootstrap.servers": self.brokers,
                "group.id": "vpp-state-reader",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.max.bytes": 64 * 1024 * 1024,
            }
        )
        try:
            tp = TopicPartition(self.topic, 0)
            low, high = reader.get_watermark_offsets(tp, timeout=30)
            if high <= low:
                return found
            reader.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
            done = False
            while not done:
                # A batch call waits out its whole timeout unless it fills up,
                # and a compacted topic holds fewer messages than its offsets
                # span: short waits, ended by the end-of-partition event.
                for msg in reader.consume(num_messages=1000, timeout=0.1):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            done = True
                            break
                        log.warning("state topic %s: %s", self.topic, err)
                        continue
                    key = msg.key()
                    if key in wanted:
                        value = msg.value()
                        if value is None:  # a tombstone deletes the checkpoint
                            found.pop(key, None)
                        else:
                            found[key] = value
                    if (msg.offset() or 0) >= high - 1:
                        done = True
                        break
        finally:
            reader.close()
        return found
