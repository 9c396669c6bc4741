"""A plain numpy/pandas computation of the feature definitions, for tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from vpp import FeatureSpec
from vpp.schema import NET_LOAD


def _window_stat(x: np.ndarray, w: int, stat: str) -> np.ndarray:
    out = np.full(len(x), np.nan)
    if len(x) < w:
        return out
    win = sliding_window_view(x, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Deviations from a sample of the window are exact for nearby values
        # (Sterbenz), so huge offsets cost the oracle no precision either.
        ref = win[:, -1:]
        if stat == "mean":
            val = ref[:, 0] + (win - ref).mean(axis=1)
        elif stat == "std":
            val = (win - ref).std(axis=1, ddof=1) if w > 1 else np.full(len(win), np.nan)
        else:
            val = getattr(win, stat)(axis=1)
    val[np.isnan(win).any(axis=1)] = np.nan
    out[w - 1 :] = val
    return out


def oracle_features(
    spec: FeatureSpec, ts_ns: np.ndarray, values: np.ndarray, sites: np.ndarray
) -> np.ndarray:
    """Features of a whole stream, computed per site by definition."""
    values = np.where(np.isfinite(values), values, np.nan)
    sig = list(spec.signals)
    n = len(ts_ns)
    out = np.full((n, len(spec.feature_names)), np.nan)
    for site in pd.unique(sites):
        idx = np.flatnonzero(sites == site)
        v = values[idx]
        chans = {s: v[:, i] for i, s in enumerate(sig)}
        if "load_mw" in sig:
            zero = np.zeros(len(idx))
            chans[NET_LOAD] = (
                chans["load_mw"] - chans.get("solar_mw", zero) - chans.get("wind_mw", zero)
            )
        cols: list[np.ndarray] = []
        for x in chans.values():
            s = pd.Series(x)
            cols += [s.shift(k).to_numpy() for k in spec.lags]
            cols += [_window_stat(x, w, st) for w in spec.windows for st in spec.stats]
            if spec.diff:
                cols.append(s.diff().to_numpy())
        t = pd.to_datetime(ts_ns[idx], utc=True)
        if spec.calendar:
            hour = (ts_ns[idx] % 86_400_000_000_000) / 3.6e12
            dow = t.day_of_week.to_numpy()
            month = t.month.to_numpy() - 1
            tau = 2 * np.pi
            cols += [
                np.sin(tau * hour / 24),
                np.cos(tau * hour / 24),
                np.sin(tau * dow / 7),
                np.cos(tau * dow / 7),
                np.sin(tau * month / 12),
                np.cos(tau * month / 12),
                (dow >= 5).astype(float),
            ]
        if spec.interactions and "load_mw" in sig:
            load = chans["load_mw"]
            if "solar_mw" in sig or "wind_mw" in sig:
                ren = sum(chans[s] for s in ("solar_mw", "wind_mw") if s in sig)
                with np.errstate(invalid="ignore", divide="ignore"):
                    cols.append(np.where(load > 0, ren / load, np.nan))
            net = chans[NET_LOAD]
            dt_h = np.diff(ts_ns[idx]) / 3.6e12
            cols.append(np.concatenate([[np.nan], np.diff(net) / dt_h]))
        out[idx] = np.column_stack(cols)
    return out
