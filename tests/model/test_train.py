"""Training, model files and their errors, metrics and the backtest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.model.conftest import SMALL
from vpp.errors import ModelError, ParameterError
from vpp.features import FeatureSpec
from vpp.io import Telemetry
from vpp.model import ForecastModel, backtest, train
from vpp.model import metrics as m
from vpp.model.dataset import build_training_set
from vpp.model.train import time_split


def test_metadata_records_what_was_trained(model: ForecastModel, gappy_tel: Telemetry) -> None:
    meta = model.metadata
    assert meta["target"] == "net_load_mw" and meta["horizon_steps"] == 1
    assert meta["quantiles"] == [0.1, 0.5, 0.9]
    assert meta["data"]["events"] == len(gappy_tel)
    assert meta["data"]["steps_per_day"] == 96
    assert meta["data"]["start"].startswith("20") and meta["data"]["end"] > meta["data"]["start"]
    assert {"xgboost", "numpy", "vpp"} <= set(meta["versions"])
    assert len(meta["content_hash"]) == 64
    assert meta["feature_names"] == FeatureSpec.default(gappy_tel.signals).feature_names
    metrics = meta["metrics"]
    for key in ("mae", "rmse", "persistence_mae", "pinball_loss", "interval_coverage"):
        assert np.isfinite(metrics[key]), key
    assert 0.0 <= metrics["interval_coverage"] <= 1.0


def test_one_step_forecast_beats_persistence_and_seasonal_naive(model: ForecastModel) -> None:
    metrics = model.metadata["metrics"]
    assert metrics["skill_vs_persistence"] > 0
    assert metrics["mae"] < metrics["seasonal_naive_mae"]


def test_save_load_round_trip_predicts_the_same(model: ForecastModel, tmp_path: Path) -> None:
    X = np.random.default_rng(1).normal(size=(50, len(model.feature_names)))
    copy = ForecastModel.load(model.save(tmp_path / "copy"))
    np.testing.assert_array_equal(copy.predict_change(X), model.predict_change(X))
    assert copy.content_hash == model.content_hash


@pytest.mark.parametrize("horizon", [0, -3])
def test_horizon_must_be_positive(twin_tel: Telemetry, horizon: int) -> None:
    with pytest.raises(ParameterError, match="horizon must be >= 1"):
        train(twin_tel, horizon_steps=horizon, config=SMALL)
    with pytest.raises(ParameterError, match="horizon"):
        backtest(twin_tel, horizon_steps=horizon)


def test_missing_target_is_named(twin_tel: Telemetry) -> None:
    only_price = twin_tel.select(["price_per_mwh"])
    with pytest.raises(ParameterError, match="load_mw"):
        train(only_price, config=SMALL)
    with pytest.raises(ParameterError, match="'wind_mw'"):
        train(only_price, target="wind_mw", config=SMALL)


def test_bad_model_directories(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        ForecastModel.load(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="lacks"):
        ForecastModel.load(empty)
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "model.json").write_text('{"learner": "not a model"')
    with pytest.raises(ModelError, match="not an XGBoost model"):
        ForecastModel.load(broken)
    edited = tmp_path / "edited"
    shutil.copytree(model_dir, edited)
    spec = json.loads((edited / "spec.json").read_text())
    spec["lags"] = [1, 2]
    (edited / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(ModelError, match="changed after training"):
        ForecastModel.load(edited)


def test_feature_names_must_match_the_spec(model: ForecastModel) -> None:
    other = FeatureSpec.default(["load_mw", "solar_mw"])
    with pytest.raises(ModelError, match="feature names do not match"):
        ForecastModel(
            booster=model.booster,
            spec=other,
            target="net_load_mw",
            horizon_steps=1,
            quantiles=model.quantiles,
        )


def test_metric_functions_on_known_values() -> None:
    y = np.array([1.0, 2.0, 3.0, np.nan])
    assert m.mae(y, np.array([1.0, 1.0, 5.0, 0.0])) == pytest.approx(1.0)
    assert m.rmse(y, np.array([1.0, 1.0, 5.0, 0.0])) == pytest.approx(np.sqrt(5 / 3))
    # Pinball at q=0.9: under-forecast by 1 costs 0.9, over-forecast by 1 costs 0.1.
    preds = np.array([[0.0], [3.0]])
    assert m.pinball_loss(np.array([1.0, 2.0]), preds, [0.9]) == pytest.approx(0.5)
    assert m.interval_coverage(y[:3], y[:3] - 1, np.array([3.0, 1.0, 4.0])) == pytest.approx(2 / 3)
    assert m.skill(1.0, 2.0) == 0.5
    sites = np.array(["a", "b", "a", "b", "a"])
    v = np.arange(5.0)
    np.testing.assert_array_equal(m.shift_per_site(v, sites, 1), [2.0, 3.0, 4.0, np.nan, np.nan])
    np.testing.assert_array_equal(m.shift_per_site(v, sites, -1), [np.nan, np.nan, 0.0, 1.0, 2.0])
    ts = np.arange(10) * 900 * 10**9
    assert m.steps_per_day(ts, np.zeros(10)) == 96
    assert m.steps_per_day(np.arange(10) * 7 * 10**9, np.zeros(10)) is None


def test_time_split_never_trains_on_test_targets(twin_tel: Telemetry) -> None:
    data = build_training_set(twin_tel, FeatureSpec.default(twin_tel.signals), "net_load_mw", 3)
    train_rows, test_rows, cut = time_split(data.ts_ns, data.sites, 3, 0.7)
    assert not (train_rows & test_rows).any()
    idx = np.arange(len(data.ts_ns), dtype=float)
    future = m.shift_per_site(idx, data.sites, 3)[train_rows].astype(int)
    assert (data.ts_ns[future] < cut).all()
    assert (data.ts_ns[test_rows] >= cut).all()


def test_training_target_is_h_events_ahead_at_the_same_site(twin_tel: Telemetry) -> None:
    data = build_training_set(twin_tel, FeatureSpec.default(twin_tel.signals), "net_load_mw", 2)
    net = twin_tel.column("net_load_mw")
    a = np.flatnonzero(twin_tel.sites == twin_tel.sites[0])
    np.testing.assert_array_equal(data.future[a[:-2]], net[a[2:]])
    assert np.isnan(data.future[a[-2:]]).all()


def test_backtest_reports_against_baselines(twin_tel: Telemetry) -> None:
    res = backtest(twin_tel, horizon_steps=1, train_fraction=0.7)
    fc = res.summary["forecast"]
    assert res.summary["events"] == len(twin_tel)
    assert res.summary["train_events"] + res.summary["test_events"] <= len(twin_tel)
    assert fc["skill_vs_persistence"] == pytest.approx(1 - fc["mae"] / fc["persistence_mae"])
    assert fc["skill_vs_persistence"] > 0
    assert fc["mae"] < fc["seasonal_naive_mae"]
    assert res.levels.shape == (len(twin_tel), 3)
    with pytest.raises(ParameterError, match="train_fraction"):
        backtest(twin_tel, train_fraction=1.0)
