"""Deterministic shapes of temperature, load, PV, wind and price, vectorised.

Each function maps timestamps, site parameters and unit-variance AR(1)
noises (arrays of shape ``(n_steps, n_sites)``) to physical values; the
noises come from :mod:`vpp.twin.engine`. The published sources of every
constant are in :mod:`vpp.twin.params`.

Local time is mean solar time (UTC + longitude/15 h): the demand profile
follows the sun and the working week, not civil time zones or daylight
saving, which keeps the twin free of a time-zone database.
"""

from __future__ import annotations

import numpy as np

from vpp.twin._kernels import norm_cdf
from vpp.twin.params import LoadParams, PriceParams, SolarParams, WeatherParams, WindParams
from vpp.twin.solar import calendar_fields, cloud_factor, cos_zenith, haurwitz_ghi_w_m2

__all__ = [
    "TimeGrid",
    "daily_load_shape",
    "load_mw",
    "price_per_mwh",
    "solar_mw",
    "temperature_c",
    "wind_mw",
    "wind_power_fraction",
    "wind_speed_mps",
]

_NS_PER_HOUR = 3_600 * 1_000_000_000
_NS_PER_DAY = 24 * _NS_PER_HOUR


def _bump(hour: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Gaussian bump on the 24 h circle."""
    d = (hour - centre + 12.0) % 24.0 - 12.0
    return np.exp(-0.5 * (d / width) ** 2)


def _raw_daily(hour: np.ndarray) -> np.ndarray:
    # Night base, broad daytime activity, evening peak (lighting + cooking +
    # heating), a smaller morning peak and a late-evening tail, so that the
    # trough falls in the small hours (≈ 3-4 h) as on real systems.
    return (
        0.62
        + 0.33 * _bump(hour, 13.0, 4.0)
        + 0.25 * _bump(hour, 18.5, 1.8)
        + 0.12 * _bump(hour, 8.0, 1.5)
        + 0.10 * _bump(hour, 22.0, 2.0)
    )


_DAILY_MEAN = float(_raw_daily(np.arange(0.0, 24.0, 1.0 / 60.0)).mean())


def daily_load_shape(local_hour: np.ndarray) -> np.ndarray:
    """Daily demand shape with mean 1 over a day (local mean solar hours)."""
    return _raw_daily(local_hour) / _DAILY_MEAN


class TimeGrid:
    """Calendar quantities of one block of UTC timestamps for a set of sites.

    Attributes:
        ts_ns: (n,) timestamps; lat, lon: (m,) site coordinates.
        local_hour: (n, m) local mean solar hour.
        weekday: (n, m) local weekday, Monday = 0.
        season: (n, m) cosine of the season, +1 at mid-winter in the site's
            hemisphere (given ``coldest_day_of_year``), −1 at mid-summer.
    """

    def __init__(
        self, ts_ns: np.ndarray, lat: np.ndarray, lon: np.ndarray, coldest_day: float
    ) -> None:
        self.ts_ns = ts_ns
        self.lat = lat
        self.lon = lon
        offset_ns = (lon / 15.0 * _NS_PER_HOUR).astype(np.int64)
        local = ts_ns[:, None] + offset_ns[None, :]
        self.local_hour = (local % _NS_PER_DAY) / _NS_PER_HOUR
        self.weekday = (local // _NS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday
        hour, doy, n_days = calendar_fields(ts_ns)
        phase = 2.0 * np.pi * (doy - 1 + hour / 24.0 - (coldest_day - 1)) / n_days
        hemisphere = np.where(lat < 0.0, -1.0, 1.0)
        self.season = np.cos(phase)[:, None] * hemisphere[None, :]


def temperature_c(grid: TimeGrid, p: WeatherParams, noise: np.ndarray) -> np.ndarray:
    """Air temperature (°C): mean − seasonal·season + diurnal cycle + anomaly."""
    diurnal = np.cos(2.0 * np.pi * (grid.local_hour - p.warmest_hour) / 24.0)
    return (
        p.mean_c
        - p.seasonal_amplitude_c * grid.season
        + p.diurnal_amplitude_c * diurnal
        + p.noise_std_c * noise
    )


def load_mw(
    grid: TimeGrid, base_mw: np.ndarray, temp_c: np.ndarray, p: LoadParams, noise: np.ndarray
) -> np.ndarray:
    """Demand (MW): base × daily × weekly × seasonal × thermal × (1 + noise), ≥ 0."""
    weekly = np.array([1.0, 1.0, 1.0, 1.0, 1.0, p.saturday, p.sunday])
    weekly = weekly / weekly.mean()
    thermal = (
        1.0
        + p.heating_per_c * np.maximum(p.heating_base_c - temp_c, 0.0)
        + p.cooling_per_c * np.maximum(temp_c - p.cooling_base_c, 0.0)
    )
    level = (
        base_mw[None, :]
        * daily_load_shape(grid.local_hour)
        * weekly[grid.weekday]
        * (1.0 + p.seasonal_amplitude * grid.season)
        * thermal
    )
    return np.maximum(level * (1.0 + p.noise_std * noise), 0.0)


def solar_mw(
    grid: TimeGrid, capacity_mw: np.ndarray, p: SolarParams, noise: np.ndarray
) -> np.ndarray:
    """PV output (MW): capacity × PR × clear-sky GHI/1000 × cloud factor; 0 at night."""
    ghi = haurwitz_ghi_w_m2(cos_zenith(grid.ts_ns, grid.lat, grid.lon))
    cover = norm_cdf(noise + p.cloud_bias)
    return capacity_mw[None, :] * p.performance_ratio * (ghi / 1000.0) * cloud_factor(cover)


def wind_power_fraction(speed_mps: np.ndarray, p: WindParams) -> np.ndarray:
    """Turbine power curve: cubic from cut-in to rated, 1 to cut-out, 0 outside."""
    ci3, r3 = p.cut_in_mps**3, p.rated_mps**3
    frac = np.clip((speed_mps**3 - ci3) / (r3 - ci3), 0.0, 1.0)
    return np.where(speed_mps >= p.cut_out_mps, 0.0, frac)


def wind_speed_mps(grid: TimeGrid, p: WindParams, noise: np.ndarray) -> np.ndarray:
    """Hub-height speed: the Gaussian ``noise`` mapped to a Weibull marginal."""
    # 1 − Φ(z) = Φ(−z), computed directly so the far tail does not round to 0.
    survival = np.maximum(norm_cdf(-noise), 1e-300)
    scale = p.weibull_scale_mps * (1.0 + p.seasonal_amplitude * grid.season)
    return scale * np.power(-np.log(survival), 1.0 / p.weibull_shape)


def wind_mw(
    grid: TimeGrid, capacity_mw: np.ndarray, p: WindParams, noise: np.ndarray
) -> np.ndarray:
    """Wind output (MW) of each site."""
    return capacity_mw[None, :] * wind_power_fraction(wind_speed_mps(grid, p, noise), p)


def price_per_mwh(
    load_total_mw: np.ndarray,
    solar_total_mw: np.ndarray,
    wind_total_mw: np.ndarray,
    capacity_mw: float,
    p: PriceParams,
    noise: np.ndarray,
) -> np.ndarray:
    """Area price (EUR/MWh) from system totals (n,); see :class:`PriceParams`."""
    renewable = solar_total_mw + wind_total_mw
    net = load_total_mw - renewable
    x = np.maximum(net, 0.0) / capacity_mw
    merit = p.base_per_mwh + p.slope_per_mwh * np.power(x, p.exponent)
    merit = merit * np.exp(p.noise_std * noise - 0.5 * p.noise_std**2)
    over = np.maximum(x - p.scarcity_start, 0.0) / (1.0 - p.scarcity_start)
    scarcity = p.scarcity_per_mwh * over**3
    share = np.divide(renewable, load_total_mw, out=np.zeros_like(renewable),
                      where=load_total_mw > 0)  # fmt: skip
    surplus = p.negative_slope_per_mwh * np.maximum(share - p.negative_share, 0.0)
    return np.clip(merit + scarcity - surplus, p.floor_per_mwh, p.cap_per_mwh)
