"""Published forecasts on the live path and the command line: the live trader
dispatches as the backtest does with the same feed, across a restart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.runtime.helpers import dispatch_of, held_power
from vpp import twin
from vpp.agents import fleet_from_settings
from vpp.agents.backtest import _run_hourly
from vpp.agents.published_feed import FeedFile, PublishedFeed
from vpp.cli.main import main
from vpp.config import AgentSettings, BatterySettings
from vpp.errors import ParameterError
from vpp.io import Telemetry
from vpp.runtime.agent_stage import AgentStage
from vpp.runtime.processor import BatchProcessor
from vpp.twin.forecast_feed import published_forecasts

BATTERY = BatterySettings(units_per_site=1, power_mw=1.0, energy_mwh=2.0)
AGENTS = AgentSettings(price_forecaster="fundamental")
SIGNALS = ("load_mw", "solar_mw", "wind_mw", "temperature_c")
TWIN = {"days": 9, "resolution": "1min", "sites": 1, "seed": 6}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return twin.generate(**TWIN)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return published_forecasts(**TWIN)


def _power(tel: Telemetry, table: pd.DataFrame | None, stop: int | None = None) -> np.ndarray:
    """Each event's fleet power from the dispatch records (held until the next)."""

    def processor() -> BatchProcessor:
        stage = AgentStage(BATTERY, AGENTS, sites=tel.site_ids(), published=table)
        return BatchProcessor.for_signals(tel.signals, model="default", agents=stage)

    return held_power(dispatch_of(processor, tel, 1000, stop)[0], tel.ts_ns)


def test_live_trader_with_a_feed_dispatches_as_the_backtest(
    frame: pd.DataFrame, table: pd.DataFrame
) -> None:
    tel = Telemetry.from_frame(frame)
    power = _power(tel, table)
    setup = fleet_from_settings(BATTERY, AGENTS, tel.site_ids(), default_dt_s=60.0)
    want, _ = _run_hourly(
        setup.agents,
        setup.arbitrage,
        tel.ts_ns,
        frame["frequency_hz"].to_numpy(),
        frame["price_per_mwh"].to_numpy(),
        {k: frame[k].to_numpy() for k in SIGNALS},
        "fundamental",
        0,
        PublishedFeed.from_frame(table),
    )
    np.testing.assert_allclose(power, want, atol=1e-9)
    # The feed moved the trader, and a restart re-attaches it.
    assert np.abs(power - _power(tel, None)).max() > 0.1
    np.testing.assert_allclose(_power(tel, table, stop=11), power, atol=1e-9)


def test_vpp_run_reads_the_twins_feed_and_names_a_misuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--twin", "--days", "8", "--seed", "2", "--price-forecaster", "fundamental"]
    db = f"sqlite:///{tmp_path / 'run.db'}"
    assert main([*argv, "--published-forecasts", "twin", "--store", db, "-q"]) == 0
    plans = json.loads(capsys.readouterr().out)["agents"]["price_forecaster"]
    assert plans["published_forecasts"] == 8 * 24 and plans["forecasts"] == 24
    feed = tmp_path / "feed.csv"
    feed.write_text("issued_at,valid_at\n")
    assert main([*argv, "--published-forecasts", str(feed), "--store", db, "-q"]) == 2
    assert "missing columns ['wind_mw', 'solar_mw']" in capsys.readouterr().err
    tel = tmp_path / "t.csv"
    twin.generate(days=1, resolution="1h").to_csv(tel, index=False)
    bt = ["backtest", "--input", str(tel), "--price-forecaster", "fundamental"]
    assert main([*bt, "--published-forecasts", "twin", "-q"]) == 2
    assert "needs --twin" in capsys.readouterr().err


def test_a_written_feed_backtests_as_the_twins_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    knobs = ["--days", "10", "--resolution", "15min", "--seed", "3"]
    tel, feed = tmp_path / "t.csv", tmp_path / "f.parquet"
    assert main(["twin", *knobs, "--out", str(tel), "--forecasts-out", str(feed), "-q"]) == 0
    bt = ["backtest", "--battery-mw", "1", "--battery-mwh", "2", "--price-forecaster",
          "fundamental", "--train-fraction", "0.5", "--json", "-q"]  # fmt: skip
    out = []
    for source in (
        ["--input", str(tel), "--published-forecasts", str(feed)],
        ["--twin", *knobs, "--published-forecasts", "twin"],
        ["--input", str(tel)],
    ):
        assert main([*bt, *source]) == 0
        out.append(json.loads(capsys.readouterr().out)["arbitrage"])
    assert out[0] == out[1]
    assert out[0]["capture_ratio"] != out[2]["capture_ratio"]


def test_a_refreshed_feed_file_trades_as_the_whole_table(
    frame: pd.DataFrame, table: pd.DataFrame, tmp_path: Path
) -> None:
    # The file holds what was issued before day 8's forecasts; it is
    # refreshed with them before the first event that could read them.
    issue = pd.Timestamp("2025-01-07T17:00", tz="UTC")
    path = tmp_path / "feed.csv"
    table[table["issued_at"] < issue].to_csv(path, index=False)
    source = FeedFile(str(path), check_s=0.0)
    tel = Telemetry.from_frame(frame)
    stage = AgentStage(BATTERY, AGENTS, sites=tel.site_ids(), published=source)
    proc = BatchProcessor.for_signals(tel.signals, model="default", agents=stage)
    records = []
    for batch in tel.batches(1000):
        if batch.ts_ns[-1] >= issue.value and source.reloads == 0:
            table.to_csv(path, index=False)
        records.append(proc.process(batch).dispatch)
    assert source.reloads == 1 and source.errors == 0
    power = held_power(pd.concat(records, ignore_index=True), tel.ts_ns)
    np.testing.assert_allclose(power, _power(tel, table), atol=1e-9)
    partial = table[table["issued_at"] < issue]
    assert np.abs(power - _power(tel, partial)).max() > 0.1


def test_a_new_feed_file_without_a_site_is_skipped(tmp_path: Path) -> None:
    from vpp.runtime.price_plans import PricePlans

    table = published_forecasts(days=2, resolution="1h", sites=2, seed=1)
    sites = sorted(table["site"].unique())
    path = tmp_path / "feed.csv"
    table.to_csv(path, index=False)
    source = FeedFile(str(path), check_s=0.0)
    plans = PricePlans(sites, 48, 3600.0, "site", source)
    before = plans.published
    table[table["site"] == sites[0]].to_csv(path, index=False)
    plans.plans(np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 0)), [])
    assert plans.published is before and source.errors == 1
    assert plans.describe()["published_forecasts"] == len(table)
    with pytest.raises(ParameterError, match=sites[1]):
        PricePlans(sites, 48, 3600.0, "fleet", source)
