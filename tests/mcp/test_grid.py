"""Anomaly checks on hand-made telemetry with known faults."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vpp.mcp.grid import detect_anomalies, grid_state
from vpp.mcp.timeparse import parse_since

MIN = 60 * 10**9


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    ts = np.arange(n, dtype=np.int64) * MIN + 1_700_000_000 * 10**9
    load = 1000 + np.cumsum(rng.normal(0, 1.0, n))
    return pd.DataFrame(
        {
            "ts_ns": ts,
            "site": "s",
            "load_mw": load,
            "solar_mw": np.full(n, 50.0),
            "wind_mw": np.full(n, 20.0),
            "frequency_hz": 50.0 + rng.uniform(-0.01, 0.01, n),
        }
    )


def test_known_faults_are_found() -> None:
    f = _frame()
    f.loc[100:102, "frequency_hz"] = [49.75, 49.7, 49.8]  # 3 min, beyond ±0.2 Hz
    f.loc[200, "frequency_hz"] = 50.6  # beyond the statutory ±0.5 Hz
    f.loc[150, "load_mw"] += 400.0  # a spike: two unusual steps
    f.loc[160, "solar_mw"] = -5.0  # out of range
    f.loc[170, "wind_mw"] = np.nan  # missing
    f = f.drop(index=range(250, 260)).reset_index(drop=True)  # a 10-step gap
    out = detect_anomalies(f)
    s = out["summary"]
    assert s["frequency_excursions_by_severity"] == {
        "outside deadband": 0,
        "beyond operational limit": 1,
        "beyond statutory limit": 1,
    }
    first = out["frequency_excursions"][0]
    assert first["peak_deviation_hz"] == 0.6 and first["severity"] == "beyond statutory limit"
    low = out["frequency_excursions"][1]
    assert low["direction"] == "low" and low["duration_s"] == 180.0
    assert low["peak_deviation_hz"] == -0.3
    assert s["unusual_ramps"] >= 2
    assert {r["step_change_mw"] > 0 for r in out["unusual_ramps"][:2]} == {True, False}
    assert out["gaps"] == [{"after": out["gaps"][0]["after"], "gap_s": 660.0, "missing_steps": 10}]
    assert out["missing_values"] == {"wind_mw": 1}
    (oor,) = out["out_of_range"]
    assert oor["signal"] == "solar_mw" and oor["count"] == 1 and oor["first_value"] == -5.0


def test_clean_data_has_no_findings() -> None:
    out = detect_anomalies(_frame())
    s = out["summary"]
    assert s["frequency_excursions"] == 0 and s["gaps"] == 0 and s["missing_values"] == 0
    assert s["out_of_range_signals"] == 0


def test_grid_state_derives_net_load_and_ramp() -> None:
    f = _frame(3)
    recs = f.to_dict("records")
    st = grid_state(recs[2], recs[1])
    assert abs(st["net_load_mw"] - (recs[2]["load_mw"] - 70.0)) < 1e-3
    want_ramp = (recs[2]["load_mw"] - recs[1]["load_mw"]) * 60
    assert abs(st["net_load_ramp_mw_per_h"] - want_ramp) < 1e-2
    assert st["renewable_share"] == round(70.0 / recs[2]["load_mw"], 4)


def test_since_parses_iso_and_lookbacks() -> None:
    latest = 1_700_000_000 * 10**9
    assert parse_since("6h", latest) == latest - 6 * 3600 * 10**9
    assert parse_since("30min", latest) == latest - 1800 * 10**9
    assert parse_since("2023-11-14T22:13:20Z", latest) == latest
    assert parse_since("2023-11-14T22:13:20", latest) == latest  # naive = UTC
