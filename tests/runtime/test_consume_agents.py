"""``vpp consume`` with configured sites runs the battery agents per partition
and writes the same dispatch and SoC as one uninterrupted in-process run."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.stream.helpers import (
    StreamTopics,
    assert_same_records,
    consumer_cmd,
    finish,
    start_consumer,
    synthetic_telemetry,
    topics,  # noqa: F401 (fixture)
)
from vpp.config import load_config
from vpp.io import Telemetry, open_store
from vpp.runtime.agent_stage import AgentStage
from vpp.runtime.processor import BatchProcessor
from vpp.schema import BATTERY_SOC, SIGNALS

pytestmark = pytest.mark.kafka

SITES = "site_00,site_01,site_02"


def test_consume_dispatches_the_configured_fleet(
    topics: StreamTopics,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vpp.stream.producer import produce_telemetry

    env = {"VPP_SITES_IDS": SITES, "VPP_AGENTS_CONTRACTED_MW": "1.5"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)  # the consumer subprocess inherits them
    grid = synthetic_telemetry(6000, n_sites=3, seed=21)
    # Two sites' batteries report their SoC now and then: the messages carry it.
    soc = np.full(len(grid), np.nan)
    soc[(np.arange(len(grid)) % 397 == 5) & (grid.sites != "site_02")] = 0.33
    tel = Telemetry(
        grid.ts_ns, grid.sites, np.column_stack([grid.values, soc]), [*grid.signals, BATTERY_SOC]
    )
    produce_telemetry(tel, topics.brokers, topics.topic)
    db = tmp_path / "store.sqlite"
    group = f"agents.{uuid.uuid4().hex[:8]}"
    log = tmp_path / "consumer.log"
    cmd = consumer_cmd(topics, group, None, "--store", f"sqlite:///{db}", "--idle-exit-s", "3")
    cmd += ["--batch-events", "500"]
    summary = finish(start_consumer(cmd, log), log)
    assert summary["events"] == len(tel)

    # Reference: one processor over all events (sites are independent).
    cfg = load_config(env=env)
    stage = AgentStage(cfg.battery, cfg.agents, sites=SITES.split(","))
    proc = BatchProcessor.for_signals(list(SIGNALS), agents=stage)
    want = proc.process(tel)
    assert len(want.dispatch) > 0
    assert proc.describe()["agents"]["soc_readings"] == int(np.isfinite(soc).sum()) > 5
    # The readings change the dispatch, so matching it below shows they came
    # through Kafka.
    alone = AgentStage(cfg.battery, cfg.agents, sites=SITES.split(","))
    plain = BatchProcessor.for_signals(list(SIGNALS), agents=alone).process(grid).dispatch
    assert len(plain) != len(want.dispatch) or not np.allclose(
        plain["power_mw"].to_numpy(), want.dispatch["power_mw"].to_numpy()
    )
    with open_store(db, read_only=True) as store:
        dispatch = store.dispatch_range()
        soc = store.soc_latest()
        fleet_of_record = store.get_meta("fleet_config")
    # The fleet of record for vpp mcp, as vpp run writes it.
    assert fleet_of_record == stage.meta()
    assert summary["dispatch"] == len(want.dispatch)
    assert_same_records(dispatch, want.dispatch, "sqlite dispatch")
    # The latest SoC of every unit, as the MCP server reads it.
    got = {(str(s), str(u)): e for s, u, e in soc[["site", "unit", "energy_mwh"]].to_numpy()}
    ref = {(str(s), str(u)): e for s, u, e in want.soc[["site", "unit", "energy_mwh"]].to_numpy()}
    assert got.keys() == ref.keys() and len(got) == 3
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key


@pytest.mark.parametrize(
    ("scope", "published"), [("fleet", False), ("site", False), ("fleet", True)]
)
def test_consume_trades_on_the_fundamental_forecaster_across_a_restart(
    topics: StreamTopics,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scope: str,
    published: bool,
) -> None:
    import pandas as pd

    from tests.stream.helpers import read_topic
    from vpp import twin
    from vpp.agents.published_feed import read_feed
    from vpp.stream.producer import produce_telemetry
    from vpp.twin.forecast_feed import published_forecasts

    sites = "site_00,site_01,site_02"
    env = {
        "VPP_SITES_IDS": sites,
        "VPP_AGENTS_PRICE_FORECASTER": "fundamental",
        "VPP_AGENTS_PRICE_FORECAST_SCOPE": scope,
    }
    knobs = {"days": 9, "resolution": "1h", "sites": 3, "seed": 8}
    if published:
        # Each partition's forecaster sums the forecasts of its own sites.
        feed = tmp_path / "feed.csv"
        published_forecasts(**knobs).to_csv(feed, index=False)
        env["VPP_AGENTS_PUBLISHED_FORECASTS"] = str(feed)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    # 9 hourly days: forecasts from day 7 on, so the forecasters' history
    # must come through the checkpoint for the second consumer to trade as one.
    tel = Telemetry.from_frame(twin.generate(**knobs))
    produce_telemetry(tel, topics.brokers, topics.topic)
    db = tmp_path / "store.sqlite"
    group = f"fundamental.{uuid.uuid4().hex[:8]}"
    log = tmp_path / "consumer.log"
    cmd = consumer_cmd(topics, group, None, "--store", f"sqlite:///{db}", "--batch-events", "40")
    first = finish(start_consumer([*cmd, "--max-events", "400"], log), log)
    second = finish(start_consumer([*cmd, "--idle-exit-s", "3"], log), log)
    assert first["events"] + second["events"] == len(tel)

    # Reference: one uninterrupted processor per partition over its events
    # (with the fleet scope a partition's fleet totals are its own sites').
    part = {m.key().decode(): m.partition() for m in read_topic(topics.brokers, topics.topic)}
    assert len(set(part.values())) < 3  # some partition carries two sites' fleet totals
    cfg = load_config(env=env)
    want, forecasts = [], 0
    for p in sorted(set(part.values())):
        rows = np.flatnonzero([part[s] == p for s in tel.sites.tolist()])
        sub = Telemetry(tel.ts_ns[rows], tel.sites[rows], tel.values[rows], tel.signals)
        table = read_feed(str(feed)) if published else None
        stage = AgentStage(cfg.battery, cfg.agents, sites=sites.split(","), published=table)
        proc = BatchProcessor.for_signals(list(SIGNALS), agents=stage)
        want.append(proc.process(sub).dispatch)
        described = proc.describe()["agents"]["price_forecaster"]
        forecasts += described["forecasts"]
        # The partition's feed: 24 hours a day of the summed forecasts.
        assert described["published_forecasts"] == (9 * 24 if published else 0)
    # 48 hours after the warm-up: per forecaster, one per partition or per site.
    assert forecasts == 48 * (len(set(part.values())) if scope == "fleet" else 3)
    with open_store(db, read_only=True) as store:
        dispatch = store.dispatch_range()
    assert_same_records(dispatch, pd.concat(want, ignore_index=True), "sqlite dispatch")
