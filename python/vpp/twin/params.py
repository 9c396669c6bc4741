"""Parameters of the twin's weather, load, renewable and price models.

Every default below is either taken from a published source (cited beside it)
or is a stated modelling choice calibrated to a published figure. The
frequency parameters live on :class:`vpp.twin.TwinConfig` itself because
agents and tests change them most often.

Units are in the names: ``_c`` degrees Celsius, ``_s`` seconds, ``_h`` hours,
``_mps`` metres per second, ``_per_mwh`` EUR per MWh, ``_pu`` per unit.
Autocorrelated noises are AR(1) processes defined in physical time (a time
constant ``tau``), so their statistics do not depend on the output resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FeedParams",
    "LoadParams",
    "PriceParams",
    "SiteConfig",
    "SolarParams",
    "WeatherParams",
    "WindParams",
]


@dataclass(frozen=True)
class SiteConfig:
    """One telemetry site of the balancing area.

    Attributes:
        name: site id written to the ``site`` column.
        latitude: degrees north (negative south), -90..90.
        longitude: degrees east (negative west), -180..180.
        load_mw: typical mean demand of the site (MW); the daily, weekly,
            seasonal and temperature factors multiply it.
        solar_mw: installed PV capacity (MW, DC at standard test conditions).
        wind_mw: installed wind capacity (MW).
    """

    name: str
    latitude: float
    longitude: float
    load_mw: float
    solar_mw: float = 0.0
    wind_mw: float = 0.0


@dataclass(frozen=True)
class WeatherParams:
    """Air temperature: seasonal cycle + diurnal cycle + AR(1) weather anomaly.

    Defaults describe a temperate maritime climate like London's: Met Office
    1991–2020 averages for Heathrow give an annual mean of about 11–12 °C, a
    January mean of about 5–6 °C and a July mean of about 19 °C (seasonal
    amplitude ≈ 7 °C), with a mean daily range of 8–9 °C (diurnal amplitude
    ≈ 4 °C).
    Synoptic weather anomalies persist for a few days (the lifetime of
    mid-latitude weather systems), hence a 2-day time constant.

    Attributes:
        mean_c: annual mean temperature.
        seasonal_amplitude_c: half the difference between the warmest and the
            coldest month.
        coldest_day_of_year: day of the year of the seasonal minimum in the
            northern hemisphere (mid-January; shifted by half a year south of
            the equator).
        diurnal_amplitude_c: half the mean daily temperature range.
        warmest_hour: local solar hour of the daily maximum (mid-afternoon).
        noise_std_c: standard deviation of the weather anomaly.
        noise_tau_h: time constant of the anomaly.
        site_correlation: share of the anomaly's variance common to all sites
            (one weather system covers a balancing area).
    """

    mean_c: float = 11.0
    seasonal_amplitude_c: float = 7.0
    coldest_day_of_year: float = 15.0
    diurnal_amplitude_c: float = 4.0
    warmest_hour: float = 15.0
    noise_std_c: float = 2.5
    noise_tau_h: float = 48.0
    site_correlation: float = 0.9


@dataclass(frozen=True)
class LoadParams:
    """Electricity demand: daily × weekly × seasonal × temperature × noise.

    The daily shape (night trough, morning ramp, midday plateau, evening peak
    around 18:00 local time) follows the familiar GB/European demand curve
    (e.g. NGESO historic demand data); its peak-to-trough ratio is about 1.6.
    Weekend factors of 0.92 (Saturday) and 0.87 (Sunday) are typical of
    European systems (ENTSO-E load data show weekend demand 5–15% below
    weekdays). Temperature sensitivity uses degree-days: heating below a base
    of 15.5 °C (the UK Met Office/CIBSE heating-degree-day base) and cooling
    above 22 °C; a 1.5 %/°C heating slope matches the 1–2 %/°C reported for
    GB and France. A small seasonal term (lighting, longer evenings) peaks in
    mid-winter.

    Attributes:
        heating_base_c: heating degree-day base temperature.
        heating_per_c: relative load increase per °C below the base.
        cooling_base_c: cooling degree-day base temperature.
        cooling_per_c: relative load increase per °C above the base.
        seasonal_amplitude: relative amplitude of the non-thermal seasonal term.
        saturday: Saturday factor relative to a weekday.
        sunday: Sunday factor relative to a weekday.
        noise_std: relative standard deviation of the AR(1) demand noise.
        noise_tau_h: its time constant (hours).
        site_correlation: share of the noise variance common to all sites.
    """

    heating_base_c: float = 15.5
    heating_per_c: float = 0.015
    cooling_base_c: float = 22.0
    cooling_per_c: float = 0.02
    seasonal_amplitude: float = 0.04
    saturday: float = 0.92
    sunday: float = 0.87
    noise_std: float = 0.02
    noise_tau_h: float = 3.0
    site_correlation: float = 0.3


@dataclass(frozen=True)
class SolarParams:
    """PV output: Haurwitz clear-sky irradiance × cloud factor × performance ratio.

    Clear-sky global horizontal irradiance follows Haurwitz (1945),
    ``GHI = 1098 · cos z · exp(-0.059 / cos z)`` W/m², which Reno, Hansen and
    Stein (Sandia report SAND2012-2389, 2012) found among the most accurate of
    the simple models that need only the solar zenith angle. Clouds reduce it
    by the Kasten–Czeplak (1980) factor ``1 - 0.75 · (N/8)^3.4`` for a cloud
    cover N oktas; the cover is an AR(1) Gaussian mapped to (0, 1) through the
    normal CDF, persistent over a few hours. A performance ratio of 0.85 is in
    the 0.75–0.90 range of modern systems (IEA PVPS Task 13).

    Attributes:
        performance_ratio: AC output per kW of STC capacity at 1000 W/m².
        cloud_tau_h: persistence of the cloud-cover process (hours).
        cloud_bias: shift of the latent Gaussian; positive means cloudier.
        site_correlation: share of the cloud variance common to all sites.
    """

    performance_ratio: float = 0.85
    cloud_tau_h: float = 3.0
    cloud_bias: float = 0.0
    site_correlation: float = 0.5


@dataclass(frozen=True)
class WindParams:
    """Wind output: Weibull hub-height speed through a turbine power curve.

    The speed is an AR(1) Gaussian mapped to a Weibull marginal by the
    probability integral transform (``v = λ(-ln(1-Φ(z)))^(1/k)``), which keeps
    both the autocorrelation and the marginal distribution. Shape k = 2 (the
    Rayleigh case) is the standard assumption of IEC 61400-1 site classes;
    scale 9 m/s gives a mean of about 8 m/s at hub height, typical of good
    onshore and near-shore European sites. The power curve has the cut-in
    (3 m/s), rated (~11.4 m/s, here 12) and cut-out (25 m/s) speeds of the
    NREL 5-MW reference turbine (Jonkman et al. 2009, NREL/TP-500-38060), with
    the usual cubic rise between cut-in and rated. Winters are windier in
    north-west Europe, hence a seasonal swing of the scale.

    Attributes:
        weibull_shape: k.
        weibull_scale_mps: λ (m/s).
        seasonal_amplitude: relative swing of λ, highest in mid-winter.
        cut_in_mps: speed at which generation starts.
        rated_mps: speed at which the turbine reaches rated power.
        cut_out_mps: speed at which the turbine shuts down for protection.
        tau_h: persistence of the speed process (hours); hourly wind speeds
            have lag-1 autocorrelations around 0.9.
        site_correlation: share of the speed variance common to all sites.
    """

    weibull_shape: float = 2.0
    weibull_scale_mps: float = 9.0
    seasonal_amplitude: float = 0.15
    cut_in_mps: float = 3.0
    rated_mps: float = 12.0
    cut_out_mps: float = 25.0
    tau_h: float = 10.0
    site_correlation: float = 0.7


@dataclass(frozen=True)
class PriceParams:
    """Wholesale price: merit order of net load, scarcity and renewable surplus.

    One price for the balancing area (EUR/MWh). With ``x`` the utilisation
    ``max(net load, 0) / dispatchable capacity``, the merit order is
    ``base + slope · x^exponent`` (cheap baseload first, gas plant setting the
    price at high load); above ``scarcity_start`` a cubic scarcity adder
    reaches ``scarcity_per_mwh`` at full utilisation. When wind and solar
    cover more than ``negative_share`` of demand, subsidised renewables bid
    below zero and the price falls by ``negative_slope`` per unit of share.
    The price is bounded by the harmonised single day-ahead coupling limits of
    -500 and +4000 EUR/MWh (SDAC HMMCP/HMinCP, in force since 2022). A
    multiplicative AR(1) noise (fuel prices, bidding) acts on the merit order.

    The merit-order constants are a calibration, not a market model: with
    the default twin they give over a year a mean near 75 EUR/MWh, negative
    prices about 5% of the time (Germany had 457 negative hours, 5.2%, in
    2024) and scarcity prices above 300 EUR/MWh for under 1% of the time.

    Attributes:
        capacity_factor: dispatchable capacity as a multiple of the summed
            site mean loads.
        base_per_mwh: marginal cost at zero utilisation.
        slope_per_mwh: added cost at full utilisation.
        exponent: convexity of the merit order.
        scarcity_start: utilisation at which scarcity pricing begins.
        scarcity_per_mwh: scarcity adder at full utilisation.
        negative_share: renewable share of demand above which prices fall.
        negative_slope_per_mwh: price drop per unit of renewable share above it.
        floor_per_mwh: lowest price.
        cap_per_mwh: highest price.
        noise_std: relative standard deviation of the merit-order noise.
        noise_tau_h: its time constant (hours).
    """

    capacity_factor: float = 1.5
    base_per_mwh: float = 10.0
    slope_per_mwh: float = 140.0
    exponent: float = 1.2
    scarcity_start: float = 0.9
    scarcity_per_mwh: float = 3000.0
    negative_share: float = 0.85
    negative_slope_per_mwh: float = 400.0
    floor_per_mwh: float = -500.0
    cap_per_mwh: float = 4000.0
    noise_std: float = 0.1
    noise_tau_h: float = 6.0


@dataclass(frozen=True)
class FeedParams:
    """Published day-ahead wind and solar forecasts (:mod:`vpp.twin.forecast_feed`).

    Transmission operators publish, per bidding zone and market time unit, a
    forecast of the next day's wind and solar generation no later than 18:00
    Brussels time the day before (Commission Regulation (EU) No 543/2013,
    Art. 14(1)(d); the ENTSO-E Transparency Platform). The twin issues it at
    17:00 UTC (18:00 CET) for the 24 hours of the next UTC day, per site,
    as hourly means; the intraday updates the regulation also asks for are
    not modelled, so the feed is no better than the day-ahead one.

    Its errors are AR(1) processes added to the twin's own wind and cloud
    scores (a weather forecast misplaces weather systems rather than adding
    white noise), with sizes calibrated to published accuracy: German
    day-ahead wind forecasts had an RMSE of about 4.5% of installed
    capacity before and 3.4% after ZSW's 2014 multi-model improvements
    (ZSW, WindSage project), and German PV forecasts 2.9% (ZSW, 2014). The
    twin uses the worse wind figure. With the defaults a year at 1 minute
    gives an hourly RMSE of 4.4-4.6% of wind capacity and 2.8-3.0% of
    PV capacity on the one-site twin (seeds 1-4).

    Attributes:
        issue_hour_utc: UTC hour of the day before at which the forecasts
            of a day are issued.
        wind_error_std: standard deviation of the error in the wind score.
        wind_error_tau_h: its time constant (hours): weather-forecast errors
            last as long as the weather systems they misplace.
        solar_error_std: standard deviation of the error in the cloud score.
        solar_error_tau_h: its time constant (hours).
        timing_error_std_h: standard deviation (hours) of a timing error:
            the forecast shows the weather of a shifted time, as when a
            front is forecast to arrive early or late (one shift for the
            area, AR(1) over hours). 0 (the default) for none; a study knob
            (``python -m bench.arbitrage_feed --timing``), not calibrated.
        timing_error_tau_h: its time constant (hours).
    """

    issue_hour_utc: float = 17.0
    wind_error_std: float = 0.1
    wind_error_tau_h: float = 12.0
    solar_error_std: float = 0.46
    solar_error_tau_h: float = 6.0
    timing_error_std_h: float = 0.0
    timing_error_tau_h: float = 12.0
