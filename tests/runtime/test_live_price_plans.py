"""The live trader on the fundamental price forecaster: the same dispatch as the
backtest, on both agent paths, across checkpoints, with named errors."""

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
from vpp.cli.main import main
from vpp.config import AgentSettings, BatterySettings
from vpp.errors import ParameterError
from vpp.io import Telemetry
from vpp.runtime.agent_stage import AgentStage
from vpp.runtime.processor import BatchProcessor

BATTERY = BatterySettings(units_per_site=1, power_mw=1.0, energy_mwh=2.0)
AGENTS = AgentSettings(price_forecaster="fundamental")
SIGNALS = ("load_mw", "solar_mw", "wind_mw", "temperature_c")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """9 days at 1 min: two days of trading after the forecaster's 7-day warm-up."""
    return twin.generate(days=9, resolution="1min", sites=1, seed=6)


@pytest.fixture(scope="module")
def tel(frame: pd.DataFrame) -> Telemetry:
    return Telemetry.from_frame(frame)


def _processor(tel: Telemetry, model: str | None = "default") -> BatchProcessor:
    stage = AgentStage(BATTERY, AGENTS, sites=tel.site_ids(), default_dt_s=60.0)
    return BatchProcessor.for_signals(tel.signals, model=model, agents=stage)


def _power(new, tel: Telemetry, size: int, stop: int | None = None):  # type: ignore[no-untyped-def]
    """Each event's fleet power from the dispatch records (held until the next)."""
    d, proc = dispatch_of(new, tel, size, stop)
    return held_power(d, tel.ts_ns), proc


def test_live_trader_dispatches_as_the_backtest(frame: pd.DataFrame, tel: Telemetry) -> None:
    power, proc = _power(lambda: _processor(tel), tel, size=1000)
    setup = fleet_from_settings(BATTERY, AGENTS, tel.site_ids(), default_dt_s=60.0)
    ts = tel.ts_ns
    want, _ = _run_hourly(
        setup.agents,
        setup.arbitrage,
        ts,
        frame["frequency_hz"].to_numpy(),
        frame["price_per_mwh"].to_numpy(),
        {k: frame[k].to_numpy() for k in SIGNALS},
        "fundamental",
        0,
    )
    np.testing.assert_allclose(power, want, atol=1e-9)
    summary = proc.describe()["agents"]["price_forecaster"]
    # One forecast per hour after the 7-day warm-up, and they moved the trader.
    assert summary == {
        "name": "fundamental",
        "scope": "fleet",
        "published_forecasts": 0,
        "forecasts": 48,
        "skipped_events": 0,
    }
    # Before the warm-up ends the trader is on its built-in forecaster, after
    # it on the fundamental one.
    stage = AgentStage(BATTERY, AgentSettings(), sites=tel.site_ids(), default_dt_s=60.0)
    profile, _ = _power(
        lambda: BatchProcessor.for_signals(tel.signals, agents=stage), tel, size=1000
    )
    warm = ts < ts[0] + 7 * 86_400e9
    np.testing.assert_allclose(power[warm], profile[warm], atol=1e-9)
    assert np.abs(power[~warm] - profile[~warm]).max() > 0.1


def test_both_agent_paths_and_a_restart_give_the_same_dispatch(tel: Telemetry) -> None:
    attached, _ = _power(lambda: _processor(tel), tel, size=1000)
    alone, proc = _power(lambda: _processor(tel, model=None), tel, size=1700)
    assert proc.agents is not None and not proc.agents.attached
    np.testing.assert_allclose(alone, attached, atol=1e-9)
    # Checkpoint after the warm-up, mid-stream: the restored service trades on.
    restarted, _ = _power(lambda: _processor(tel), tel, size=1000, stop=11)
    np.testing.assert_allclose(restarted, attached, atol=1e-9)


def test_missing_signals_and_sub_hour_plans_are_named(frame: pd.DataFrame) -> None:
    no_wind = Telemetry.from_frame(frame.drop(columns=["wind_mw"]).head(100))
    proc = _processor(no_wind)
    with pytest.raises(ParameterError, match="wind_mw"):
        proc.process(next(no_wind.batches(50)))
    stage = AgentStage(BATTERY, AgentSettings(price_forecaster="fundamental", plan_step_s=900.0))
    with pytest.raises(ParameterError, match="plan_step_s"):
        stage.prepare(next(no_wind.batches(50)), ["price_per_mwh"], None)


def test_vpp_run_with_the_fundamental_forecaster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VPP_MODEL", raising=False)
    argv = ["run", "--store", str(tmp_path / "s.sqlite"), "--days", "8", "-q"]
    assert main([*argv, "--price-forecaster", "fundamental"]) == 0
    agents = json.loads(capsys.readouterr().out)["agents"]
    assert agents["price_forecaster"]["forecasts"] == 24
    assert main(argv) == 0
    assert "price_forecaster" not in json.loads(capsys.readouterr().out)["agents"]
    short = ["run", "--store", str(tmp_path / "t.sqlite"), "--days", "2", "-q"]
    assert main([*short, "--price-forecaster", "fundamental"]) == 0
    plans = json.loads(capsys.readouterr().out)["agents"]["price_forecaster"]
    assert plans["forecasts"] == 0 and "7 days of history" in plans["note"]
    # Two sites: one fleet forecaster by default, one per site on request.
    two = ["run", "--store", str(tmp_path / "u.sqlite"), "--days", "8", "--sites", "2", "-q"]
    for scope, forecasts in (("fleet", 24), ("site", 48)):
        assert (
            main([*two, "--price-forecaster", "fundamental", "--price-forecast-scope", scope]) == 0
        )
        plans = json.loads(capsys.readouterr().out)["agents"]["price_forecaster"]
        assert (plans["scope"], plans["forecasts"]) == (scope, forecasts)


def test_with_site_scope_interleaved_sites_each_get_their_own_forecasts() -> None:
    from vpp.agents.live_price_forecast import LivePriceForecaster
    from vpp.runtime.price_plans import HISTORY_DAYS, PricePlans

    two = Telemetry.from_frame(twin.generate(days=8, resolution="1min", sites=2, seed=7))
    sites = two.site_ids()
    cols = ["price_per_mwh", *SIGNALS]
    values = np.column_stack([two.column(c) for c in cols])
    site_idx = np.array([sites.index(s) for s in two.sites.tolist()])
    site_idx[::97] = -1  # events of a site outside the fleet feed no forecaster
    plans = PricePlans(sites, horizon_h=48, plan_step_s=3600.0, scope="site")
    got = [p for b in range(0, len(two), 5000)
           for p in plans.plans(two.ts_ns[b : b + 5000], site_idx[b : b + 5000],
                                values[b : b + 5000], cols)]  # fmt: skip
    for i in range(len(sites)):
        alone = LivePriceForecaster(horizon_h=48, max_history_days=HISTORY_DAYS)
        own = np.flatnonzero(site_idx == i)
        made = alone.update(
            two.ts_ns[own], values[own, 0], {c: values[own, 1 + j] for j, c in enumerate(SIGNALS)}
        )
        mine = [p for p in got if p.site == i]
        assert len(mine) == len(made) > 0
        for p, f in zip(mine, made, strict=True):
            assert p.ts_ns == f.ts_ns
            np.testing.assert_allclose(p.prices, f.prices, rtol=1e-12)  # batching: 1 ulp


def test_fleet_scope_forecasts_from_the_fleet_totals_for_every_site() -> None:
    from tests.runtime.test_fleet_signals import _naive
    from vpp.agents.live_price_forecast import LivePriceForecaster
    from vpp.runtime.price_plans import HISTORY_DAYS, PricePlans

    three = Telemetry.from_frame(twin.generate(days=8, resolution="1h", sites=3, seed=9))
    sites = three.site_ids()
    cols = ["price_per_mwh", *SIGNALS]
    values = np.column_stack([three.column(c) for c in cols])
    values[np.random.default_rng(1).random(values.shape) < 0.02] = np.nan
    site_idx = np.array([sites.index(s) for s in three.sites.tolist()])
    plans = PricePlans(sites, horizon_h=48, plan_step_s=3600.0)
    got = [p for b in range(0, len(three), 50)
           for p in plans.plans(three.ts_ns[b : b + 50], site_idx[b : b + 50],
                                values[b : b + 50], cols)]  # fmt: skip
    # The reference: the fleet stream by the rule, fed to one forecaster.
    rows, totals = _naive(three.ts_ns, site_idx, values[:, 1:], len(sites), (3,))
    alone = LivePriceForecaster(horizon_h=48, max_history_days=HISTORY_DAYS)
    made = alone.update(
        three.ts_ns[rows], values[rows, 0], {c: totals[:, j] for j, c in enumerate(SIGNALS)}
    )
    assert len(made) > 0 and len(got) == len(sites) * len(made)
    for k, f in enumerate(made):
        mine = got[k * len(sites) : (k + 1) * len(sites)]
        assert [p.site for p in mine] == list(range(len(sites)))  # every site's trader
        for p in mine:
            assert p.ts_ns == f.ts_ns
            np.testing.assert_allclose(p.prices, f.prices, rtol=1e-9)
    assert plans.describe()["scope"] == "fleet"


def test_fleet_scope_on_both_agent_paths_and_across_a_restart() -> None:
    three = Telemetry.from_frame(twin.generate(days=9, resolution="1min", sites=3, seed=10))

    def dispatch(model: str | None, size: int, stop: int | None = None, scope: str = "fleet"):
        def new() -> BatchProcessor:
            settings = AgentSettings(price_forecaster="fundamental", price_forecast_scope=scope)
            stage = AgentStage(BATTERY, settings, sites=three.site_ids(), default_dt_s=60.0)
            return BatchProcessor.for_signals(three.signals, model=model, agents=stage)

        d, proc = dispatch_of(new, three, size, stop)
        assert proc.describe()["agents"]["price_forecaster"]["forecasts"] > 0
        return d.sort_values(["site", "ts_ns"], kind="stable").reset_index(drop=True)

    attached = dispatch("default", 1000)
    for other in (dispatch(None, 1700), dispatch("default", 1000, stop=25)):
        assert other[["site", "ts_ns"]].equals(attached[["site", "ts_ns"]])
        np.testing.assert_allclose(other["power_mw"], attached["power_mw"], atol=1e-9)
    per_site = dispatch(None, 1700, scope="site")
    assert len(per_site) != len(attached) or not np.allclose(
        per_site["power_mw"], attached["power_mw"]
    )


def test_a_sites_live_fleet_dispatch_equals_the_backtest_on_fleet_totals() -> None:
    from vpp.runtime.fleet_signals import fleet_totals_at

    frame3 = twin.generate(days=9, resolution="1min", sites=3, seed=11)
    three = Telemetry.from_frame(frame3)
    stage = AgentStage(BATTERY, AGENTS, sites=three.site_ids(), default_dt_s=60.0)
    proc = BatchProcessor.for_signals(three.signals, model=None, agents=stage)
    d = pd.concat([proc.process(b).dispatch for b in three.batches(1000)], ignore_index=True)
    site = three.sites == "site_00"
    ts = three.ts_ns[site]
    live = held_power(d, ts, "site_00")

    values = np.column_stack([three.column(k) for k in SIGNALS])
    totals = fleet_totals_at(three.ts_ns, three.sites, values, ts, (3,))
    setup = fleet_from_settings(BATTERY, AGENTS, ["site_00"], default_dt_s=60.0)
    want, _ = _run_hourly(
        setup.agents,
        setup.arbitrage,
        ts,
        three.column("frequency_hz")[site],
        three.column("price_per_mwh")[site],
        {k: totals[:, j] for j, k in enumerate(SIGNALS)},
        "fundamental",
        0,
    )
    np.testing.assert_allclose(live, want, atol=1e-9)
    # Trading on the fleet's totals is not trading on the site's own signals.
    own, _ = _run_hourly(
        fleet_from_settings(BATTERY, AGENTS, ["site_00"], default_dt_s=60.0).agents,
        setup.arbitrage,
        ts,
        three.column("frequency_hz")[site],
        three.column("price_per_mwh")[site],
        {k: three.column(k)[site] for k in SIGNALS},
        "fundamental",
        0,
    )
    assert np.abs(own - want).max() > 0.1


def test_vpp_backtest_trades_on_the_scope_it_is_given(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["backtest", "--twin", "--days", "10", "--resolution", "1h", "--sites", "3"]
    argv += ["--price-forecaster", "fundamental", "--json", "-q"]
    profit = {}
    for scope in ("fleet", "site"):
        assert main([*argv, "--price-forecast-scope", scope]) == 0
        profit[scope] = json.loads(capsys.readouterr().out)["arbitrage"]["profit"]
    assert profit["fleet"] != profit["site"]
