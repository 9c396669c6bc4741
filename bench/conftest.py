"""Fixtures for benchmarks that need the real servers (shared with tests/)."""

# Real-server fixtures: kafka_brokers, kafka_topic, influx, influx_fresh.
from tests.servers import influx, influx_fresh, kafka_brokers, kafka_topic  # noqa: F401
