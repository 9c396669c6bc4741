"""Creating the service's topics up front (so nothing depends on broker auto-creation)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ensure_topic"]


def ensure_topic(
    brokers: str, name: str, partitions: int = 1, config: Mapping[str, str] | None = None
) -> bool:
    """Create topic ``name`` unless it exists; returns True if it was created.

    Raises:
        confluent_kafka.KafkaException: the broker refused for another reason.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": brokers})
    if name in admin.list_topics(timeout=30).topics:
        return False
    spec = NewTopic(
        name, num_partitions=partitions, replication_factor=1, config=dict(config or {})
    )
    try:
        admin.create_topics([spec])[name].result(timeout=30)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
        return False
    return True
