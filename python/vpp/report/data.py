"""What a report shows, read from a backtest JSON or from a store.

A backtest JSON (``vpp backtest --json``) gives the summary numbers and, when
it carries a ``"series"`` section (see :mod:`vpp.report.series`), the curves.
A store (what ``vpp run`` / ``vpp consume`` write) gives the curves it holds:
forecasts against the telemetry they forecast, SoC and dispatch per unit,
the measured frequency, and the trading profit of the dispatch at the stored
prices against the perfect-foresight optimum for the configured battery.
Nothing is invented: a plot whose data is absent is skipped with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vpp.errors import VppError

__all__ = ["PLOTS", "ReportData", "load_backtest_json", "load_sources", "load_store"]

#: Plot names, in page order.
PLOTS: tuple[str, ...] = ("forecast", "frequency", "units", "arbitrage")


@dataclass
class ReportData:
    """Everything one report page needs.

    Attributes:
        sources: where the data came from (paths or store URLs).
        summary: nested summary numbers (a backtest JSON without ``series``,
            or figures computed from a store).
        series: plot name → series dict (shapes of :mod:`vpp.report.series`,
            lists turned into float arrays; ``None`` entries into NaN).
        notes: plot name → why it is missing.
    """

    sources: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    series: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def merge(self, other: ReportData) -> ReportData:
        """Combine two sources: series and summary sections of ``self`` win."""
        summary = {**other.summary, **self.summary}
        series = {**other.series, **self.series}
        notes = {k: v for k, v in {**other.notes, **self.notes}.items() if k not in series}
        return ReportData(self.sources + other.sources, summary, series, notes)


def _arrays(doc: dict[str, Any]) -> dict[str, Any]:
    """Lists of numbers/None → float arrays (NaN for None); ts lists → int64."""
    out: dict[str, Any] = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            out[k] = _arrays(v)
        elif isinstance(v, list):
            if k.startswith("ts_ns"):
                out[k] = np.asarray(v, dtype=np.int64)
            else:
                out[k] = np.array([math.nan if x is None else x for x in v], dtype=np.float64)
        else:
            out[k] = v
    return out


_SERIES_NEED = {
    "forecast": ("ts_ns", "actual", "point"),
    "frequency": ("t_s",),
    "units": ("ts_ns",),
    "arbitrage": ("ts_ns", "profit_cum"),
}


def load_backtest_json(path: str | Path) -> ReportData:
    """Read a backtest JSON (``vpp backtest --json`` output).

    Raises:
        VppError: unreadable file, not JSON, or not a JSON object.
    """
    import orjson

    try:
        doc = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise VppError(f"--from {path}: cannot read ({exc.strerror})") from None
    except orjson.JSONDecodeError as exc:
        raise VppError(f"--from {path}: not a JSON file ({exc})") from None
    if not isinstance(doc, dict):
        raise VppError(f"--from {path}: expected a JSON object (a backtest summary)")
    raw_series = doc.pop("series", None) or {}
    data = ReportData(sources=[str(path)], summary=doc)
    for name in PLOTS:
        part = raw_series.get(name)
        need = _SERIES_NEED[name]
        if isinstance(part, dict) and all(part.get(k) for k in need):
            data.series[name] = _arrays(part)
        else:
            data.notes[name] = f"{Path(path).name} has no series.{name} section"
    return data


def load_store(url: str | None, site: str | None = None, config: Any = None) -> ReportData:
    """Read the curves a store holds for one site (default: its first site).

    Args:
        url: store URL or path (see :func:`vpp.io.open_store`).
        site: the site to show.
        config: a :class:`vpp.config.Config` for the battery and settlement
            of the perfect-foresight comparison (default settings if None).
    """
    from vpp.config import Config
    from vpp.io import open_store

    cfg = config or Config()
    with open_store(url, read_only=True) as store:
        sites = store.sites()
        data = ReportData(sources=[str(getattr(store, "url", url))])
        if not sites:
            for name in PLOTS:
                data.notes[name] = "the store has no telemetry"
            data.summary = {"store": {"events": 0}}
            return data
        site = site or sites[0]
        if site not in sites:
            raise VppError(f"--site {site!r}: the store has sites {sites}")
        tel = store.telemetry_range(site=site)
        fc = store.forecast_range(site=site)
        soc = store.soc_range(site=site)
        disp = store.dispatch_range(site=site)
        counts = {t: store.count(t) for t in ("telemetry", "forecast", "dispatch", "soc")}
    ts = tel["ts_ns"].to_numpy(np.int64)
    data.summary["store"] = {
        "site": site,
        "sites": sites,
        "events": len(tel),
        "from": _iso(ts[0]) if ts.size else None,
        "to": _iso(ts[-1]) if ts.size else None,
        "records": counts,
    }
    _forecast_from_store(data, tel, fc, site)
    _frequency_from_store(data, tel)
    _units_from_store(data, soc, disp)
    _arbitrage_from_store(data, tel, disp, cfg)
    return data


def _iso(ts_ns: int) -> str:
    return pd.Timestamp(int(ts_ns), unit="ns", tz="UTC").isoformat()


def _target_values(tel: pd.DataFrame, target: str) -> np.ndarray | None:
    if target == "net_load_mw":
        if "load_mw" not in tel:
            return None
        net = tel["load_mw"].to_numpy(np.float64).copy()
        for c in ("solar_mw", "wind_mw"):
            if c in tel:
                net -= np.nan_to_num(tel[c].to_numpy(np.float64))
        return net
    return tel[target].to_numpy(np.float64) if target in tel else None


def _forecast_from_store(data: ReportData, tel: pd.DataFrame, fc: pd.DataFrame, site: str) -> None:
    if fc.empty:
        data.notes["forecast"] = (
            "the store has no forecasts (vpp run writes them when a model is available)"
        )
        return
    target = str(fc["target"].mode().iloc[0])
    fc = fc[fc["target"] == target]
    horizon = int(fc["horizon_steps"].min())
    fc = fc[fc["horizon_steps"] == horizon].dropna(subset=["target_ts_ns"])
    actual = _target_values(tel, target)
    if fc.empty or actual is None:
        data.notes["forecast"] = f"no telemetry of {target} to compare the forecasts with"
        return
    truth = pd.DataFrame({"target_ts_ns": tel["ts_ns"].to_numpy(np.int64), "actual": actual})
    fc = fc.assign(target_ts_ns=fc["target_ts_ns"].astype(np.int64))
    joined = fc.merge(truth, on="target_ts_ns", how="inner").sort_values("target_ts_ns")
    if joined.empty:
        data.notes["forecast"] = "no forecast's target time has telemetry yet"
        return
    col = {c: joined[c].to_numpy(np.float64) for c in ("actual", "point", "lower", "upper")}
    data.series["forecast"] = {
        "target": target,
        "site": site,
        "horizon_steps": horizon,
        "lower_q": _first(joined, "lower_q"),
        "upper_q": _first(joined, "upper_q"),
        "ts_ns": joined["target_ts_ns"].to_numpy(np.int64),
        **col,
    }
    err = col["point"] - col["actual"]
    ok = np.isfinite(err)
    inside = (col["actual"] >= col["lower"]) & (col["actual"] <= col["upper"])
    band = np.isfinite(col["lower"]) & np.isfinite(col["upper"]) & ok
    data.summary["forecast"] = {
        "target": target,
        "horizon_steps": horizon,
        "compared": int(ok.sum()),
        "mae": float(np.mean(np.abs(err[ok]))) if ok.any() else None,
        "rmse": float(np.sqrt(np.mean(err[ok] ** 2))) if ok.any() else None,
        "interval_coverage": float(inside[band].mean()) if band.any() else None,
    }


def _first(df: pd.DataFrame, col: str) -> float | None:
    if col not in df:
        return None
    vals = df[col].dropna()
    return float(vals.iloc[0]) if len(vals) else None


def _frequency_from_store(data: ReportData, tel: pd.DataFrame) -> None:
    if "frequency_hz" not in tel or not tel["frequency_hz"].notna().any():
        data.notes["frequency"] = "the store has no frequency telemetry"
        return
    f = tel["frequency_hz"].to_numpy(np.float64)
    ts = tel["ts_ns"].to_numpy(np.int64)
    nominal = 60.0 if np.nanmedian(f) > 55 else 50.0
    k = int(np.nanargmax(np.abs(f - nominal)))
    # ±30 min around the largest excursion: the event and the recovery.
    win = (ts >= ts[k] - 1_800 * 10**9) & (ts <= ts[k] + 1_800 * 10**9)
    data.series["frequency"] = {
        "t_s": (ts[win] - ts[k]) / 1e9,
        "without_hz": None,
        "with_hz": f[win],
        "event_s": 0.0,
        "nominal_hz": nominal,
        "measured": True,
        "at": _iso(ts[k]),
    }
    data.summary["frequency"] = {
        "largest_excursion_at": _iso(ts[k]),
        "largest_deviation_hz": float(f[k] - nominal),
        "min_hz": float(np.nanmin(f)),
        "max_hz": float(np.nanmax(f)),
    }


def _pivot(df: pd.DataFrame, value: str, agg: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-unit columns on the records' times; a unit's value holds until its next record."""
    wide = df.pivot_table(index="ts_ns", columns="unit", values=value, aggfunc=agg).ffill()
    return wide.index.to_numpy(np.int64), {
        str(u): wide[u].to_numpy(np.float64) for u in wide.columns
    }


def _units_from_store(data: ReportData, soc: pd.DataFrame, disp: pd.DataFrame) -> None:
    if soc.empty and disp.empty:
        data.notes["units"] = "the store has no SoC or dispatch records"
        return
    parts = []
    if not soc.empty:
        parts.append(("soc_frac", *_pivot(soc, "soc_frac", "last")))
    if not disp.empty:
        # Several agents' records at one time add up to the unit's power.
        parts.append(("power_mw", *_pivot(disp, "power_mw", "sum")))
    idx = parts[0][1] if len(parts) == 1 else np.union1d(parts[0][1], parts[1][1])
    series: dict[str, Any] = {"ts_ns": idx, "soc_frac": {}, "power_mw": {}}
    for name, ts, cols in parts:
        series[name] = {k: _align(ts, v, idx) for k, v in cols.items()}
    data.series["units"] = series


def _align(ts: np.ndarray, v: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``v`` (at ``ts``) on the times ``idx``, held forward (NaN before the first)."""
    pos = np.searchsorted(ts, idx, side="right") - 1
    return np.where(pos >= 0, v[np.clip(pos, 0, None)], np.nan)


def _arbitrage_from_store(
    data: ReportData, tel: pd.DataFrame, disp: pd.DataFrame, cfg: Any
) -> None:
    from vpp.agents.backtest import settlement_prices
    from vpp.report.series import cumulative_profit, oracle_cumulative_profit

    if "price_per_mwh" not in tel or not tel["price_per_mwh"].notna().any():
        data.notes["arbitrage"] = "the store has no prices"
        return
    if disp.empty:
        data.notes["arbitrage"] = "the store has no dispatch records to value"
        return
    ts = tel["ts_ns"].to_numpy(np.int64)
    price = tel["price_per_mwh"].to_numpy(np.float64)
    # Records may be sparse (written when the power changes): each unit's power
    # holds until its next record; the site's power is the sum over units.
    wide = disp.pivot_table(index="ts_ns", columns="unit", values="power_mw", aggfunc="sum")
    wide = wide.reindex(np.union1d(wide.index.to_numpy(np.int64), ts)).ffill().fillna(0.0)
    wide = wide.reindex(ts)
    power = wide.sum(axis=1).to_numpy(np.float64)
    throughput = wide.abs().sum(axis=1).to_numpy(np.float64)  # wear is per unit
    n_units = max(int(disp["unit"].nunique()), 1)
    battery = cfg.battery_config()
    wear = battery.degradation_cost_per_mwh
    # Both sides settle at the settlement period's mean price, as the backtest does.
    settle, _ = settlement_prices(ts, price, cfg.agents.settlement_s)
    profit = cumulative_profit(ts, power, settle, wear, throughput_mw=throughput)
    oracle, oracle_total = oracle_cumulative_profit(
        ts, price, battery, n_units, cfg.agents.settlement_s
    )
    data.series["arbitrage"] = {
        "ts_ns": ts,
        "profit_cum": profit,
        "oracle_profit_cum": oracle,
        "price_per_mwh": price,
    }
    data.summary["arbitrage"] = {
        "profit": float(profit[-1]),
        "oracle_profit": oracle_total,
        "capture_ratio": float(profit[-1] / oracle_total) if oracle_total > 0 else None,
        "units": n_units,
        "oracle_battery": (
            f"{n_units} x {battery.max_discharge_mw} MW / {battery.energy_mwh} MWh, "
            f"round trip {battery.charge_efficiency * battery.discharge_efficiency:.3f}"
        ),
    }


def load_sources(sources: list[str], site: str | None = None, config: Any = None) -> ReportData:
    """Read and merge several ``--from`` sources (earlier ones win)."""
    if not sources:
        raise VppError("give at least one --from STORE|BACKTEST.json")
    merged: ReportData | None = None
    for src in sources:
        part = (
            load_backtest_json(src)
            if src.lower().endswith(".json")
            else load_store(src, site=site, config=config)
        )
        merged = part if merged is None else merged.merge(part)
    assert merged is not None
    return merged
