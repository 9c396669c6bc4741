"""The compiled pipeline: parity with XGBoost, batch == loop, state, errors, fallback."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from vpp import _core
from vpp.errors import ModelError, OutOfOrderError
from vpp.features import FeatureEngine, FeatureSpec
from vpp.io import Telemetry
from vpp.model import ForecastModel, TrainConfig, compile_model, train
from vpp.model.compile import predict_ctypes, synthetic_rows
from vpp.pipeline import NO_DECISION, FallbackPipeline, Pipeline


def _reference(model: ForecastModel, tel: Telemetry) -> tuple[np.ndarray, np.ndarray]:
    """Features from a fresh engine and XGBoost's levels on them."""
    feats = FeatureEngine(model.spec).process(tel.ts_ns, tel.values, tel.sites)
    return feats, model.predict_level(feats, tel.column(model.target))


def _close(got: np.ndarray, want: np.ndarray) -> None:
    # float32 sums: 1e-4 relative to the forecast's magnitude.
    scale = np.nanmax(np.abs(want))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)


def test_parity_with_xgboost_on_10k_rows_with_missing_values(
    model: ForecastModel, gappy_tel: Telemetry
) -> None:
    assert len(gappy_tel) >= 10_000
    p = Pipeline(None, model)
    feats, preds = p.process(gappy_tel.ts_ns, gappy_tel.values, gappy_tel.sites)
    ref_feats, ref = _reference(model, gappy_tel)
    np.testing.assert_array_equal(feats, ref_feats)
    assert np.isnan(feats).any(axis=1).mean() > 0.5  # most rows have missing features
    ok = np.isfinite(ref)
    assert ok.mean() > 0.8
    np.testing.assert_array_equal(np.isfinite(preds), ok)
    _close(preds[ok], ref[ok])
    # Raw model outputs on 10,000 more rows that send every split both ways.
    X = synthetic_rows(model, 10_000, seed=5)
    assert np.isnan(X).mean() > 0.05
    raw = predict_ctypes(p.library, X, 3)
    _close(raw, model.predict_change(X))


def test_push_loop_equals_process(model: ForecastModel, gappy_tel: Telemetry) -> None:
    tel = gappy_tel.slice(0, 1500)
    batch = Pipeline(None, model)
    feats, preds = batch.process(tel.ts_ns, tel.values, tel.sites)
    single = Pipeline(None, model)
    for i in range(len(tel)):
        row, pred = single.push(int(tel.ts_ns[i]), tel.values[i], site=str(tel.sites[i]))
        np.testing.assert_array_equal(row, feats[i])
        np.testing.assert_array_equal(pred, preds[i])
    assert single.counters == batch.counters
    # Quantiles come out ascending.
    ok = np.isfinite(preds).all(axis=1)
    assert (np.diff(preds[ok], axis=1) >= 0).all()


def test_snapshot_restore_and_pickle_continue_identically(
    model: ForecastModel, gappy_tel: Telemetry
) -> None:
    tel = gappy_tel.slice(0, 800)
    whole = Pipeline(None, model)
    _, want = whole.process(tel.ts_ns, tel.values, tel.sites)
    first = Pipeline(None, model)
    first.process(tel.ts_ns[:500], tel.values[:500], tel.sites[:500])
    restored = Pipeline.restore(first.snapshot(), model)
    pickled = pickle.loads(pickle.dumps(first))
    assert isinstance(pickled, Pipeline) and pickled.sites == first.sites
    for p in (restored, pickled, first):
        _, got = p.process(tel.ts_ns[500:], tel.values[500:], tel.sites[500:])
        np.testing.assert_array_equal(got, want[500:])


def test_out_of_order_events(model: ForecastModel, gappy_tel: Telemetry) -> None:
    tel = gappy_tel.slice(0, 200)
    p = Pipeline(None, model)
    p.process(tel.ts_ns[:100], tel.values[:100], tel.sites[:100])
    before = p.snapshot()
    late = tel.slice(50, 60)
    with pytest.raises(OutOfOrderError):
        p.process(late.ts_ns, late.values, late.sites)
    assert p.snapshot() == before
    feats, preds = p.process(late.ts_ns, late.values, late.sites, on_out_of_order="skip")
    assert np.isnan(preds).all() and np.isnan(feats).all()
    assert p.counters["out_of_order"] == len(late)
    with pytest.raises(OutOfOrderError):
        p.push(int(tel.ts_ns[0]), tel.values[0], site=str(tel.sites[0]))


def test_spec_must_match_the_model(model: ForecastModel) -> None:
    with pytest.raises(ModelError, match="names differ"):
        Pipeline(FeatureSpec.default(["load_mw", "solar_mw"]), model)
    # The model's own spec, passed explicitly, is fine.
    assert Pipeline(model.spec, model).n_outputs == 3


def test_libraries_that_do_not_fit_are_refused(
    model: ForecastModel, gappy_tel: Telemetry, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match="cannot load"):
        _core.Pipeline(model.spec, str(tmp_path / "absent.so"), "net_load_mw")
    junk = tmp_path / "junk.so"
    junk.write_bytes(b"\x7fELF but not really")
    with pytest.raises(ModelError):
        _core.Pipeline(model.spec, str(junk), "net_load_mw")
    # A real library of a model with another feature count.
    small_spec = FeatureSpec(signals=["load_mw"], lags=[1], windows=[2], calendar=False)
    tiny = train(
        gappy_tel.select(["load_mw"]),
        spec=small_spec,
        config=TrainConfig(n_rounds=3, max_depth=2),
    )
    lib = compile_model(tiny, flags=["-O1"])
    with pytest.raises(ModelError, match=r"takes \d+ features but the feature spec yields 177"):
        _core.Pipeline(model.spec, str(lib.path), "net_load_mw")
    with pytest.raises(ModelError, match="not available"):
        _core.Pipeline(small_spec, str(lib.path), "price_per_mwh")


def test_compile_is_cached_by_content_hash(model: ForecastModel) -> None:
    a = compile_model(model)
    mtime = a.path.stat().st_mtime_ns
    b = compile_model(model)
    assert b.path == a.path and b.path.stat().st_mtime_ns == mtime
    assert model.content_hash in str(a.path)


@pytest.mark.slow
def test_flag_tuning_is_measured_recorded_and_reused(
    model: ForecastModel, gappy_tel: Telemetry, tmp_path: Path
) -> None:
    rows = FeatureEngine(model.spec).process(gappy_tel.ts_ns, gappy_tel.values, gappy_tel.sites)
    lib = compile_model(model, tune=True, rows=rows[200:1200], cache_dir=tmp_path)
    assert lib.tuning_ns_per_row is not None
    assert set(lib.tuning_ns_per_row) == {"-Os", "-O1", "-O2", "-O3", "-O2 -fprofile-use"}
    fastest = min(lib.tuning_ns_per_row, key=lib.tuning_ns_per_row.__getitem__)
    assert lib.flags == fastest.split()
    again = compile_model(model, cache_dir=tmp_path)  # no flags: the tuned choice
    assert again.path == lib.path and again.flags == lib.flags
    got = predict_ctypes(lib.path, rows[200:400], 3)
    _close(got, model.predict_change(rows[200:400]))


def test_fallback_without_a_compiler(
    model: ForecastModel, gappy_tel: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    tel = gappy_tel.slice(0, 600)
    compiled = Pipeline(None, model)
    feats, want = compiled.process(tel.ts_ns, tel.values, tel.sites)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("VPP_CACHE_DIR", str(Path(compiled.library).parents[3] / "empty"))
    with pytest.warns(RuntimeWarning, match="inplace_predict"):
        fb = Pipeline(None, model)
    assert isinstance(fb, FallbackPipeline)
    got_feats, got = fb.process(tel.ts_ns, tel.values, tel.sites)
    np.testing.assert_array_equal(got_feats, feats)
    _close(got, want)
    with pytest.raises(ModelError):
        Pipeline(None, model, compiled=True)
    single = Pipeline(None, model, compiled=False)
    row, pred = single.push(int(tel.ts_ns[0]), tel.values[0], site=str(tel.sites[0]))
    np.testing.assert_array_equal(row, feats[0])
    np.testing.assert_array_equal(np.isnan(pred), np.isnan(want[0]))


def test_agents_decide_in_the_same_call(model: ForecastModel, gappy_tel: Telemetry) -> None:
    from vpp.agents import AgentSet, FleetConfig, FrequencyResponseConfig

    tel = gappy_tel.for_site("site_00").slice(0, 400)
    fleet = FleetConfig.uniform(4, sites=("site_00",))
    fr = FrequencyResponseConfig(contracted_mw=2.0)
    p = Pipeline(None, model)
    p.attach_agents(AgentSet(fleet, fr), sites=["site_00"])
    feats, preds, decisions = p.process_decide(tel.ts_ns, tel.values, tel.sites)
    assert feats.shape == (len(tel), 177)
    # The same decisions as the agents on their own, and the same forecasts
    # as without agents.
    alone = AgentSet(fleet, fr)
    f = tel.column("frequency_hz")
    price = tel.column("price_per_mwh")
    want = alone.run(tel.ts_ns, f, price, sites=np.zeros(len(tel), dtype=np.int64))
    for key in ("total_mw", "fr_required_mw", "fr_delivered_mw", "arbitrage_mw", "stored_mwh"):
        np.testing.assert_allclose(decisions[key], want[key], rtol=0, atol=1e-12, err_msg=key)
    np.testing.assert_array_equal(decisions["reason"], want["reason"])
    _, plain = Pipeline(None, model).process(tel.ts_ns, tel.values, tel.sites)
    np.testing.assert_array_equal(preds, plain)
    assert p.agents is not None
    next_ts = int(tel.ts_ns[-1]) + 900 * 10**9
    row, pred, decision = p.push_decide(next_ts, tel.values[-1], "site_00")
    assert np.isfinite(decision["total_mw"]) and row.shape == (177,) and pred.shape == (3,)
    assert decision["reason"] != NO_DECISION
    with pytest.raises(ValueError, match="no agents"):
        Pipeline(None, model).process_decide(tel.ts_ns, tel.values, tel.sites)
    q = Pipeline(None, model)
    q.push(int(tel.ts_ns[0]), tel.values[0], site="other")
    with pytest.raises(ValueError, match="before other sites"):
        q.attach_agents(AgentSet(fleet, fr), sites=["site_00"])
