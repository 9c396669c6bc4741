"""Streaming on Kafka: ``vpp produce`` and the ``vpp consume`` service.

* :mod:`vpp.stream.messages`: the event message format; batch decoding and validation.
* :mod:`vpp.stream.consumer`: :class:`StreamConsumer`, the service loop.
* :mod:`vpp.stream.polling`: polls and their split by partition.
* :mod:`vpp.stream.state`: per-partition state and its checkpoints.
* :mod:`vpp.stream.store_writes`: store writes with backoff while it is down.
* :mod:`vpp.stream.records`: forecast/dispatch records on output topics.
* :mod:`vpp.stream.errors`: Kafka error callbacks (skip or stop).
* :mod:`vpp.stream.producer`: publishing telemetry.

Everything here needs the ``stream`` extra (confluent-kafka, influxdb-client).

From the command line (servers from ``scripts/services/up.sh``)::

    vpp produce --twin --days 7 --sites 8 --brokers 127.0.0.1:19092 --rate max
    vpp consume --brokers 127.0.0.1:19092 --group vpp \
        --influx-url http://127.0.0.1:18086 --influx-bucket vpp/autogen --influx-token vpp:vpp

Start several ``vpp consume`` with the same ``--group`` to share the
partitions; SIGTERM finishes the batch in hand, checkpoints, commits and
leaves the group.
Guarantees: at-least-once with idempotent InfluxDB points (a replay after a
crash overwrites, never duplicates); records on the output topics are
at-least-once (a replay may repeat a batch, keyed by site); per-site feature
and forecast state after a rebalance or restart equals an uninterrupted run's.
"""

from vpp.stream.consumer import ConsumerConfig, ConsumeStats, StreamConsumer
from vpp.stream.errors import ErrorAction, KafkaErrorHandler, StreamStopped
from vpp.stream.messages import DecodedBatch, decode_batch, encode_events
from vpp.stream.producer import ProduceResult, produce_telemetry
from vpp.stream.records import decode_records, encode_records

__all__ = [
    "ConsumeStats",
    "ConsumerConfig",
    "DecodedBatch",
    "ErrorAction",
    "KafkaErrorHandler",
    "ProduceResult",
    "StreamConsumer",
    "StreamStopped",
    "decode_batch",
    "decode_records",
    "encode_events",
    "encode_records",
    "produce_telemetry",
]
