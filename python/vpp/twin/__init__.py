"""Grid digital twin: physics-based telemetry and frequency of a balancing area.

A deterministic (given a seed), vectorised simulator of one synchronous
area with one or more telemetry sites. Every signal is a model with a
published basis; the sources of each default are in the docstrings of
:mod:`vpp.twin.config` (frequency), :mod:`vpp.twin.params` (weather, load,
PV, wind, price), :mod:`vpp.twin.solar` (sun position) and
:mod:`vpp.twin.frequency` (swing equation).

Signals (all instantaneous values at each output timestamp):

* ``temperature_c`` — seasonal cycle + diurnal cycle + AR(1) weather anomaly.
* ``load_mw`` — daily shape (local solar time) × weekday/weekend factor ×
  seasonal term × heating/cooling degree sensitivity × (1 + AR(1) noise).
* ``solar_mw`` — clear-sky GHI from the sun's position at the site
  (declination, equation of time, hour angle → zenith; Haurwitz model) ×
  Kasten–Czeplak cloud factor of a persistent cloud-cover process ×
  capacity × performance ratio; exactly zero when the sun is below the
  horizon.
* ``wind_mw`` — AR(1) Gaussian → Weibull hub-height speed (probability
  integral transform) → power curve with cut-in, rated and cut-out speeds.
* ``price_per_mwh`` — merit order of the area's net load, scarcity adder near
  capacity, negative prices at high renewable share, AR(1) noise.
* ``frequency_hz`` — aggregate swing equation
  ``2H/f0 · dΔf/dt = ΔP − D·Δf − governor(Δf)`` with a droop governor behind a
  first-order lag and optional secondary control (AGC), driven by AR(1)
  power-imbalance noise, generator trips and battery power, integrated
  exactly at 0.1 s. The fine trace is available for analysis.

Sites share one frequency and one price (one balancing area); each has its
own location, size and PV/wind mix.

APIs:

* :func:`generate` / :func:`simulate` — open-loop batch; a DataFrame in the
  telemetry schema (``timestamp, site, load_mw, solar_mw, wind_mw,
  frequency_hz, price_per_mwh, temperature_c``), sorted by timestamp then
  site; :class:`TwinResult` also holds ``frequency_trace``.
* :class:`GridTwin` — closed loop: ``reset()``, ``step(battery_power_mw)``
  (positive = discharge into the grid, raising the frequency), ``done``,
  ``time_ns``, ``frequency_trace``, ``run(controller)``.
* :func:`published_forecasts` — the day-ahead wind and solar forecasts the
  area's operator publishes for a run (:mod:`vpp.twin.forecast_feed`,
  accuracy in :class:`FeedParams`).
* :func:`rocof_hz_per_s`, :func:`nadir_hz`, :func:`frequency_response` —
  event metrics.

Example:
    >>> from vpp.twin import generate
    >>> df = generate(days=1, resolution="15min", sites=3, seed=7)
    >>> len(df), df["site"].nunique()
    (288, 3)
"""

from vpp.twin.analysis import FrequencyResponse, frequency_response, nadir_hz, rocof_hz_per_s
from vpp.twin.batch import TwinResult, generate, simulate
from vpp.twin.closed_loop import GridTwin, TwinObservation
from vpp.twin.config import TwinConfig, parse_resolution_s
from vpp.twin.forecast_feed import published_forecasts
from vpp.twin.frequency import FrequencyModel
from vpp.twin.params import (
    FeedParams,
    LoadParams,
    PriceParams,
    SiteConfig,
    SolarParams,
    WeatherParams,
    WindParams,
)

__all__ = [
    "FeedParams",
    "FrequencyModel",
    "FrequencyResponse",
    "GridTwin",
    "LoadParams",
    "PriceParams",
    "SiteConfig",
    "SolarParams",
    "TwinConfig",
    "TwinObservation",
    "TwinResult",
    "WeatherParams",
    "WindParams",
    "frequency_response",
    "generate",
    "nadir_hz",
    "parse_resolution_s",
    "published_forecasts",
    "rocof_hz_per_s",
    "simulate",
]
