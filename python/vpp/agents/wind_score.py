"""The wind as a Gaussian score: the fundamental forecaster's view of it.

The twin's wind, like real wind, is a persistent Gaussian process mapped
through a skewed marginal and a power curve that piles values at 0 and at
rated power. The forecaster works on the Gaussian score of each value under
the empirical distribution of recent wind: there the wind reverts like an
Ornstein-Uhlenbeck process, and a published forecast's error is additive.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["feed_error", "score", "score_time_constant", "scores"]

_NS_PER_HOUR = 3_600_000_000_000


def score(sorted_hist: np.ndarray, value: float, norm) -> float:  # type: ignore[no-untyped-def]
    """Gaussian score of ``value`` under the empirical distribution; on an
    atom (many equal values, e.g. 0 or rated power) the normal's mean there."""
    return float(scores(sorted_hist, np.array([value]), norm)[0])


def scores(sorted_hist: np.ndarray, values: np.ndarray, norm) -> np.ndarray:  # type: ignore[no-untyped-def]
    """:func:`score` of each of ``values``."""
    lo = np.searchsorted(sorted_hist, values, side="left") / sorted_hist.size
    hi = np.searchsorted(sorted_hist, values, side="right") / sorted_hist.size
    a, b = norm.ppf(np.clip(lo, 1e-6, 1 - 1e-6)), norm.ppf(np.clip(hi, 1e-6, 1 - 1e-6))
    atom = b - a > 0.05
    mass = np.maximum(norm.cdf(b) - norm.cdf(a), 1e-12)
    return np.where(atom, (norm.pdf(a) - norm.pdf(b)) / mass, 0.5 * (a + b))


def feed_error(  # type: ignore[no-untyped-def]
    ts: np.ndarray, wind: np.ndarray, feed_wind: np.ndarray, sorted_hist: np.ndarray, norm
) -> tuple[float, float, float] | None:
    """Mean, standard deviation and time constant (hours) of the published
    wind forecast's error in the wind score, from events with a forecast for
    their hour (None when fewer than 48 of them).

    The time constant comes from the error's autocorrelation one hour apart
    (``exp(-1 h / tau)`` for an AR(1) error), pairing each event with the
    first one at least an hour later if that comes within 6 minutes more
    (irregular telemetry rarely has events exactly an hour apart); 12 h when
    it cannot tell.
    """
    ok = np.isfinite(feed_wind)
    if ok.sum() < 48:
        return None
    t, e = ts[ok], scores(sorted_hist, wind[ok], norm) - scores(sorted_hist, feed_wind[ok], norm)
    bias, std = float(e.mean()), float(e.std())
    if not std > 1e-6:
        return bias, 1e-6, 12.0
    later = np.searchsorted(t, t + _NS_PER_HOUR)
    pair = later < t.size
    pair[pair] &= t[later[pair]] - t[pair] <= _NS_PER_HOUR * 1.1
    if pair.sum() < 24:
        return bias, std, 12.0
    d0, d1 = e[pair] - bias, e[later[pair]] - bias
    rho = min(max(float(np.mean(d0 * d1)) / std**2, 0.05), 0.999)
    return bias, std, -1.0 / math.log(rho)


def score_time_constant(ts: np.ndarray, wind: np.ndarray, sorted_hist: np.ndarray, norm) -> float:  # type: ignore[no-untyped-def]
    """Hours over which the wind score reverts, from the mean squared step of
    the score between events at the most common spacing: for a unit-variance
    Ornstein-Uhlenbeck score ``E[(z' - z)^2] = 2 (1 - exp(-dt / tau))``.

    Only steps between two interior values count (on an atom the score is
    unknown); at short spacings that selection barely biases the step. 10 h
    when the history cannot tell.
    """
    if ts.size < 48:
        return 10.0
    n = sorted_hist.size
    lo = np.searchsorted(sorted_hist, wind, side="left")
    hi = np.searchsorted(sorted_hist, wind, side="right")
    # An atom is a value shared by more than 0.5% of the events.
    inner = (hi - lo <= max(1, n // 200)) & (lo > 0) & (hi < n)
    z = norm.ppf(np.clip((lo + hi) / (2.0 * n), 1e-6, 1 - 1e-6))
    dt = np.diff(ts)
    step = int(np.median(dt))
    pair = inner[1:] & inner[:-1] & (dt == step)
    if pair.sum() < 24:
        return 10.0
    m2 = float(np.mean((z[1:][pair] - z[:-1][pair]) ** 2))
    rho = min(max(1.0 - 0.5 * m2, 0.05), 0.99999)
    return -(step / _NS_PER_HOUR) / math.log(rho)
