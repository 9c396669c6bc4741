"""vpp train / compile / backtest, and forecasts in the batch processor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vpp.cli.main import main
from vpp.io import Telemetry
from vpp.model import ForecastModel
from vpp.runtime.processor import BatchProcessor

ROOT = Path(__file__).resolve().parents[2]
KW_SAMPLE = ROOT / "tests" / "data" / "kw_format_sample.csv"
KW_COLUMNS = "load_mw=Electricity Load,solar_mw=Solar PV Output (kW),wind_mw=Wind Power Output (kW)"
FAST = ["--rounds", "20", "--learning-rate", "0.3", "-q"]


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_train_then_compile_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m"
    argv = ["train", "--twin", "--days", "10", "--resolution", "15min", "--seed", "2"]
    assert main([*argv, "--horizon", "2", "--out", str(out), *FAST]) == 0
    doc = _json(capsys)
    assert doc["horizon_steps"] == 2 and doc["target"] == "net_load_mw"
    model = ForecastModel.load(out)
    assert model.horizon_steps == 2 and model.metadata["training"]["n_rounds"] == 20
    assert main(["compile", str(out), "--flags=-O1", "-q"]) == 0
    built = _json(capsys)  # stdout is JSON only, TL2cgen's log goes to stderr
    assert built["flags"] == ["-O1"] and Path(built["library"]).is_file()
    assert built["content_hash"] == model.content_hash


def test_backtest_a_kw_file_with_only_some_signals(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["backtest", "--input", str(KW_SAMPLE), "--columns", KW_COLUMNS, "--units", "kW"]
    assert main([*argv, "--json", *FAST]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object on one line
    doc = json.loads(out)
    fc = doc["forecast"]
    assert doc["events"] == 4320
    for key in ("target", "horizon_steps", "mae", "rmse", "persistence_mae"):
        assert key in fc
    for key in ("seasonal_naive_mae", "skill_vs_persistence", "interval_coverage"):
        assert key in fc
    assert fc["steps_per_day"] == 48  # half-hourly file
    # kW were converted: net load of this site is well under 1 MW.
    assert 0 < fc["mae"] < 1.0
    assert "arbitrage" not in doc  # no price column


def test_backtest_errors(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["backtest", "--input", str(KW_SAMPLE), "--columns", "load_mw=Electricity Load"]
    assert main([*argv, "--units", "kW", "--horizon", "0", "-q"]) == 2
    assert "horizon must be >= 1" in capsys.readouterr().err
    assert main([*argv, "--units", "kW", "--battery-mw", "2", "-q", *FAST]) == 2
    assert "needs a price column" in capsys.readouterr().err


def test_backtest_on_the_twin_adds_the_agents(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["backtest", "--twin", "--days", "6", "--resolution", "15min", "--json", *FAST]
    assert main(argv) == 0
    doc = _json(capsys)
    assert doc["forecast"]["skill_vs_persistence"] is not None
    assert {"profit", "oracle_profit", "capture_ratio"} <= set(doc["arbitrage"])
    assert {"compliance", "nadir_hz_with", "nadir_hz_without"} <= set(doc["frequency_response"])
    # Arbitrage is scored on the test events only, the oracle too; the agents
    # lived through the training events first, so they trade differently
    # from a cold start on the test events.
    from vpp import twin
    from vpp.agents import BatteryConfig
    from vpp.agents.backtest import arbitrage_backtest, settlement_prices
    from vpp.agents.oracle import OracleLimits, oracle_lp

    df = twin.generate(days=6, resolution="15min")
    ts = df["timestamp"].astype("int64").to_numpy()
    p = df["price_per_mwh"].to_numpy()
    first_test = ts[0] + 0.7 * (ts[-1] - ts[0])
    test = ts >= first_test
    _, hourly = settlement_prices(ts[test], p[test], 3600.0)
    battery = BatteryConfig()
    assert doc["arbitrage"]["oracle_profit"] == pytest.approx(
        oracle_lp(hourly, 1.0, OracleLimits.from_battery(battery, 1, None)).profit, rel=1e-6
    )
    cold = arbitrage_backtest(ts[test], p[test], battery)
    assert cold["oracle_profit"] == pytest.approx(doc["arbitrage"]["oracle_profit"], rel=1e-6)
    assert doc["arbitrage"]["profit"] != pytest.approx(cold["profit"], rel=1e-6)


def test_batch_processor_forecasts_when_the_model_fits(
    model_dir: Path, gappy_tel: Telemetry
) -> None:
    proc = BatchProcessor.for_signals(gappy_tel.signals, model=model_dir)
    assert proc.forecaster is not None
    first = proc.process(gappy_tel.slice(0, 3000))
    second = proc.process(gappy_tel.slice(3000, 4000))
    fc = second.forecasts
    assert fc is not None and len(fc) > 900
    from vpp.io.store import FORECAST_COLUMNS

    assert tuple(fc.columns) == FORECAST_COLUMNS
    assert (fc["lower"] <= fc["point"]).all() and (fc["point"] <= fc["upper"]).all()
    assert (fc["target_ts_ns"] - fc["ts_ns"] == 900 * 10**9).all()
    assert first.features.shape == (3000, 177)
    # Checkpoints carry the forecaster's feature state.
    again = BatchProcessor.for_signals(gappy_tel.signals, model=model_dir)
    again.process(gappy_tel.slice(0, 3000))
    blob = again.snapshot()
    restored = BatchProcessor.for_signals(gappy_tel.signals, model=model_dir)
    restored.restore(blob)
    fc2 = restored.process(gappy_tel.slice(3000, 4000)).forecasts
    np.testing.assert_array_equal(fc2["point"].to_numpy(), fc["point"].to_numpy())


def test_batch_processor_without_a_fitting_model(model_dir: Path, gappy_tel: Telemetry) -> None:
    proc = BatchProcessor.for_signals(["load_mw"], model=model_dir)
    assert proc.forecaster is None
    out = proc.process(gappy_tel.slice(0, 100).select(["load_mw"]))
    assert out.forecasts is None
    assert BatchProcessor.for_signals(["load_mw"], model=None).forecaster is None


def test_vpp_run_forecasts_out_of_the_box(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VPP_MODEL", raising=False)
    store = tmp_path / "store.sqlite"
    assert main(["run", "--store", str(store), "--days", "0.1", "-q"]) == 0
    doc = _json(capsys)
    assert doc["records"]["forecasts"] == doc["events"] == 144
    assert doc["pipeline"]["forecast"]["compiled"] is True
    assert doc["pipeline"]["forecast"]["path"].endswith("models/default")
    from vpp.io import open_store

    with open_store(str(store)) as s:  # type: ignore[attr-defined]
        latest = s.latest_forecast("grid")
    assert list(latest["target"]) == ["net_load_mw"]
