"""``vpp produce``: twin events to Kafka, one JSON message per event keyed by site."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from tests.stream.helpers import ROOT, read_topic
from vpp.stream.messages import decode_batch

pytestmark = pytest.mark.kafka


def test_produce_twin_at_a_rate_delivers_every_event(kafka_brokers: str, kafka_topic: str) -> None:
    cmd = [sys.executable, "-m", "vpp.cli.main", "produce", "--twin", "--days", "0.25"]
    cmd += ["--resolution", "5min", "--sites", "3", "--seed", "4", "-q"]
    cmd += ["--brokers", kafka_brokers, "--topic", kafka_topic, "--rate", "2000"]
    done = subprocess.run(cmd, capture_output=True, cwd=ROOT, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    summary = orjson.loads(done.stdout)
    n = summary["events"]
    assert n == 3 * 72  # a quarter day of 5-minute steps for three sites
    assert summary["seconds"] >= (n - 1) / 2000 * 0.9  # paced, not sent at once

    msgs = read_topic(kafka_brokers, kafka_topic)
    assert len(msgs) == n
    by_partition: dict[int, list] = {}
    for m in msgs:
        by_partition.setdefault(m.partition(), []).append(m)
    last: dict[str, int] = {}
    for part in by_partition.values():
        part.sort(key=lambda m: m.offset())
        d = decode_batch([m.value() for m in part], [m.key() for m in part], last)
        assert d.rejects == []  # valid, keyed by their site, in time order per site
    assert sorted(last) == summary["sites"]


def test_produce_needs_an_input(kafka_brokers: str) -> None:
    cmd = [sys.executable, "-m", "vpp.cli.main", "produce", "--brokers", kafka_brokers]
    done = subprocess.run(cmd, capture_output=True, cwd=ROOT, timeout=120, check=False)
    assert done.returncode != 0
    assert b"--input" in done.stderr
