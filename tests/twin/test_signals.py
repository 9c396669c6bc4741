"""Physics of the twin's slow signals: sun, load, temperature, wind, price."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vpp.twin import PriceParams, SiteConfig, TwinConfig, WeatherParams, WindParams, simulate
from vpp.twin.signals import price_per_mwh, wind_power_fraction, wind_speed_mps

# Sites across latitudes and both hemispheres (no polar day/night).
SITES = (
    SiteConfig("london", 51.5, -0.1, 1000.0, 500.0, 500.0),
    SiteConfig("oslo", 59.9, 10.75, 1000.0, 500.0, 500.0),
    SiteConfig("quito", -0.2, -78.5, 1000.0, 500.0, 500.0),
    SiteConfig("sydney", -33.9, 151.2, 1000.0, 500.0, 500.0),
)


def sunrise_sunset_utc_min(day: pd.Timestamp, lat: float, lon: float) -> tuple[float, float]:
    """Sunrise and sunset (minutes after UTC midnight) by the textbook sunrise equation.

    Deliberately a different formulation from the twin's (Cooper's declination,
    the 9.87/7.53/1.5 equation of time, the -0.833° apparent horizon), so the
    test does not reuse the code it checks.
    """
    n = day.day_of_year
    decl = math.radians(23.45 * math.sin(math.radians(360.0 * (284 + n) / 365.0)))
    b = math.radians(360.0 * (n - 81) / 364.0)
    eot = 9.87 * math.sin(2 * b) - 7.53 * math.cos(b) - 1.5 * math.sin(b)
    noon = 720.0 - 4.0 * lon - eot
    phi = math.radians(lat)
    cos_w0 = (math.sin(math.radians(-0.833)) - math.sin(phi) * math.sin(decl)) / (
        math.cos(phi) * math.cos(decl)
    )
    w0 = math.degrees(math.acos(max(-1.0, min(1.0, cos_w0))))
    return noon - 4.0 * w0, noon + 4.0 * w0


@pytest.fixture(scope="module")
def year_4_sites() -> pd.DataFrame:
    cfg = TwinConfig(start="2025-01-01", days=365, resolution="10min", sites=SITES, seed=11)
    return simulate(cfg).frame


def test_solar_is_zero_between_sunset_and_sunrise(year_4_sites: pd.DataFrame) -> None:
    margin_min = 12.0  # the textbook formulas are good to a few minutes
    df = year_4_sites
    checked_night = 0
    for site in SITES:
        d = df[df["site"] == site.name]
        ts = d["timestamp"]
        minute = (ts.dt.hour * 60 + ts.dt.minute).to_numpy(dtype=float)
        solar = d["solar_mw"].to_numpy()
        days = ts.dt.normalize()
        for day, idx in d.groupby(days).indices.items():
            rise, sett = sunrise_sunset_utc_min(pd.Timestamp(day), site.latitude, site.longitude)
            m = minute[idx]
            # Sunrise/sunset may fall on the previous/next UTC day: compare on
            # the circle of the day by shifting into [rise, rise + 1440).
            rel = (m - rise) % 1440.0
            day_len = sett - rise
            night = (rel > day_len + margin_min) & (rel < 1440.0 - margin_min)
            up = (rel > margin_min) & (rel < day_len - margin_min)
            assert np.all(solar[idx][night] == 0.0), (site.name, day)
            assert np.all(solar[idx][up] > 0.0), (site.name, day)
            checked_night += int(night.sum())
    assert checked_night > 4 * 365 * 40  # many night samples were checked


def test_solar_peaks_near_solar_noon_and_in_summer(year_4_sites: pd.DataFrame) -> None:
    d = year_4_sites[year_4_sites["site"] == "london"]
    by_month = d.groupby(d["timestamp"].dt.month)["solar_mw"].mean()
    assert by_month[6] > 3 * by_month[12]
    d = year_4_sites[year_4_sites["site"] == "sydney"]
    by_month = d.groupby(d["timestamp"].dt.month)["solar_mw"].mean()
    assert by_month[12] > 1.5 * by_month[6]  # southern summer
    # Solar noon in London is ~12:00 UTC; Sydney (151.2° E) ~02:00 UTC.
    for name, noon_utc in (("london", 12.0), ("sydney", 24 - 151.2 / 15 + 12 - 24)):
        d = year_4_sites[year_4_sites["site"] == name]
        hourly = d.groupby(d["timestamp"].dt.hour)["solar_mw"].mean()
        peak = hourly.idxmax()
        assert abs(((peak - noon_utc + 12) % 24) - 12) <= 1.5, (name, peak)


def test_load_daily_shape_peaks_in_the_day(year_4_sites: pd.DataFrame) -> None:
    d = year_4_sites[year_4_sites["site"] == "london"]  # local solar time ≈ UTC
    hourly = d.groupby(d["timestamp"].dt.hour)["load_mw"].mean()
    assert 7 <= hourly.idxmax() <= 21
    assert 0 <= hourly.idxmin() <= 6
    assert hourly.loc[10:20].mean() > 1.2 * hourly.loc[0:5].mean()


def test_load_weekend_is_lower(year_4_sites: pd.DataFrame) -> None:
    d = year_4_sites[year_4_sites["site"] == "london"]
    by_dow = d.groupby(d["timestamp"].dt.day_of_week)["load_mw"].mean()
    assert by_dow[6] < by_dow[5] < by_dow[0:5].min()


def test_temperature_seasons_follow_the_hemisphere(year_4_sites: pd.DataFrame) -> None:
    df = year_4_sites
    for name, sign in (("london", 1), ("sydney", -1)):
        d = df[df["site"] == name]
        monthly = d.groupby(d["timestamp"].dt.month)["temperature_c"].mean()
        assert sign * (monthly[7] - monthly[1]) > 8.0, name
        hourly = d.groupby(d["timestamp"].dt.hour)["temperature_c"].mean()
        assert hourly.max() - hourly.min() > 4.0  # a diurnal cycle


def test_heating_and_cooling_raise_load() -> None:
    def load(mean_c: float) -> np.ndarray:
        cfg = TwinConfig(days=3, resolution="1h", seed=5, weather=WeatherParams(mean_c=mean_c))
        return simulate(cfg).frame["load_mw"].to_numpy()

    # Same seed, same noises: only the temperature differs, by a constant.
    cold, mild = load(-5.0), load(5.0)  # always below the cooling base
    assert np.all(cold > mild)
    assert cold.mean() > 1.1 * mild.mean()
    warm, hot = load(35.0), load(45.0)  # always above the heating base
    assert np.all(hot > warm)
    assert hot.mean() > 1.1 * warm.mean()


def test_wind_power_curve() -> None:
    p = WindParams()
    v = np.array([0.0, 2.9, 3.0, 7.0, 11.9, 12.0, 20.0, 24.9, 25.0, 30.0])
    frac = wind_power_fraction(v, p)
    assert frac[[0, 1, 2]].tolist() == [0.0, 0.0, 0.0]
    assert 0.0 < frac[3] < frac[4] < 1.0
    assert frac[[5, 6, 7]].tolist() == [1.0, 1.0, 1.0]
    assert frac[[8, 9]].tolist() == [0.0, 0.0]  # cut-out
    mid = np.linspace(3, 12, 50)
    assert np.all(np.diff(wind_power_fraction(mid, p)) > 0)


def test_wind_speed_has_the_weibull_marginal() -> None:
    p = WindParams(seasonal_amplitude=0.0)
    z = np.random.default_rng(0).standard_normal((200_000, 1))

    class Flat:  # a TimeGrid stand-in with no season
        season = np.zeros((z.shape[0], 1))

    v = wind_speed_mps(Flat(), p, z)  # type: ignore[arg-type]
    lam, k = p.weibull_scale_mps, p.weibull_shape
    assert v.mean() == pytest.approx(lam * math.gamma(1 + 1 / k), rel=0.01)
    for x in (3.0, 8.0, 12.0, 25.0):
        assert (v < x).mean() == pytest.approx(1 - math.exp(-((x / lam) ** k)), abs=0.005)


def test_twin_wind_is_persistent_and_capacity_factor_plausible() -> None:
    df = generate_hourly(days=120)
    w = df["wind_mw"].to_numpy()
    assert np.corrcoef(w[:-1], w[1:])[0, 1] > 0.8
    cf = w.mean() / TwinConfig().wind_share / TwinConfig().system_mw
    assert 0.2 < cf < 0.5


def generate_hourly(days: int) -> pd.DataFrame:
    return simulate(TwinConfig(days=days, resolution="1h", seed=2)).frame


def test_price_merit_order_scarcity_and_negative() -> None:
    p = PriceParams()
    cap = 1000.0
    load = np.linspace(0.0, 1.2 * cap, 200)
    zero = np.zeros_like(load)
    price = price_per_mwh(load, zero, zero, cap, p, zero)
    assert np.all(np.diff(price) >= 0)  # merit order: more net load, higher price
    mid = price[np.searchsorted(load, 0.5 * cap)]
    assert price[-1] == p.cap_per_mwh  # scarcity hits the cap beyond capacity
    assert price[np.searchsorted(load, 0.98 * cap)] > 10 * mid
    # Renewables covering all of demand push the price below zero.
    solar = np.full(3, 500.0)
    renewable_heavy = price_per_mwh(np.full(3, 500.0), solar, np.full(3, 100.0), cap, p, zero[:3])
    assert np.all(renewable_heavy < 0)
    assert np.all(renewable_heavy >= p.floor_per_mwh)


def test_twin_price_follows_net_load() -> None:
    df = simulate(TwinConfig(days=60, resolution="1h", seed=4)).frame
    net = df["load_mw"] - df["solar_mw"] - df["wind_mw"]
    # Rank correlation: scarcity spikes would dominate a linear one.
    assert net.rank().corr(df["price_per_mwh"].rank()) > 0.8
