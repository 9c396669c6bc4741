"""The tabulated price curve: fits a known merit order, keeps its monotonicity
and stays flat beyond the history."""

from __future__ import annotations

import numpy as np
import pytest

from vpp.agents.price_curve import PriceCurve, curve_features
from vpp.errors import ParameterError


def _merit(net: np.ndarray, share: np.ndarray) -> np.ndarray:
    return (
        20.0 + 100.0 * (np.maximum(net, 0.0) / 1000.0) ** 1.5 - 300.0 * np.maximum(share - 0.8, 0)
    )


def _fitted() -> PriceCurve:
    rng = np.random.default_rng(5)
    load = rng.uniform(400.0, 1200.0, 20_000)
    ren = rng.uniform(0.0, 1.0, load.size) * load
    x = curve_features(load, 0.3 * ren, 0.7 * ren)
    return PriceCurve(x, _merit(x[:, 0], x[:, 1]), rng, n_jobs=1)


def test_reproduces_a_known_curve() -> None:
    curve = _fitted()
    net = np.linspace(100.0, 1100.0, 50)
    share = np.full(net.size, 0.3)
    got = curve(np.column_stack([net, share]))
    truth = _merit(net, share)
    assert np.max(np.abs(got - truth)) < 5.0, np.max(np.abs(got - truth))
    # The negative-price cliff is learnt too.
    hi = curve(np.array([[50.0, 0.95]]))[0]
    assert hi < curve(np.array([[50.0, 0.5]]))[0] - 30.0


def test_monotone_and_flat_beyond_the_history() -> None:
    curve = _fitted()
    net = np.linspace(-500.0, 3000.0, 400)
    along = curve(np.column_stack([net, np.full(net.size, 0.2)]))
    assert np.all(np.diff(along) >= -1e-9)
    across = curve(np.column_stack([np.full(50, 600.0), np.linspace(0.0, 1.0, 50)]))
    assert np.all(np.diff(across) <= 1e-9)
    top = curve(np.array([[curve.net[-1], 0.2], [1e6, 0.2]]))
    assert top[0] == top[1]


def test_too_few_usable_events_are_named() -> None:
    x = np.array([[100.0, 0.1], [np.nan, 0.2], [300.0, 0.3]])
    with pytest.raises(ParameterError, match=r"needs 2 events .* got 1"):
        PriceCurve(x, np.array([10.0, 20.0, np.nan]), np.random.default_rng(0))
