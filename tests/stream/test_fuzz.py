"""A seeded stream of malformed messages mixed with valid ones, on the real servers.

Every malformed message must land in the dead-letter topic with a reason that
names its fault and its original key, value, partition and offset; every
valid one must reach InfluxDB with its values; the service must keep going.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from tests.servers import InfluxConn
from tests.stream.helpers import (
    MINUTE_NS,
    T0_NS,
    StreamTopics,
    assert_influx_matches,
    consumer_cmd,
    finish,
    read_topic,
    start_consumer,
)
from vpp.io import Telemetry
from vpp.schema import SIGNALS

pytestmark = [pytest.mark.kafka, pytest.mark.influx, pytest.mark.slow]

SITES = ["north", "south", "east", "west"]

#: Fault kind → words its dead-letter reason must contain.
FAULTS: dict[str, str] = {
    "garbage": "not JSON",
    "truncated": "not JSON",
    "tombstone": "empty message",
    "not_object": "not a JSON object",
    "no_timestamp": "missing timestamp",
    "bad_timestamp": "ts_ns must be integer",
    "bad_iso": "unparseable timestamp",
    "non_numeric": "non-numeric value",
    "unknown_field": "unknown field",
    "unknown_units": "unknown units",
    "out_of_order": "out of order",
    "key_mismatch": "does not match the message key",
    "no_signal": "no signal field",
    "overflow": "not JSON",  # orjson refuses numbers beyond float64
    "ts_range": "out of int64 range",
}


@dataclass
class Sent:
    key: bytes | None
    value: bytes | None
    fault: str | None  # None: valid
    event: tuple[int, str, list[float]] | None = None  # what a valid one means
    partition: int = -1
    offset: int = -1


def _valid(rng: random.Random, site: str, ts: int) -> Sent:
    row = [rng.uniform(-50, 500) if rng.random() > 0.1 else None for _ in SIGNALS]
    doc: dict[str, Any] = {"site": site, **dict(zip(SIGNALS, row, strict=True))}
    if rng.random() < 0.3:  # partial events are valid
        for name in rng.sample(list(SIGNALS), 3):
            doc.pop(name)
    if all(doc.get(s) is None for s in SIGNALS):
        doc["load_mw"] = 1.0  # an event with nothing measured writes no point
    units = rng.choice(["MW", "MW", "kW", None])
    if units is not None:
        doc["units"] = units
    if rng.random() < 0.2:
        doc["timestamp"] = np.datetime_as_string(np.datetime64(ts, "ns")) + "Z"
    else:
        doc["ts_ns"] = ts
    values = [float("nan") if doc.get(s) is None else float(doc[s]) for s in SIGNALS]
    if units == "kW":
        for j, name in enumerate(SIGNALS):
            if name in ("load_mw", "solar_mw", "wind_mw"):
                values[j] /= 1000.0
            elif name == "price_per_mwh":
                values[j] *= 1000.0
    return Sent(site.encode(), orjson.dumps(doc), None, (ts, site, values))


def _malformed(rng: random.Random, fault: str, site: str, next_ts: int, last_ts: int) -> Sent:
    key: bytes | None = site.encode()
    base = {"ts_ns": next_ts, "site": site, "load_mw": 10.0}
    value: bytes | None
    if fault == "garbage":
        value = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))) + b"\xff{"
    elif fault == "truncated":
        value = orjson.dumps(base)[: rng.randrange(1, 20)]
    elif fault == "tombstone":
        value = None
    elif fault == "not_object":
        value = orjson.dumps(rng.choice([[1, 2], 3.5, "text", None, True]))
    elif fault == "no_timestamp":
        value = orjson.dumps({"site": site, "load_mw": 1.0})
    elif fault == "bad_timestamp":
        value = orjson.dumps({**base, "ts_ns": rng.choice([str(next_ts), 1.5e18, True, None])})
    elif fault == "bad_iso":
        doc = {k: v for k, v in base.items() if k != "ts_ns"}
        value = orjson.dumps({**doc, "timestamp": "yesterday at noon"})
    elif fault == "non_numeric":
        bad = rng.choice(["12.5", True, [1.0], {"v": 1}])
        value = orjson.dumps({**base, rng.choice(list(SIGNALS)): bad})
    elif fault == "unknown_field":
        value = orjson.dumps({**base, rng.choice(["load_kw", "foo", "Load_MW"]): 1.0})
    elif fault == "unknown_units":
        value = orjson.dumps({**base, "units": rng.choice(["GW", "mw", "", 5])})
    elif fault == "out_of_order":
        value = orjson.dumps({**base, "ts_ns": last_ts - rng.choice([0, MINUTE_NS])})
    elif fault == "key_mismatch":
        value = orjson.dumps({**base, "site": site + "-other"})
    elif fault == "no_signal":
        value = orjson.dumps({"ts_ns": next_ts, "site": site})
    elif fault == "ts_range":
        value = orjson.dumps({**base, "ts_ns": 2**63})
    elif fault == "overflow":
        value = orjson.dumps(base).replace(b"10.0", b"1" + b"0" * 400 + b".0")
    else:
        raise AssertionError(fault)
    if rng.random() < 0.2 and fault not in ("key_mismatch", "out_of_order"):
        key = None
    return Sent(key, value, fault)


def generate(n: int, seed: int) -> list[Sent]:
    """``n`` messages, about a third of them malformed, in a reproducible order."""
    rng = random.Random(seed)
    last = {s: T0_NS for s in SITES}
    seen: set[str] = set()  # sites with a valid event: only they can go back in time
    out: list[Sent] = []
    faults = list(FAULTS)
    for _ in range(n):
        site = rng.choice(SITES)
        next_ts = last[site] + MINUTE_NS * rng.randint(1, 3)
        if rng.random() < 0.35:
            fault = rng.choice(faults)
            if fault == "out_of_order" and site not in seen:
                fault = "no_signal"
            out.append(_malformed(rng, fault, site, next_ts, last[site]))
        else:
            out.append(_valid(rng, site, next_ts))
            last[site] = next_ts
            seen.add(site)
    return out


def _send(brokers: str, topic: str, msgs: list[Sent]) -> None:
    from confluent_kafka import Producer

    def delivered(err: Any, msg: Any, sent: Sent) -> None:
        assert err is None, err
        sent.partition, sent.offset = msg.partition(), msg.offset()

    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})
    for m in msgs:
        producer.produce(topic, m.value, m.key, on_delivery=lambda e, k, m=m: delivered(e, k, m))
    assert producer.flush(60) == 0


def test_fuzzed_malformed_messages_go_to_the_dlq_with_reasons(
    topics: StreamTopics, influx_fresh: InfluxConn, tmp_path: Path
) -> None:
    msgs = generate(3000, seed=66)
    _send(topics.brokers, topics.topic, msgs)
    bad = {(m.partition, m.offset): m for m in msgs if m.fault is not None}
    good = [m for m in msgs if m.fault is None]
    assert len(set(m.fault for m in bad.values())) == len(FAULTS)  # every kind is exercised

    log = tmp_path / "consumer.log"
    group = f"fuzz.{uuid.uuid4().hex[:8]}"
    cmd = consumer_cmd(topics, group, influx_fresh, "--batch-events", "500", "--idle-exit-s", "4")
    summary = finish(start_consumer(cmd, log), log)

    assert summary["messages"] == len(msgs)
    assert summary["events"] == len(good)
    assert summary["dead_letters"] == len(bad)
    dlq = read_topic(topics.brokers, topics.dlq)
    assert len(dlq) == len(bad)
    from vpp.io.store_influx import InfluxStore

    with InfluxStore(influx_fresh.url, bucket=influx_fresh.bucket) as store:
        assert store.count("dead_letter") == len(bad)  # also kept in the store, once each
        assert {d["reason"] for d in store.dead_letters(limit=len(bad))} == {
            v.decode() for d in dlq for k, v in d.headers() if k == "vpp.reason"
        }
    for d in dlq:
        headers = {k: v.decode() for k, v in d.headers()}
        pos = (int(headers["vpp.source.partition"]), int(headers["vpp.source.offset"]))
        assert headers["vpp.source.topic"] == topics.topic
        sent = bad.pop(pos)
        assert (d.key(), d.value()) == (sent.key, sent.value)
        assert FAULTS[str(sent.fault)] in headers["vpp.reason"], (sent.fault, headers)
    assert not bad

    events = [m.event for m in good if m.event is not None]
    tel = Telemetry(
        np.array([e[0] for e in events], dtype=np.int64),
        np.array([e[1] for e in events], dtype=object),
        np.array([e[2] for e in events]),
        list(SIGNALS),
    )
    assert_influx_matches(influx_fresh, tel)
