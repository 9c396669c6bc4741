"""Baselines the engine is measured against, written the way prototypes are.

Both compute the same features as :class:`vpp.FeatureEngine` for one site
(the benchmarks check that they agree), so the timings compare equal work.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

from vpp import FeatureSpec
from vpp.schema import NET_LOAD


def _channels(spec: FeatureSpec, values: np.ndarray) -> np.ndarray:
    """Signal values plus derived net load, with non-finite as NaN."""
    v = np.where(np.isfinite(values), values, np.nan)
    sig = list(spec.signals)
    if "load_mw" not in sig:
        return v
    get = {s: v[..., sig.index(s)] if s in sig else 0.0 for s in ("load_mw", "solar_mw", "wind_mw")}
    net = get["load_mw"] - get["solar_mw"] - get["wind_mw"]
    return np.concatenate([v, np.asarray(net)[..., None]], axis=-1)


def _calendar(ts_ns: int) -> list[float]:
    t = pd.Timestamp(ts_ns, tz="UTC")
    hour = (ts_ns % 86_400_000_000_000) / 3.6e12
    dow = t.day_of_week
    m = t.month - 1
    tau = 2 * np.pi
    return [
        np.sin(tau * hour / 24),
        np.cos(tau * hour / 24),
        np.sin(tau * dow / 7),
        np.cos(tau * dow / 7),
        np.sin(tau * m / 12),
        np.cos(tau * m / 12),
        float(dow >= 5),
    ]


class PandasPrototype:
    """Per event: append to a deque, rebuild a DataFrame, shift/rolling, keep the last row.

    This is how a typical notebook prototype computes streaming features.
    """

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self.names = [*spec.signals, *([NET_LOAD] if "load_mw" in spec.signals else [])]
        depth = max([*spec.lags, *spec.windows, 1]) + 1
        self.rows: deque[np.ndarray] = deque(maxlen=depth)
        self.last_ts: int | None = None
        self.last_net = np.nan

    def push(self, ts_ns: int, values: np.ndarray) -> np.ndarray:
        ch = _channels(self.spec, np.asarray(values, dtype=float))
        self.rows.append(ch)
        df = pd.DataFrame(list(self.rows), columns=self.names)
        parts: list[pd.DataFrame] = []
        for name in self.names:
            col = df[name]
            feats = {f"{name}_lag{k}": col.shift(k) for k in self.spec.lags}
            for w in self.spec.windows:
                roll = col.rolling(w, min_periods=w)
                for stat in self.spec.stats:
                    feats[f"{name}_{stat}{w}"] = getattr(roll, stat)()
            if self.spec.diff:
                feats[f"{name}_diff1"] = col.diff()
            parts.append(pd.DataFrame(feats))
        row = pd.concat(parts, axis=1).iloc[-1].to_numpy(dtype=float)
        extra: list[float] = _calendar(ts_ns) if self.spec.calendar else []
        if self.spec.interactions and "load_mw" in self.spec.signals:
            extra += self._interactions(ts_ns, ch)
        return np.concatenate([row, extra])

    def _interactions(self, ts_ns: int, ch: np.ndarray) -> list[float]:
        sig = list(self.spec.signals)
        load = ch[sig.index("load_mw")]
        out: list[float] = []
        if "solar_mw" in sig or "wind_mw" in sig:
            ren = sum(ch[sig.index(s)] for s in ("solar_mw", "wind_mw") if s in sig)
            out.append(ren / load if load > 0 else np.nan)
        net = ch[-1]
        dt_h = np.nan if self.last_ts is None else (ts_ns - self.last_ts) / 3.6e12
        out.append((net - self.last_net) / dt_h if self.last_ts is not None else np.nan)
        self.last_ts, self.last_net = ts_ns, net
        return out


class NumpyRing:
    """Per event: a numpy ring of recent rows and a full recompute of each window."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self.depth = max([*spec.lags, *spec.windows, 1]) + 1
        n_ch = len(spec.signals) + ("load_mw" in spec.signals)
        self.buf = np.full((self.depth, n_ch), np.nan)
        self.count = 0
        self.last_ts: int | None = None
        self.last_net = np.nan

    def push(self, ts_ns: int, values: np.ndarray) -> np.ndarray:
        ch = _channels(self.spec, np.asarray(values, dtype=float))
        self.buf = np.roll(self.buf, -1, axis=0)
        self.buf[-1] = ch
        self.count += 1
        cols: list[np.ndarray] = []
        for k in self.spec.lags:
            cols.append(self.buf[-1 - k] if k < self.count else np.full(len(ch), np.nan))
        for w in self.spec.windows:
            win = self.buf[-w:]
            full = self.count >= w
            for stat in self.spec.stats:
                if not full:
                    cols.append(np.full(len(ch), np.nan))
                elif stat == "std":
                    cols.append(win.std(axis=0, ddof=1) if w > 1 else np.full(len(ch), np.nan))
                else:
                    cols.append(getattr(win, stat)(axis=0))
        if self.spec.diff:
            cols.append(self.buf[-1] - self.buf[-2])
        # Column-major per channel, as the engine lays features out.
        per_channel = np.stack(cols, axis=1).reshape(-1)
        extra: list[float] = _calendar(ts_ns) if self.spec.calendar else []
        if self.spec.interactions and "load_mw" in self.spec.signals:
            extra += PandasPrototype._interactions(self, ts_ns, ch)  # type: ignore[arg-type]
        return np.concatenate([per_channel, extra])
