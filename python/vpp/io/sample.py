"""The small telemetry sample that ships with the package.

``vpp run`` falls back to it when given no input. It is two days at 15-minute
resolution for one site, made by the deterministic formula in
:func:`make_sample_frame`; regenerate the file with
``python -c "from vpp.io.sample import write_sample; write_sample()"``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SAMPLE_NAME", "make_sample_frame", "sample_telemetry_path", "write_sample"]

SAMPLE_NAME = "sample_telemetry.csv"
_START = "2024-06-03T00:00:00Z"  # a Monday, so both day-of-week halves are covered later
_STEP_MIN = 15
_DAYS = 2


def sample_telemetry_path() -> Path:
    """Return the path of the packaged sample CSV (canonical columns, site ``grid``)."""
    return Path(str(resources.files("vpp.data").joinpath(SAMPLE_NAME)))


def make_sample_frame() -> pd.DataFrame:
    """Return the sample as a frame, computed from smooth daily shapes plus seeded noise."""
    n = _DAYS * 24 * 60 // _STEP_MIN
    ts = pd.date_range(_START, periods=n, freq=f"{_STEP_MIN}min", tz="UTC")
    hour = (np.arange(n) * _STEP_MIN / 60.0) % 24.0
    rng = np.random.default_rng(20240603)
    day = 2 * np.pi * hour / 24.0
    load = 60.0 + 15.0 * np.sin(day - 2.0) + 8.0 * np.sin(2 * day - 1.0) + rng.normal(0, 1.0, n)
    solar = np.clip(40.0 * np.sin(np.pi * (hour - 6.0) / 12.0), 0.0, None)
    wind = 12.0 + 6.0 * np.sin(2 * np.pi * np.arange(n) / 70.0) + rng.normal(0, 0.8, n)
    freq = 50.0 + 0.02 * np.sin(2 * np.pi * np.arange(n) / 9.0) + rng.normal(0, 0.01, n)
    price = 40.0 + 0.9 * (load - solar - wind) + rng.normal(0, 3.0, n)
    temp = 15.0 + 6.0 * np.sin(day - 2.2) + rng.normal(0, 0.3, n)
    return pd.DataFrame(
        {
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "site": "grid",
            "load_mw": load.round(3),
            "solar_mw": solar.round(3),
            "wind_mw": np.clip(wind, 0.0, None).round(3),
            "frequency_hz": freq.round(4),
            "price_per_mwh": price.round(2),
            "temperature_c": temp.round(2),
        }
    )


def write_sample(path: Path | None = None) -> Path:
    """Write the sample CSV (default: the packaged file) and return its path."""
    out = path or Path(__file__).resolve().parent.parent / "data" / SAMPLE_NAME
    make_sample_frame().to_csv(out, index=False)
    return out
