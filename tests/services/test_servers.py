"""The real servers from scripts/services answer the clients the service uses."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer
from influxdb_client import InfluxDBClient, Point
from influxdb_client.client.write_api import SYNCHRONOUS

from tests.servers import InfluxConn

T0_NS = 1_700_000_000_000_000_000
SECOND_NS = 1_000_000_000


def _consume(brokers: str, topic: str, n: int) -> list[tuple[bytes, bytes, int]]:
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"g.{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            # librdkafka's 45 s default delays the first assignment noticeably.
            "session.timeout.ms": 6000,
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got: list[tuple[bytes, bytes, int]] = []
    try:
        for _ in range(120):  # at most ~60 s of polling
            for msg in consumer.consume(num_messages=n, timeout=0.5):
                assert msg.error() is None, msg.error()
                got.append((msg.key(), msg.value(), msg.partition()))
            if len(got) >= n:
                break
    finally:
        consumer.close()
    return got


@pytest.mark.kafka
def test_kafka_round_trip_keeps_each_key_on_one_partition(
    kafka_brokers: str, kafka_topic: str
) -> None:
    sites = [f"site-{i}".encode() for i in range(8)]
    sent = [(sites[i % len(sites)], f"event-{i}".encode()) for i in range(200)]
    producer = Producer({"bootstrap.servers": kafka_brokers, "linger.ms": 5})
    for key, value in sent:
        producer.produce(kafka_topic, key=key, value=value)
    assert producer.flush(30) == 0

    got = _consume(kafka_brokers, kafka_topic, len(sent))

    assert sorted((k, v) for k, v, _ in got) == sorted(sent)
    partitions_by_key: dict[bytes, set[int]] = {}
    for key, _, partition in got:
        partitions_by_key.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in partitions_by_key.values())
    assert len({p for ps in partitions_by_key.values() for p in ps}) > 1
    # Within one key (one partition) order is what was produced.
    for key in sites:
        assert [v for k, v, _ in got if k == key] == [v for k, v in sent if k == key]


def _write(conn: InfluxConn, points: list[Point]) -> None:
    with InfluxDBClient(url=conn.url, token=conn.token, org=conn.org) as client:
        client.write_api(write_options=SYNCHRONOUS).write(bucket=conn.bucket, record=points)


def _points(site: str, values: list[float], t0_ns: int = T0_NS) -> list[Point]:
    return [
        Point("telemetry").tag("site", site).field("load_mw", v).time(t0_ns + i * SECOND_NS)
        for i, v in enumerate(values)
    ]


@pytest.mark.influx
def test_influx_v2_write_then_flux_query(influx_fresh: InfluxConn) -> None:
    if not influx_fresh.flux:
        pytest.skip("server started with VPP_INFLUX_FLUX=0")
    _write(influx_fresh, _points("a", [1.5, 2.5, 3.5]) + _points("b", [10.0]))

    with InfluxDBClient(url=influx_fresh.url, token=influx_fresh.token, org=influx_fresh.org) as c:
        tables = c.query_api().query(
            f'from(bucket: "{influx_fresh.bucket}") |> range(start: 2023-01-01T00:00:00Z)'
            ' |> filter(fn: (r) => r._measurement == "telemetry" and r.site == "a")'
        )
    records = [r for t in tables for r in t.records]
    assert [r.get_value() for r in records] == [1.5, 2.5, 3.5]
    assert [int(r.get_time().timestamp()) * SECOND_NS for r in records] == [
        T0_NS + i * SECOND_NS for i in range(3)
    ]


@pytest.mark.influx
def test_influx_same_series_and_time_overwrites(influx_fresh: InfluxConn) -> None:
    # The consumer's at-least-once replay relies on this: a rewritten point
    # replaces the old one instead of adding a duplicate.
    _write(influx_fresh, _points("a", [1.0, 2.0]))
    _write(influx_fresh, _points("a", [1.0, 7.0]))

    (result,) = influx_fresh.influxql('SELECT "load_mw" FROM "telemetry" WHERE "site" = \'a\'')
    (series,) = result["series"]
    assert series["values"] == [[T0_NS, 1.0], [T0_NS + SECOND_NS, 7.0]]


@pytest.mark.influx
def test_influx_bad_database_is_an_error(influx: InfluxConn) -> None:
    missing = influx.with_database(f"missing_{uuid.uuid4().hex[:8]}")
    with pytest.raises(RuntimeError, match="database not found"):
        missing.influxql('SELECT * FROM "telemetry"')
