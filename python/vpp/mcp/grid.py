"""Grid state and anomaly checks over the store's telemetry.

Thresholds and their sources:

* frequency deadband ±0.015 Hz (GB Dynamic Containment); ±0.2 Hz is the GB
  operational limit and ±0.5 Hz the statutory limit, used as severities;
* a ramp is unusual when the step change of net load is more than
  ``ramp_z`` robust standard deviations (1.4826 × MAD) from the median step;
* a gap is a step longer than ``gap_factor`` times the median step; data is
  stale when the latest record is older than ``stale_factor`` median steps
  (and at least 5 minutes) by the wall clock;
* physical ranges: power ≥ 0 (load may be negative at a net exporter, so only
  renewables are checked), frequency in [45, 55] Hz, temperature in
  [-60, 60] °C, price in [-5000, 20000] per MWh (beyond European market caps).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from vpp.schema import ASSET_SIGNALS, NOMINAL_FREQUENCY_HZ, SIGNALS

__all__ = ["AnomalyLimits", "detect_anomalies", "grid_state", "iso", "net_load"]

_RANGES: dict[str, tuple[float, float]] = {
    "solar_mw": (0.0, math.inf),
    "wind_mw": (0.0, math.inf),
    "frequency_hz": (45.0, 55.0),
    "temperature_c": (-60.0, 60.0),
    "price_per_mwh": (-5000.0, 20000.0),
}


def iso(ts_ns: int | None) -> str | None:
    """UTC ISO 8601 text of a nanosecond timestamp."""
    if ts_ns is None:
        return None
    return (
        datetime.fromtimestamp(int(ts_ns) / 1e9, tz=UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def net_load(rec: dict[str, Any]) -> float | None:
    """``load - solar - wind`` (absent renewables count as 0, as in the schema)."""
    load = _num(rec.get("load_mw"))
    if load is None:
        return None
    total = load
    for k in ("solar_mw", "wind_mw"):
        if k in rec and rec[k] is not None:
            v = _num(rec[k])
            if v is None:
                return None
            total -= v
    return total


def _round(v: float | None, nd: int = 3) -> float | None:
    return None if v is None else round(v, nd)


def grid_state(
    latest: dict[str, Any],
    previous: dict[str, Any] | None = None,
    nominal_hz: float = NOMINAL_FREQUENCY_HZ,
) -> dict[str, Any]:
    """Describe one site's latest record (and the ramp from ``previous``)."""
    ts = int(latest["ts_ns"])
    nl = net_load(latest)
    freq = _num(latest.get("frequency_hz"))
    out: dict[str, Any] = {
        "site": latest["site"],
        "timestamp": iso(ts),
        "ts_ns": ts,
        "data_age_s": round(time.time() - ts / 1e9, 1),
        "signals": {s: _round(_num(latest.get(s))) for s in SIGNALS if s in latest},
        "net_load_mw": _round(nl),
        "frequency_deviation_hz": None if freq is None else round(freq - nominal_hz, 4),
        "nominal_frequency_hz": nominal_hz,
    }
    load = _num(latest.get("load_mw"))
    ren = sum(
        v for v in (_num(latest.get("solar_mw")), _num(latest.get("wind_mw"))) if v is not None
    )
    out["renewable_share"] = round(ren / load, 4) if load and load > 0 else None
    if previous is not None:
        nl0 = net_load(previous)
        dt_h = (ts - int(previous["ts_ns"])) / 3.6e12
        if nl is not None and nl0 is not None and dt_h > 0:
            out["net_load_ramp_mw_per_h"] = round((nl - nl0) / dt_h, 3)
    return out


@dataclass(frozen=True)
class AnomalyLimits:
    """Thresholds of :func:`detect_anomalies` (see the module doc for sources)."""

    nominal_hz: float = NOMINAL_FREQUENCY_HZ
    deadband_hz: float = 0.015
    operational_hz: float = 0.2
    statutory_hz: float = 0.5
    ramp_z: float = 6.0
    gap_factor: float = 3.0
    stale_factor: float = 5.0
    max_listed: int = 10


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where ``mask`` is True."""
    if not mask.any():
        return []
    m = np.concatenate(([False], mask, [False])).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def detect_anomalies(frame: pd.DataFrame, lim: AnomalyLimits | None = None) -> dict[str, Any]:
    """Find frequency excursions, unusual ramps, gaps, staleness, missing and out-of-range data.

    Args:
        frame: one site's telemetry records ordered by time (``ts_ns`` and signals).
        lim: thresholds.

    Returns:
        A dict with a ``summary`` (counts per kind) and the listed findings,
        largest first, at most ``lim.max_listed`` per kind.
    """
    lim = lim or AnomalyLimits()
    ts = frame["ts_ns"].to_numpy(dtype=np.int64)
    n = len(ts)
    out: dict[str, Any] = {"events_checked": n, "from": iso(ts[0]), "to": iso(ts[-1])}
    steps = np.diff(ts)
    step_ns = float(np.median(steps)) if len(steps) else math.nan
    out["median_step_s"] = None if math.isnan(step_ns) else step_ns / 1e9

    # Frequency excursions outside the deadband, grouped into episodes.
    excursions: list[dict[str, Any]] = []
    n_exc = 0
    if "frequency_hz" in frame:
        dev = frame["frequency_hz"].to_numpy(dtype=float) - lim.nominal_hz
        outside = np.abs(np.nan_to_num(dev)) > lim.deadband_hz
        runs = _runs(outside)
        n_exc = len(runs)
        for a, b in runs:
            seg = dev[a:b]
            k = int(np.nanargmax(np.abs(seg)))
            peak = float(seg[k])
            mag = abs(peak)
            severity = (
                "beyond statutory limit"
                if mag > lim.statutory_hz
                else "beyond operational limit"
                if mag > lim.operational_hz
                else "outside deadband"
            )
            # An episode still open at the last record lasts at least one more step.
            last_step = step_ns if math.isfinite(step_ns) else 0.0
            end_ns = int(ts[b]) if b < n else int(ts[b - 1] + last_step)
            excursions.append(
                {
                    "start": iso(int(ts[a])),
                    "duration_s": round((end_ns - int(ts[a])) / 1e9, 1),
                    "peak_deviation_hz": round(peak, 4),
                    "direction": "low" if peak < 0 else "high",
                    "severity": severity,
                }
            )
        excursions.sort(key=lambda e: -abs(e["peak_deviation_hz"]))
    sev_counts = {
        s: sum(1 for e in excursions if e["severity"] == s)
        for s in ("outside deadband", "beyond operational limit", "beyond statutory limit")
    }

    # Unusual ramps of net load (or load).
    ramps: list[dict[str, Any]] = []
    if "load_mw" in frame and n >= 3:
        nl = frame["load_mw"].to_numpy(dtype=float).copy()
        for col in ("solar_mw", "wind_mw"):
            if col in frame:
                nl -= frame[col].to_numpy(dtype=float)
        d = np.diff(nl)
        ok = np.isfinite(d)
        if ok.sum() >= 3:
            med = float(np.median(d[ok]))
            mad = float(np.median(np.abs(d[ok] - med))) * 1.4826
            if mad > 0:
                z = np.where(ok, (d - med) / mad, 0.0)
                for j in np.flatnonzero(np.abs(z) > lim.ramp_z):
                    dt_h = steps[j] / 3.6e12
                    ramps.append(
                        {
                            "at": iso(int(ts[j + 1])),
                            "step_change_mw": round(float(d[j]), 3),
                            "ramp_mw_per_h": round(float(d[j]) / dt_h, 1) if dt_h > 0 else None,
                            "robust_z": round(float(z[j]), 1),
                        }
                    )
                ramps.sort(key=lambda r: -abs(r["robust_z"]))

    # Gaps and staleness.
    gaps: list[dict[str, Any]] = []
    if len(steps) and step_ns > 0:
        for j in np.flatnonzero(steps > lim.gap_factor * step_ns):
            gaps.append(
                {
                    "after": iso(int(ts[j])),
                    "gap_s": round(float(steps[j]) / 1e9, 1),
                    "missing_steps": round(float(steps[j]) / step_ns) - 1,
                }
            )
        gaps.sort(key=lambda g: -g["gap_s"])
    age_s = time.time() - ts[-1] / 1e9
    stale_after = max(lim.stale_factor * (step_ns / 1e9 if step_ns > 0 else 60.0), 300.0)
    stale = {
        "latest": iso(int(ts[-1])),
        "age_s": round(age_s, 1),
        "stale": age_s > stale_after,
        "stale_after_s": stale_after,
    }

    # Missing and out-of-range values.
    missing = {}
    out_of_range: list[dict[str, Any]] = []
    for s in SIGNALS:
        if s not in frame:
            continue
        v = frame[s].to_numpy(dtype=float)
        if s in ASSET_SIGNALS and not np.isfinite(v).any():
            continue  # sites without battery telemetry: nothing is missing
        nmiss = int((~np.isfinite(v)).sum())
        if nmiss:
            missing[s] = nmiss
        if s in _RANGES:
            lo, hi = _RANGES[s]
            bad = np.isfinite(v) & ((v < lo) | (v > hi))
            if bad.any():
                first = int(np.flatnonzero(bad)[0])
                out_of_range.append(
                    {
                        "signal": s,
                        "count": int(bad.sum()),
                        "first_at": iso(int(ts[first])),
                        "first_value": round(float(v[first]), 4),
                        "valid_range": [lo, hi],
                    }
                )

    out["summary"] = {
        "frequency_excursions": n_exc,
        "frequency_excursions_by_severity": sev_counts,
        "unusual_ramps": len(ramps),
        "gaps": len(gaps),
        "stale": stale["stale"],
        "missing_values": sum(missing.values()),
        "out_of_range_signals": len(out_of_range),
    }
    out["thresholds"] = {
        "deadband_hz": lim.deadband_hz,
        "operational_hz": lim.operational_hz,
        "statutory_hz": lim.statutory_hz,
        "ramp_robust_z": lim.ramp_z,
        "gap_factor": lim.gap_factor,
    }
    m = lim.max_listed
    out["frequency_excursions"] = excursions[:m]
    out["unusual_ramps"] = ramps[:m]
    out["gaps"] = gaps[:m]
    out["staleness"] = stale
    out["missing_values"] = missing
    out["out_of_range"] = out_of_range
    return out
