"""Feature engine against the pandas prototype and a numpy ring, side by side.

Default spec, one site, one core. Each benchmark records in ``extra_info``
that its output agreed with the engine's, so the timings compare equal work.
Run: ``make bench`` (figures in the README).
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.baselines import NumpyRing, PandasPrototype
from vpp import FeatureEngine, FeatureSpec

pytestmark = pytest.mark.benchmark

MIN_NS = 60_000_000_000
N_BATCH = 200_000


@pytest.fixture(scope="module")
def stream() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ts = np.arange(N_BATCH, dtype=np.int64) * MIN_NS
    values = rng.normal(100.0, 10.0, (N_BATCH, 6))
    return ts, values


def _agrees(baseline: object, ts: np.ndarray, values: np.ndarray, n: int = 60) -> bool:
    eng = FeatureEngine(FeatureSpec.default())
    want = eng.process(ts[:n], values[:n])
    got = np.array([baseline.push(int(t), v) for t, v in zip(ts[:n], values[:n], strict=True)])  # type: ignore[attr-defined]
    return bool(np.allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True))


def test_process_batch(benchmark, stream) -> None:  # type: ignore[no-untyped-def]
    ts, values = stream

    def run() -> np.ndarray:
        return FeatureEngine(FeatureSpec.default()).process(ts, values)

    out = benchmark.pedantic(run, rounds=7, iterations=1, warmup_rounds=1)
    assert out.shape == (N_BATCH, len(FeatureSpec.default().feature_names))
    benchmark.extra_info["events_per_call"] = N_BATCH
    benchmark.extra_info["events_per_s"] = N_BATCH / benchmark.stats.stats.median


def test_push_single_event(benchmark, stream) -> None:  # type: ignore[no-untyped-def]
    ts, values = stream
    eng = FeatureEngine(FeatureSpec.default())
    eng.process(ts[:100], values[:100])
    row = values[100]
    clock = iter(range(10**12))

    def push() -> np.ndarray:
        return eng.push(int(ts[100]) + next(clock), row)

    benchmark.pedantic(push, rounds=20_000, iterations=1, warmup_rounds=100)
    benchmark.extra_info["per"] = "event"


def test_numpy_ring_baseline(benchmark, stream) -> None:  # type: ignore[no-untyped-def]
    ts, values = stream
    benchmark.extra_info["agrees_with_engine"] = _agrees(
        NumpyRing(FeatureSpec.default()), ts, values
    )
    base = NumpyRing(FeatureSpec.default())
    clock = iter(range(10**12))
    benchmark.pedantic(lambda: base.push(next(clock), values[0]), rounds=500, iterations=1)
    benchmark.extra_info["per"] = "event"
    assert benchmark.extra_info["agrees_with_engine"]


def test_pandas_prototype_baseline(benchmark, stream) -> None:  # type: ignore[no-untyped-def]
    ts, values = stream
    benchmark.extra_info["agrees_with_engine"] = _agrees(
        PandasPrototype(FeatureSpec.default()), ts, values
    )
    base = PandasPrototype(FeatureSpec.default())
    for t, v in zip(ts[:60], values[:60], strict=True):
        base.push(int(t), v)
    clock = iter(range(10**12))
    benchmark.pedantic(
        lambda: base.push(int(ts[60]) + next(clock), values[0]), rounds=30, iterations=1
    )
    benchmark.extra_info["per"] = "event"
    assert benchmark.extra_info["agrees_with_engine"]
