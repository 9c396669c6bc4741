"""The documented Python API of the feature engine, its errors and guarantees."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from vpp import FeatureEngine, FeatureSpec, OutOfOrderError
from vpp.errors import ShapeError, SnapshotError, SpecError
from vpp.schema import GRID_SIGNALS

MIN_NS = 60_000_000_000


def test_default_spec_is_wide_with_stable_names() -> None:
    eng = FeatureEngine(FeatureSpec.default())
    names = eng.feature_names
    assert len(names) >= 160
    assert len(set(names)) == len(names)
    for name in ("load_mw_lag1", "load_mw_mean48", "net_load_mw_std12", "hour_sin", "is_weekend"):
        assert name in names
    assert eng.signals == list(GRID_SIGNALS)  # asset signals feed the agents only
    assert FeatureSpec.default().feature_names == names


def test_push_matches_definitions_on_a_small_stream() -> None:
    spec = FeatureSpec(
        signals=["load_mw", "solar_mw"],
        lags=[1, 2],
        windows=[3],
        stats=["mean", "std", "min", "max"],
    )
    eng = FeatureEngine(spec)
    rows = [eng.push(i * MIN_NS, [10.0 * (i + 1), 1.0]) for i in range(4)]
    last = dict(zip(eng.feature_names, rows[-1], strict=True))
    assert last["load_mw_lag1"] == 30.0 and last["load_mw_lag2"] == 20.0
    assert last["load_mw_mean3"] == pytest.approx(30.0)
    assert last["load_mw_std3"] == pytest.approx(10.0)
    assert (last["load_mw_min3"], last["load_mw_max3"]) == (20.0, 40.0)
    assert last["net_load_mw_lag1"] == 29.0
    assert last["renewable_share"] == pytest.approx(1 / 40)
    # 10 MW per minute is 600 MW per hour.
    assert last["net_load_ramp_mw_per_h"] == pytest.approx(600.0)
    first = dict(zip(eng.feature_names, rows[0], strict=True))
    assert np.isnan(first["load_mw_lag1"]) and np.isnan(first["load_mw_mean3"])


def test_missing_is_nan_never_zero_and_does_not_poison() -> None:
    spec = FeatureSpec(signals=["load_mw"], lags=[1], windows=[2], stats=["mean"], calendar=False)
    eng = FeatureEngine(spec)
    xs = [1.0, np.inf, 3.0, 5.0, 7.0]
    rows = np.array([eng.push(i * MIN_NS, [x]) for i, x in enumerate(xs)])
    mean = rows[:, eng.feature_names.index("load_mw_mean2")]
    lag = rows[:, eng.feature_names.index("load_mw_lag1")]
    assert np.isnan(mean[1]) and np.isnan(mean[2])  # inf in the window
    assert mean[3] == 4.0 and mean[4] == 6.0  # gone once it left
    assert np.isnan(lag[2]) and lag[3] == 3.0


def test_out_of_order_push_raises_and_process_skips() -> None:
    eng = FeatureEngine(FeatureSpec(signals=["load_mw"], lags=[1], windows=[2]))
    eng.push(10 * MIN_NS, [1.0], site="a")
    with pytest.raises(OutOfOrderError, match='site "a"'):
        eng.push(10 * MIN_NS, [2.0], site="a")
    assert isinstance(OutOfOrderError("x"), ValueError)
    eng.push(5 * MIN_NS, [2.0], site="b")  # other sites have their own clock
    ts = np.array([11, 9, 12], dtype=np.int64) * MIN_NS
    vals = np.array([[1.0], [2.0], [3.0]])
    with pytest.raises(OutOfOrderError):
        eng.process(ts, vals, np.array(["a", "a", "a"], dtype=object))
    assert eng.counters["events"] == 2  # the failed batch changed nothing
    out = eng.process(ts, vals, np.array(["a", "a", "a"], dtype=object), on_out_of_order="skip")
    assert np.isnan(out[1]).all() and not np.isnan(out[2]).all()
    assert eng.counters["out_of_order"] == 1
    assert eng.counters["events"] == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"signals": ["load"]}, "unknown signal"),
        ({"signals": ["load_mw", "load_mw"]}, "twice"),
        ({"lags": [0]}, "lag 0"),
        ({"windows": [1_000_000]}, "window 1000000"),
        ({"stats": ["median"]}, "median"),
        ({"signals": []}, "empty"),
    ],
)
def test_bad_specs_name_the_problem(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises((SpecError, ValueError), match=match):
        FeatureSpec(**kwargs)  # type: ignore[arg-type]


def test_bad_inputs_raise_clear_errors() -> None:
    eng = FeatureEngine(FeatureSpec(signals=["load_mw", "solar_mw"]))
    with pytest.raises(ShapeError, match="expected 2 values"):
        eng.push(0, [1.0])
    with pytest.raises(ValueError, match="3 columns but the spec has 2"):
        eng.process(np.arange(4), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="2-D"):
        eng.process(np.arange(4), np.zeros(4))
    with pytest.raises(ValueError, match="3 rows for 4 timestamps"):
        eng.process(np.arange(4), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="numeric"):
        eng.process(np.arange(2), np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match="sites has 1 entries"):
        eng.process(np.arange(2), np.zeros((2, 2)), ["x"])
    with pytest.raises(TypeError, match="str or int"):
        eng.process(np.arange(2), np.zeros((2, 2)), [1.5, 2.5])
    with pytest.raises(ValueError, match="on_out_of_order"):
        eng.process(np.arange(2), np.zeros((2, 2)), on_out_of_order="drop")
    with pytest.raises(SnapshotError):
        FeatureEngine.restore(b"not a snapshot")


def test_non_contiguous_and_other_dtypes_are_accepted() -> None:
    spec = FeatureSpec(signals=["load_mw", "wind_mw"], lags=[1], windows=[3])
    wide = np.random.default_rng(1).normal(size=(50, 4))
    ts = np.arange(50, dtype=np.int64) * MIN_NS
    a = FeatureEngine(spec).process(ts, wide[:, ::2])
    b = FeatureEngine(spec).process(ts.tolist(), wide[:, ::2].tolist())
    np.testing.assert_array_equal(a, b)
    small = np.array([[1, 2], [3, 4]], dtype=np.int32)
    c = FeatureEngine(spec).process(ts[:2], small)
    assert c[1, 0] == 1.0  # load_mw_lag1 from an int input


def test_many_sites_keep_separate_state() -> None:
    n_sites, per_site = 10_000, 5
    spec = FeatureSpec(signals=["load_mw"], lags=[1], windows=[2], stats=["mean"], calendar=False)
    sites = np.tile(np.arange(n_sites), per_site)
    ts = np.repeat(np.arange(per_site, dtype=np.int64) * MIN_NS, n_sites)
    vals = (sites * 10.0 + np.repeat(np.arange(per_site), n_sites)).reshape(-1, 1)
    eng = FeatureEngine(spec)
    out = eng.process(ts, vals, sites)
    assert eng.counters["sites"] == n_sites
    lag = out[:, eng.feature_names.index("load_mw_lag1")]
    np.testing.assert_array_equal(lag[n_sites:], vals[:-n_sites, 0])
    # int ids and their str form name the same site
    assert eng.push(per_site * MIN_NS, [1.0], site="7")[0] == 70.0 + per_site - 1


def test_snapshot_and_pickle_round_trip() -> None:
    spec = FeatureSpec(signals=["load_mw", "price_per_mwh"], lags=[1, 3], windows=[4])
    rng = np.random.default_rng(3)
    ts = np.arange(40, dtype=np.int64) * MIN_NS
    vals = rng.normal(50, 5, (40, 2))
    full = FeatureEngine(spec).process(ts, vals)
    eng = FeatureEngine(spec)
    eng.process(ts[:17], vals[:17])
    for clone in (FeatureEngine.restore(eng.snapshot()), pickle.loads(pickle.dumps(eng))):
        assert isinstance(clone, FeatureEngine)
        assert clone.spec == spec and clone.counters == eng.counters
        np.testing.assert_array_equal(clone.process(ts[17:], vals[17:]), full[17:])


def test_std_stays_precise_over_ten_million_events() -> None:
    spec = FeatureSpec(
        signals=["load_mw"],
        lags=[],
        windows=[48],
        stats=["std"],
        calendar=False,
        interactions=False,
        diff=False,
    )
    eng = FeatureEngine(spec)
    rng = np.random.default_rng(7)
    chunk = 1_000_000
    for c in range(10):
        ts = (np.arange(chunk, dtype=np.int64) + c * chunk) * 1_000_000_000
        vals = (1e9 + rng.normal(0, 1.0, chunk)).reshape(-1, 1)
        out = eng.process(ts, vals)
    want = np.std(vals[-48:, 0], ddof=1)
    assert out[-1, 0] == pytest.approx(want, rel=1e-9)
