"""The Rust engine against a plain numpy/pandas computation of the definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.features.oracle import oracle_features
from vpp import FeatureEngine, FeatureSpec
from vpp.schema import GRID_SIGNALS

SPECIAL = [np.nan, np.inf, -np.inf]


@st.composite
def streams(draw: st.DrawFn) -> tuple[FeatureSpec, np.ndarray, np.ndarray, np.ndarray]:
    signals = draw(st.lists(st.sampled_from(GRID_SIGNALS), min_size=1, max_size=4, unique=True))
    spec = FeatureSpec(
        signals=signals,
        lags=draw(st.lists(st.integers(1, 8), min_size=0, max_size=3, unique=True)),
        windows=draw(st.lists(st.integers(1, 9), min_size=1, max_size=3, unique=True)),
        stats=draw(
            st.lists(st.sampled_from(["mean", "std", "min", "max"]), min_size=1, unique=True)
        ),
        calendar=draw(st.booleans()),
        interactions=draw(st.booleans()),
        diff=draw(st.booleans()),
    )
    n = draw(st.integers(0, 80))
    n_sites = draw(st.integers(1, 3))
    offset = draw(st.sampled_from([0.0, 1e6, 1e9]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = offset + rng.normal(0, draw(st.sampled_from([1e-3, 1.0, 100.0])), (n, len(signals)))
    # Constant runs, then missing/infinite values sprinkled in.
    if n > 10 and draw(st.booleans()):
        a = draw(st.integers(0, n - 10))
        values[a : a + draw(st.integers(2, 10))] = offset + 7.0
    mask = rng.random(values.shape) < draw(st.sampled_from([0.0, 0.03, 0.2]))
    values[mask] = rng.choice(SPECIAL, size=int(mask.sum()))
    sites = rng.integers(0, n_sites, n).astype(str).astype(object)
    start = draw(st.integers(0, 2_000_000_000)) * 1_000_000_000
    steps = rng.integers(1, 3_600, n).astype(np.int64) * 1_000_000_000
    ts = start + np.cumsum(steps)
    return spec, ts, values, sites


def assert_same(got: np.ndarray, want: np.ndarray, names: list[str]) -> None:
    both_nan = np.isnan(got) & np.isnan(want)
    scale = 1.0 + np.maximum(np.abs(np.nan_to_num(got)), np.abs(np.nan_to_num(want)))
    ok = both_nan | (np.abs(got - want) <= 1e-9 * scale)
    if not ok.all():
        i, j = np.argwhere(~ok)[0]
        raise AssertionError(
            f"row {i} feature {names[j]}: engine {got[i, j]!r} vs oracle {want[i, j]!r}"
        )


@settings(max_examples=150, deadline=None)
@given(streams())
def test_engine_matches_oracle(
    case: tuple[FeatureSpec, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    spec, ts, values, sites = case
    eng = FeatureEngine(spec)
    got = eng.process(ts, values, sites)
    assert got.shape == (len(ts), len(eng.feature_names))
    assert_same(got, oracle_features(spec, ts, values, sites), eng.feature_names)


@settings(max_examples=40, deadline=None)
@given(streams(), st.integers(0, 80))
def test_push_loop_and_snapshot_equal_process(
    case: tuple[FeatureSpec, np.ndarray, np.ndarray, np.ndarray], cut: int
) -> None:
    spec, ts, values, sites = case
    batch = FeatureEngine(spec).process(ts, values, sites)
    eng = FeatureEngine(spec)
    rows = []
    for i in range(len(ts)):
        if i == cut:
            eng = FeatureEngine.restore(eng.snapshot())
        rows.append(eng.push(int(ts[i]), values[i], site=sites[i]))
    if rows:
        np.testing.assert_array_equal(np.array(rows), batch)
