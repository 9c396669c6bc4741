"""100,000 events through vpp produce → Kafka → vpp consume → InfluxDB and output topics."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.servers import InfluxConn
from tests.stream.helpers import (
    ROOT,
    StreamTopics,
    assert_features_equal_uninterrupted,
    assert_influx_matches,
    checkpoints,
    consumer_cmd,
    finish,
    output_records,
    read_topic,
    start_consumer,
    synthetic_telemetry,
)
from vpp.io import Telemetry
from vpp.runtime.processor import BatchProcessor
from vpp.schema import SIGNALS

pytestmark = [pytest.mark.kafka, pytest.mark.influx, pytest.mark.slow]

N_EVENTS = 100_000


def _reference_records(tel: Telemetry, site_partition: dict[str, int]) -> dict[str, pd.DataFrame]:
    """Forecast and dispatch records of an uninterrupted in-process run per partition."""
    out: dict[str, list[pd.DataFrame]] = {"forecasts": [], "dispatch": []}
    part = np.array([site_partition[s] for s in tel.sites.tolist()])
    for p in sorted(set(site_partition.values())):
        rows = np.flatnonzero(part == p)
        sub = Telemetry(tel.ts_ns[rows], tel.sites[rows], tel.values[rows], tel.signals)
        res = BatchProcessor.for_signals(list(SIGNALS)).process(sub)
        for name in out:
            df = getattr(res, name)
            if df is not None and len(df):
                out[name].append(df)
    return {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in out.items()}


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("site", "target", "unit", "agent", "horizon_steps", "ts_ns") if c in df]
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


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

    # Output topics carry exactly the records of an uninterrupted in-process run.
    site_partition = {s: p for p, st in checkpoints(topics, group).items() for s in st.last_ts}
    want = _reference_records(sent, site_partition)
    for name, topic in (("forecasts", topics.forecast), ("dispatch", topics.dispatch)):
        got = output_records(topics.brokers, topic)
        assert summary[name] == len(want[name])
        assert len(got) == len(want[name]), name
        if len(got):
            g, w = _sorted(got), _sorted(want[name])
            for col in w.columns:
                if w[col].dtype.kind in "fiu":
                    np.testing.assert_allclose(g[col].to_numpy(float), w[col].to_numpy(float))
                else:
                    assert g[col].astype(str).tolist() == w[col].astype(str).tolist(), col
