"""Sun position and clear-sky irradiance, vectorised over timestamps.

Sun position follows NOAA's "General Solar Position Calculations" (NOAA
Global Monitoring Laboratory), which uses Spencer's (1971) Fourier series:

* fractional year ``γ = 2π/N · (doy − 1 + (hour − 12)/24)`` (N = 365 or 366);
* equation of time (minutes) ``229.18 · (0.000075 + 0.001868 cos γ
  − 0.032077 sin γ − 0.014615 cos 2γ − 0.040849 sin 2γ)``;
* declination (rad) ``0.006918 − 0.399912 cos γ + 0.070257 sin γ
  − 0.006758 cos 2γ + 0.000907 sin 2γ − 0.002697 cos 3γ + 0.00148 sin 3γ``;
* true solar time (minutes) ``= UTC minutes + EoT + 4·longitude``;
  hour angle ``ω = TST/4 − 180`` degrees;
* ``cos z = sin φ sin δ + cos φ cos δ cos ω`` (φ latitude, z zenith angle).

Accuracy is about a minute of time for sunrise and sunset, plenty for a
twin. The sun is up when its geometric elevation is above 0° (refraction,
which lifts the apparent sun by ~0.57° at the horizon, is ignored, so the
modelled day is a few minutes shorter than the civil one).

Clear-sky GHI: Haurwitz (1945), see :class:`vpp.twin.params.SolarParams`.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "calendar_fields",
    "cloud_factor",
    "cos_zenith",
    "haurwitz_ghi_w_m2",
    "solar_declination_eot",
]

_NS_PER_DAY = 86_400 * 1_000_000_000
_NS_PER_HOUR = 3_600 * 1_000_000_000


def calendar_fields(ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return UTC hour of day (float), day of year (1-based int) and days in that year."""
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    day = ts_ns.view("datetime64[ns]").astype("datetime64[D]")
    year = day.astype("datetime64[Y]")
    doy = (day - year).astype(np.int64) + 1
    next_year = (year + 1).astype("datetime64[D]")
    n_days = (next_year - year.astype("datetime64[D]")).astype(np.int64)
    hour = (ts_ns - day.astype("datetime64[ns]").view(np.int64)) / _NS_PER_HOUR
    return hour, doy, n_days


def solar_declination_eot(ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (declination rad, equation of time minutes, UTC hour) for UTC timestamps."""
    hour, doy, n_days = calendar_fields(ts_ns)
    g = 2.0 * np.pi / n_days * (doy - 1 + (hour - 12.0) / 24.0)
    c1, s1 = np.cos(g), np.sin(g)
    c2, s2 = np.cos(2 * g), np.sin(2 * g)
    c3, s3 = np.cos(3 * g), np.sin(3 * g)
    eot_min = 229.18 * (0.000075 + 0.001868 * c1 - 0.032077 * s1 - 0.014615 * c2 - 0.040849 * s2)
    decl = (
        0.006918
        - 0.399912 * c1
        + 0.070257 * s1
        - 0.006758 * c2
        + 0.000907 * s2
        - 0.002697 * c3
        + 0.00148 * s3
    )
    return decl, eot_min, hour


def cos_zenith(
    ts_ns: np.ndarray, latitude: np.ndarray | float, longitude: np.ndarray | float
) -> np.ndarray:
    """Cosine of the solar zenith angle; shape broadcasts ``ts_ns[:, None]`` × sites.

    Args:
        ts_ns: UTC timestamps (n,).
        latitude: degrees north, scalar or (m,).
        longitude: degrees east, scalar or (m,).

    Returns:
        Array (n, m) (or (n, 1) for scalars); negative when the sun is below
        the horizon.
    """
    decl, eot_min, hour = solar_declination_eot(ts_ns)
    lat = np.radians(np.atleast_1d(np.asarray(latitude, dtype=np.float64)))[None, :]
    lon = np.atleast_1d(np.asarray(longitude, dtype=np.float64))[None, :]
    tst_min = hour[:, None] * 60.0 + eot_min[:, None] + 4.0 * lon
    omega = np.radians(tst_min / 4.0 - 180.0)
    d = decl[:, None]
    return np.sin(lat) * np.sin(d) + np.cos(lat) * np.cos(d) * np.cos(omega)


def haurwitz_ghi_w_m2(cos_z: np.ndarray) -> np.ndarray:
    """Clear-sky global horizontal irradiance (W/m²) of Haurwitz (1945); 0 at night."""
    up = cos_z > 0.0
    safe = np.where(up, cos_z, 1.0)
    return np.where(up, 1098.0 * safe * np.exp(-0.059 / safe), 0.0)


def cloud_factor(cover: np.ndarray) -> np.ndarray:
    """Kasten–Czeplak (1980) ratio of cloudy to clear GHI for a cover fraction in [0, 1]."""
    return 1.0 - 0.75 * np.power(cover, 3.4)
