"""Forecast quality measures and the naive baselines they are compared with."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "interval_coverage",
    "mae",
    "median_step_ns",
    "pinball_loss",
    "rmse",
    "shift_per_site",
    "skill",
    "steps_per_day",
]

_DAY_NS = 86_400 * 10**9


def mae(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute error over rows where both are finite (NaN if none)."""
    ok = np.isfinite(y) & np.isfinite(pred)
    return float(np.mean(np.abs(y[ok] - pred[ok]))) if ok.any() else float("nan")


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    """Root mean squared error over rows where both are finite (NaN if none)."""
    ok = np.isfinite(y) & np.isfinite(pred)
    return float(np.sqrt(np.mean((y[ok] - pred[ok]) ** 2))) if ok.any() else float("nan")


def pinball_loss(y: np.ndarray, preds: np.ndarray, quantiles: Sequence[float]) -> float:
    """Mean pinball (quantile) loss over quantiles and finite rows.

    Args:
        y: observed values, shape ``(n,)``.
        preds: predicted quantiles, shape ``(n, len(quantiles))``.
        quantiles: the quantile level of each column.
    """
    q = np.asarray(quantiles, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(preds).all(axis=1)
    if not ok.any():
        return float("nan")
    diff = y[ok, None] - preds[ok]
    return float(np.mean(np.maximum(q * diff, (q - 1.0) * diff)))


def interval_coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of finite rows with ``lower <= y <= upper`` (NaN if none)."""
    ok = np.isfinite(y) & np.isfinite(lower) & np.isfinite(upper)
    if not ok.any():
        return float("nan")
    return float(np.mean((y[ok] >= lower[ok]) & (y[ok] <= upper[ok])))


def skill(model_mae: float, baseline_mae: float) -> float:
    """``1 - model_mae / baseline_mae``: > 0 means the model beats the baseline."""
    if not np.isfinite(baseline_mae) or baseline_mae == 0:
        return float("nan")
    return 1.0 - model_mae / baseline_mae


def shift_per_site(values: np.ndarray, sites: np.ndarray, steps: int) -> np.ndarray:
    """The value ``steps`` events later (``steps < 0``: earlier) at the same site.

    Events of one site keep their order; positions without such an event are NaN.
    """
    out = np.full(values.shape[0], np.nan)
    for site in np.unique(sites):
        idx = np.flatnonzero(sites == site)
        if abs(steps) >= idx.size:
            continue
        if steps >= 0:
            out[idx[: idx.size - steps]] = values[idx[steps:]]
        else:
            out[idx[-steps:]] = values[idx[: idx.size + steps]]
    return out


def median_step_ns(ts_ns: np.ndarray, sites: np.ndarray) -> float | None:
    """Median step between consecutive events of a site, ns (None if unknown:
    fewer than two events at every site, or not increasing)."""
    steps: list[np.ndarray] = []
    for site in np.unique(sites):
        t = ts_ns[sites == site]
        if t.size > 1:
            steps.append(np.diff(t))
    if not steps:
        return None
    step = float(np.median(np.concatenate(steps)))
    return step if step > 0 else None


def steps_per_day(ts_ns: np.ndarray, sites: np.ndarray) -> int | None:
    """Events per day at one site, from the median step between its events.

    Returns None when there are fewer than two events per site or the step
    does not divide a day into a whole number of events (within 0.01 event).
    """
    step = median_step_ns(ts_ns, sites)
    if step is None:
        return None
    per_day = _DAY_NS / step
    rounded = round(per_day)
    if rounded < 1 or abs(per_day - rounded) > 0.01:
        return None
    return int(rounded)
