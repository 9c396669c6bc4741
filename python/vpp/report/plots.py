"""The report's figures, drawn with matplotlib's Agg backend into PNG files.

Each function takes one series dict (shapes of :mod:`vpp.report.series`)
and writes one PNG. Figures are built as :class:`matplotlib.figure.Figure`
objects (no pyplot state), so reports can be drawn from any thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_arbitrage", "plot_forecast", "plot_frequency", "plot_units"]

#: Units drawn one by one; larger fleets show the fleet mean/total plus these.
MAX_UNIT_LINES = 8
#: The forecast plot shows at most the last this many points (readable detail).
FORECAST_WINDOW_POINTS = 3 * 1440
#: Window of a closed-loop frequency trace shown around the event, s.
FREQUENCY_BEFORE_S, FREQUENCY_AFTER_S = 60.0, 600.0
_DPI = 110


def _figure(rows: int = 1, height: float = 3.6) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, height * rows), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def _times(ts_ns: np.ndarray) -> np.ndarray:
    return np.asarray(ts_ns, dtype=np.int64).astype("datetime64[ns]")


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, format="png")
    return path


def plot_forecast(s: dict[str, Any], path: Path) -> Path:
    """Forecast (line) and its interval (band) against what happened."""
    n = len(s["ts_ns"])
    k = slice(max(0, n - FORECAST_WINDOW_POINTS), n)
    t = _times(s["ts_ns"][k])
    fig, (ax,) = _figure()
    lower, upper = s.get("lower"), s.get("upper")
    if isinstance(lower, np.ndarray) and isinstance(upper, np.ndarray):
        lq, uq = s.get("lower_q"), s.get("upper_q")
        label = (
            f"interval (q{lq:g} to q{uq:g})" if lq is not None and uq is not None else "interval"
        )
        ax.fill_between(t, lower[k], upper[k], color="tab:blue", alpha=0.2, lw=0, label=label)
    ax.plot(t, s["actual"][k], color="black", lw=1.0, label="actual")
    ax.plot(t, s["point"][k], color="tab:blue", lw=1.0, label="forecast")
    h = s.get("horizon_steps", 1)
    site = f" at {s['site']}" if s.get("site") else ""
    ax.set_title(f"{s.get('target', 'target')}{site}: forecast {h} step(s) ahead vs actual")
    ax.set_ylabel(str(s.get("target", "")))
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def plot_frequency(s: dict[str, Any], path: Path) -> Path:
    """Frequency around an event, without and with the fleet (or measured only)."""
    t = np.asarray(s["t_s"], dtype=np.float64)
    event = s.get("event_s") or 0.0
    if s.get("measured"):
        # Minute data: the whole window, in minutes.
        x, unit, lim = (t - event) / 60.0, "min", None
    else:
        # A fine closed-loop trace: the fall, the nadir and the recovery.
        x, unit, lim = t - event, "s", (-FREQUENCY_BEFORE_S, FREQUENCY_AFTER_S)
    fig, (ax,) = _figure()
    nominal = float(s.get("nominal_hz") or 50.0)
    ax.axhline(nominal, color="grey", lw=0.8)
    ax.axhspan(nominal - 0.015, nominal + 0.015, color="grey", alpha=0.15, label="deadband ±15 mHz")
    for key, label, color in (
        ("with_hz", "measured" if s.get("measured") else "with fleet", "tab:green"),
        ("without_hz", "without fleet", "tab:red"),
    ):
        f = s.get(key)
        if isinstance(f, np.ndarray) and np.isfinite(f).any():
            k = int(np.nanargmin(f))
            ax.plot(x, f, color=color, lw=0.9, alpha=0.85, label=f"{label} (nadir {f[k]:.3f} Hz)")
            ax.plot(x[k], f[k], "o", color=color, ms=4)
    ax.axvline(0.0, color="black", lw=0.6, ls="--")
    if lim is not None and x.size and x[0] < lim[0] < lim[1] < x[-1]:
        ax.set_xlim(*lim)
    ax.set_xlabel(f"time from the event, {unit}")
    ax.set_ylabel("frequency, Hz")
    ax.set_title("Grid frequency around the event")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def _unit_lines(
    ax: Any, t: np.ndarray, cols: dict[str, np.ndarray], scale: float, step: bool, fleet: str
) -> None:
    names = sorted(cols)
    for name in names[:MAX_UNIT_LINES]:
        y = cols[name] * scale
        if step:
            ax.step(t, y, where="post", lw=0.9, label=name)
        else:
            ax.plot(t, y, lw=0.9, label=name)
    if len(names) > 1:
        stack = np.vstack([cols[n] for n in names]) * scale
        agg = np.nanmean(stack, axis=0) if fleet == "mean" else np.nansum(stack, axis=0)
        ax.plot(t, agg, color="black", lw=1.4, label=f"fleet {fleet}")
    ax.legend(loc="upper left", fontsize=7, ncol=min(5, len(names) + 1))


def plot_units(s: dict[str, Any], path: Path) -> Path:
    """State of charge and dispatched power of each unit."""
    t = _times(s["ts_ns"])
    soc, power = s.get("soc_frac") or {}, s.get("power_mw") or {}
    rows = [r for r in (("soc", soc), ("power", power)) if r[1]]
    fig, axes = _figure(len(rows), height=3.0)
    for ax, (kind, cols) in zip(axes, rows, strict=True):
        if kind == "soc":
            _unit_lines(ax, t, cols, 100.0, step=False, fleet="mean")
            ax.set_ylabel("state of charge, %")
            ax.set_ylim(0, 100)
        else:
            _unit_lines(ax, t, cols, 1.0, step=True, fleet="total")
            ax.axhline(0.0, color="grey", lw=0.6)
            ax.set_ylabel("power, MW (+ discharge)")
    axes[0].set_title("Batteries: state of charge and dispatch per unit")
    return _save(fig, path)


def plot_arbitrage(s: dict[str, Any], path: Path) -> Path:
    """Cumulative trading profit against the perfect-foresight optimum, with prices."""
    t = _times(s["ts_ns"])
    fig, (ax,) = _figure(height=4.0)
    profit = s["profit_cum"]
    ax.plot(t, profit, color="tab:blue", lw=1.4, label=f"agents ({profit[-1]:,.0f})")
    oracle = s.get("oracle_profit_cum")
    if isinstance(oracle, np.ndarray) and np.isfinite(oracle).any():
        ax.plot(
            t,
            oracle,
            color="tab:orange",
            lw=1.4,
            ls="--",
            label=f"perfect foresight ({oracle[-1]:,.0f})",
        )
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_ylabel("cumulative profit, price units")
    price = s.get("price_per_mwh")
    if isinstance(price, np.ndarray) and np.isfinite(price).any():
        ax2 = ax.twinx()
        ax2.plot(t, price, color="grey", lw=0.6, alpha=0.5)
        ax2.set_ylabel("price per MWh", color="grey")
        # Profit lines above the price trace.
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
    ax.set_title("Arbitrage: cumulative profit against the optimum")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)
