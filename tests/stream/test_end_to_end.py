"""100,000 events through vpp produce → Kafka → vpp consume → InfluxDB and output topics."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.servers import InfluxConn
from tests.stream.helpers import (
    ROOT,
    StreamTopics,
    assert_features_equal_uninterrupted,
    assert_influx_matches,
    assert_influx_records_match,
    assert_same_records,
    checkpoints,
    consumer_cmd,
    finish,
    output_records,
    read_topic,
    reference_records,
    start_consumer,
    synthetic_telemetry,
)

pytestmark = [pytest.mark.kafka, pytest.mark.influx, pytest.mark.slow]

N_EVENTS = 100_000


def test_100k_events_reach_influx_and_output_topics(
    topics: StreamTopics, influx_fresh: InfluxConn, tmp_path: Path
) -> None:
    import subprocess
    import sys

    tel = synthetic_telemetry(N_EVENTS, n_sites=8, seed=6)
    csv = tmp_path / "events.csv"
    tel.to_frame().to_csv(csv, index=False)
    produced = subprocess.run(
        [
            *(sys.executable, "-m", "vpp.cli.main", "produce", "--input", str(csv), "-q"),
            *("--brokers", topics.brokers, "--topic", topics.topic, "--rate", "max"),
        ],
        capture_output=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert produced.returncode == 0, produced.stderr.decode()[-3000:]
    # CSV round trip: compare against what was actually sent.
    from vpp.io import read_telemetry

    sent = read_telemetry(csv)

    group = f"e2e.{uuid.uuid4().hex[:8]}"
    log = tmp_path / "consumer.log"
    proc = start_consumer(consumer_cmd(topics, group, influx_fresh, "--idle-exit-s", "4"), log)
    summary = finish(proc, log)

    assert summary["messages"] == N_EVENTS
    assert summary["events"] == N_EVENTS
    assert summary["dead_letters"] == 0
    assert_influx_matches(influx_fresh, sent)
    assert_features_equal_uninterrupted(topics, group, sent)
    assert read_topic(topics.brokers, topics.dlq) == []

    # Output topics and InfluxDB carry exactly the records of an uninterrupted run.
    want = reference_records(sent, checkpoints(topics, group))
    assert_influx_records_match(influx_fresh, want)
    for name, topic in (("forecasts", topics.forecast), ("dispatch", topics.dispatch)):
        got = output_records(topics.brokers, topic)
        assert summary[name] == len(want[name])
        assert_same_records(got, want[name], name)


@pytest.mark.kafka
def test_consume_into_the_embedded_store(topics: StreamTopics, tmp_path: Path) -> None:
    """The same service writes the same records into SQLite with ``--store``."""
    from vpp.io import open_store
    from vpp.stream.producer import produce_telemetry

    tel = synthetic_telemetry(3000, n_sites=3, seed=12)
    produce_telemetry(tel, topics.brokers, topics.topic)
    db = tmp_path / "store.sqlite"
    group = f"sqlite.{uuid.uuid4().hex[:8]}"
    log = tmp_path / "consumer.log"
    cmd = consumer_cmd(topics, group, None, "--store", f"sqlite:///{db}", "--idle-exit-s", "3")
    summary = finish(start_consumer(cmd, log), log)

    assert summary["events"] == len(tel)
    want = reference_records(tel, checkpoints(topics, group))
    with open_store(db, read_only=True) as store:
        got = store.telemetry_range()
        assert len(got) == len(tel)
        np.testing.assert_array_equal(
            got.sort_values(["site", "ts_ns"])["load_mw"].to_numpy(),
            tel.to_frame().sort_values(["site", "timestamp"])["load_mw"].to_numpy(),
        )
        assert_same_records(store.forecast_range(), want["forecasts"], "sqlite forecast")
