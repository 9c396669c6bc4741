"""Streaming on Kafka: ``vpp produce`` and the ``vpp consume`` service.

* :mod:`vpp.stream.messages`: the event message format; batch decoding and validation.
* :mod:`vpp.stream.consumer`: :class:`StreamConsumer`, the service loop.
* :mod:`vpp.stream.state`: per-partition state and its checkpoints.
* :mod:`vpp.stream.records`: forecast/dispatch records on output topics.
* :mod:`vpp.stream.errors`: Kafka error callbacks (skip or stop).
* :mod:`vpp.stream.producer`: publishing telemetry.

Everything here needs the ``stream`` extra (confluent-kafka, influxdb-client).
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
