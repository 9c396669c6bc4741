"""The twin's configuration: horizon, sites and the grid's frequency parameters.

Frequency defaults and where they come from (system base S = ``system_mw``):

* ``nominal_hz = 50`` — GB and Continental Europe (ENTSO-E).
* ``system_mw = 30000`` — about GB's average demand (NGESO, ~30 GW), so the
  defaults describe a GB-sized synchronous area.
* ``inertia_h_s = 4`` s on the system base — GB's inertia has fallen to
  roughly 130–200 GVA·s on a 30–40 GW system, i.e. H of 4–5 s (NGESO System
  Operability Framework); classic thermal systems are 4–6 s (Kundur, *Power
  System Stability and Control*, 1994, ch. 3).
* ``damping_per_hz = 0.01`` — load self-regulation of 1 %/Hz, the value used
  for Continental Europe (UCTE Operation Handbook, Policy 1; ENTSO-E RG-CE
  frequency stability studies), applied to the system base.
* ``droop = 0.04`` — 4 %: the GB Grid Code (CC.6.3.7) requires 3–5 %,
  ENTSO-E RfG (EU 2016/631, Art. 15) allows 2–12 %.
* ``governor_share = 0.3`` and ``governor_lag_s = 4`` — share of the system
  base under free governor action with headroom, and the turbine-governor
  response lumped into one lag. A calibration: with the defaults, losing
  1,800 MW (GB SQSS infrequent infeed loss) gives a RoCoF of 0.375 Hz/s, a
  nadir of about 49.22 Hz after ~3.7 s, a quasi-steady 49.63 Hz without
  secondary control and about 49.70 Hz at +60 s with it — just inside the
  SQSS limits for that loss (not below 49.2 Hz; back above 49.5 Hz within
  60 s). GB primary response must be fully delivered within 10 s, which a
  4 s lag reaches in 2.5 time constants.
* ``agc_time_s = 300`` — secondary control (aFRR, defined by EU SOGL
  2017/1485) restores frequency with a 5-minute time constant, the full
  activation time of the European standard aFRR product (ACER decision
  02/2020, PICASSO platform). ``None`` turns it off so that
  frequency stays at the droop offset after a trip.
* ``imbalance_std_pu = 0.008`` and ``imbalance_tau_s = 60`` — the unscheduled
  imbalance (forecast errors, fast load and wind fluctuations) as an AR(1)
  process at 1 s; a modelling choice that gives a frequency standard
  deviation of about 0.05 Hz and |Δf| > 0.2 Hz (GB's operational limit)
  for under 0.1% of the time, the order of GB's published 1 s frequency
  data.
* ``fine_step_s = 0.1`` — the swing equation is integrated exactly (matrix
  exponential, zero-order hold on the power imbalance) at this step; RoCoF
  relays measure over 0.5 s windows (ENTSO-E), so 0.1 s resolves them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vpp.errors import ParameterError
from vpp.twin.params import (
    LoadParams,
    PriceParams,
    SiteConfig,
    SolarParams,
    WeatherParams,
    WindParams,
)

__all__ = ["SECONDS_PER_DAY", "TwinConfig", "parse_resolution_s", "parse_time_ns"]

SECONDS_PER_DAY = 86_400
NS_PER_S = 1_000_000_000

#: Salt mixed into the seed when laying out sites, so the layout stream never
#: overlaps the per-day simulation streams.
_SITE_SALT = 0x517E


def parse_resolution_s(resolution: str | float | pd.Timedelta) -> int:
    """Return an output resolution in whole seconds, validated to 1 s..1 h dividing a day.

    Args:
        resolution: a pandas offset string (``"1s"``, ``"15min"``, ``"1h"``),
            a Timedelta, or a number of seconds.

    Raises:
        ParameterError: unparseable, not whole seconds, outside 1 s..1 h, or
            not dividing 86,400 s.
    """
    try:
        if isinstance(resolution, int | float | np.integer | np.floating):
            seconds = float(resolution)
        else:
            seconds = pd.Timedelta(resolution).total_seconds()
    except (ValueError, TypeError) as exc:
        raise ParameterError(
            f"resolution {resolution!r} is not a duration (use e.g. '1s', '1min', '1h' or seconds)"
        ) from exc
    if not math.isfinite(seconds) or seconds != round(seconds):
        raise ParameterError(f"resolution must be a whole number of seconds, got {resolution!r}")
    secs = round(seconds)
    if not 1 <= secs <= 3600:
        raise ParameterError(f"resolution must be between 1 s and 1 h, got {secs} s")
    if SECONDS_PER_DAY % secs:
        raise ParameterError(f"resolution must divide a day (86400 s) evenly, got {secs} s")
    return secs


def parse_time_ns(value: str | pd.Timestamp | Any, name: str = "start") -> int:
    """Return a time as int64 UTC nanoseconds; a naive time is taken as UTC."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"{name} {value!r} is not a time (use ISO 8601)") from exc
    if ts is pd.NaT:
        raise ParameterError(f"{name} must be a time, got {value!r}")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value)):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if value <= 0:
        raise ParameterError(f"{name} must be > 0, got {value}")


def _non_negative(name: str, value: float) -> None:
    if not (isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value)):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise ParameterError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True)
class TwinConfig:
    """Everything that defines one twin run; validated on construction.

    Attributes:
        start: first timestamp (ISO 8601 string or Timestamp; naive = UTC).
        days: horizon in days (> 0; fractions allowed if they are a whole
            number of output steps).
        resolution: output step, 1 s..1 h, dividing a day (``"1min"``, 60, …).
        sites: number of sites (laid out around ``latitude``/``longitude``
            from the seed) or an explicit sequence of :class:`SiteConfig`.
        seed: non-negative integer; the same seed gives identical output.
        latitude: centre of the balancing area, degrees north.
        longitude: centre of the balancing area, degrees east.
        system_mw: system base S (MW): summed site mean load, and the base of
            H, damping and governor capacity.
        solar_share: installed PV capacity as a share of ``system_mw``
            (GB: ~17 GW on ~30 GW average demand).
        wind_share: installed wind capacity as a share of ``system_mw``
            (GB: ~30 GW, partly embedded, so 0.8 of the transmission base).
        nominal_hz: nominal frequency f0.
        inertia_h_s: inertia constant H on the system base (s).
        damping_per_hz: load damping D as a fraction of S per Hz.
        droop: governor droop R (per unit).
        governor_share: fraction of S providing governor response.
        governor_lag_s: governor/turbine first-order lag T_g (s).
        agc_time_s: secondary-control time constant (s), or None for none.
        imbalance_std_pu: standard deviation of the AR(1) power imbalance, per
            unit of S.
        imbalance_tau_s: time constant of the imbalance (s).
        fine_step_s: internal integration step (s); must divide 1 s.
        trips: contingencies as ``(time, mw)``: at ``time`` (ISO string,
            Timestamp or seconds after ``start``) ``mw`` of generation is lost
            (negative ``mw``: a load trip). Times are rounded to the fine step.
        keep_trace: keep the fine frequency trace; None keeps it when it has
            at most 5 million samples.
        weather, load, solar, wind, price: sub-model parameters
            (:mod:`vpp.twin.params`).

    Raises:
        ParameterError: a parameter out of its domain, naming it.
    """

    start: str | pd.Timestamp = "2025-01-01"
    days: float = 7.0
    resolution: str | float = "1min"
    sites: int | Sequence[SiteConfig] = 1
    seed: int = 0
    latitude: float = 51.5
    longitude: float = -0.1
    system_mw: float = 30_000.0
    solar_share: float = 0.55
    wind_share: float = 0.8
    nominal_hz: float = 50.0
    inertia_h_s: float = 4.0
    damping_per_hz: float = 0.01
    droop: float = 0.04
    governor_share: float = 0.3
    governor_lag_s: float = 4.0
    agc_time_s: float | None = 300.0
    imbalance_std_pu: float = 0.008
    imbalance_tau_s: float = 60.0
    fine_step_s: float = 0.1
    trips: Sequence[tuple[Any, float]] = ()
    keep_trace: bool | None = None
    weather: WeatherParams = field(default_factory=WeatherParams)
    load: LoadParams = field(default_factory=LoadParams)
    solar: SolarParams = field(default_factory=SolarParams)
    wind: WindParams = field(default_factory=WindParams)
    price: PriceParams = field(default_factory=PriceParams)

    def __post_init__(self) -> None:
        self._validate()

    # -- derived values ---------------------------------------------------
    @property
    def start_ns(self) -> int:
        """First timestamp, int64 UTC nanoseconds."""
        return parse_time_ns(self.start)

    @property
    def resolution_s(self) -> int:
        """Output step in seconds."""
        return parse_resolution_s(self.resolution)

    @property
    def n_steps(self) -> int:
        """Number of output timestamps (rows per site)."""
        return round(self.days * SECONDS_PER_DAY / self.resolution_s)

    @property
    def substeps(self) -> int:
        """Fine integration steps per second."""
        return round(1.0 / self.fine_step_s)

    @property
    def n_fine(self) -> int:
        """Fine steps over the horizon."""
        return self.n_steps * self.resolution_s * self.substeps

    @property
    def keeps_trace(self) -> bool:
        """Whether the batch run keeps the fine frequency trace."""
        if self.keep_trace is None:
            return self.n_fine <= 5_000_000
        return bool(self.keep_trace)

    def trip_fine_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Trips as (fine-step index after ``start``, MW lost), sorted by time."""
        if not self.trips:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        start_ns = self.start_ns
        idx, mw = [], []
        for i, trip in enumerate(self.trips):
            when, power = trip
            if isinstance(when, int | float | np.integer | np.floating):
                offset_s = float(when)
            else:
                offset_s = (parse_time_ns(when, f"trips[{i}] time") - start_ns) / NS_PER_S
            idx.append(round(offset_s / self.fine_step_s))
            mw.append(float(power))
        order = np.argsort(np.asarray(idx), kind="stable")
        return np.asarray(idx, np.int64)[order], np.asarray(mw, np.float64)[order]

    def site_configs(self) -> tuple[SiteConfig, ...]:
        """The sites; an integer count is laid out deterministically from the seed.

        One site is the whole balancing area, named ``"grid"`` (the schema's
        default site) and placed at the centre. Several sites get ids
        ``site_00``…, positions within ±2° latitude and ±3° longitude of the
        centre and Dirichlet(2) shares of the system's load, PV and wind, so
        they differ in size and mix while the totals stay the system's.
        """
        if not isinstance(self.sites, int | np.integer):
            return tuple(self.sites)
        n = int(self.sites)
        total_solar = self.solar_share * self.system_mw
        total_wind = self.wind_share * self.system_mw
        if n == 1:
            return (
                SiteConfig("grid", self.latitude, self.longitude, self.system_mw, total_solar,
                           total_wind),
            )  # fmt: skip
        rng = np.random.default_rng([self.seed, _SITE_SALT])
        width = max(2, len(str(n - 1)))
        lat = np.clip(self.latitude + rng.uniform(-2.0, 2.0, n), -89.0, 89.0)
        lon = (self.longitude + rng.uniform(-3.0, 3.0, n) + 180.0) % 360.0 - 180.0
        w_load, w_solar, w_wind = (rng.dirichlet(np.full(n, 2.0)) for _ in range(3))
        return tuple(
            SiteConfig(
                name=f"site_{i:0{width}d}",
                latitude=float(lat[i]),
                longitude=float(lon[i]),
                load_mw=float(w_load[i] * self.system_mw),
                solar_mw=float(w_solar[i] * total_solar),
                wind_mw=float(w_wind[i] * total_wind),
            )
            for i in range(n)
        )

    # -- validation -------------------------------------------------------
    def _validate(self) -> None:
        _positive("days", self.days)
        res = parse_resolution_s(self.resolution)
        steps = self.days * SECONDS_PER_DAY / res
        if abs(steps - round(steps)) > 1e-6:
            raise ParameterError(
                f"days={self.days} is not a whole number of {res} s resolution steps"
            )
        if round(steps) < 1:
            raise ParameterError("days must cover at least one output step")
        self.start_ns  # noqa: B018 - parses and raises on a bad start
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer):
            raise ParameterError(f"seed must be an integer, got {self.seed!r}")
        if self.seed < 0:
            raise ParameterError(f"seed must be >= 0, got {self.seed}")
        if not (-90.0 <= self.latitude <= 90.0):
            raise ParameterError(f"latitude must be within -90..90 degrees, got {self.latitude}")
        if not (-180.0 <= self.longitude <= 180.0):
            raise ParameterError(
                f"longitude must be within -180..180 degrees, got {self.longitude}"
            )
        for name in ("system_mw", "nominal_hz", "inertia_h_s", "droop", "governor_lag_s"):
            _positive(name, getattr(self, name))
        for name in ("damping_per_hz", "imbalance_std_pu", "solar_share", "wind_share"):
            _non_negative(name, getattr(self, name))
        _positive("imbalance_tau_s", self.imbalance_tau_s)
        _non_negative("governor_share", self.governor_share)
        if self.governor_share > 1:
            raise ParameterError(f"governor_share must be within 0..1, got {self.governor_share}")
        if self.agc_time_s is not None:
            _positive("agc_time_s", self.agc_time_s)
        _positive("fine_step_s", self.fine_step_s)
        sub = 1.0 / self.fine_step_s
        if self.fine_step_s > 1 or abs(sub - round(sub)) > 1e-9:
            raise ParameterError(
                f"fine_step_s must divide 1 s evenly (e.g. 1, 0.5, 0.1), got {self.fine_step_s}"
            )
        self._validate_sites()
        self._validate_trips()

    def _validate_sites(self) -> None:
        if isinstance(self.sites, bool):
            raise ParameterError("sites must be a count or a sequence of SiteConfig")
        if isinstance(self.sites, int | np.integer):
            if self.sites < 1:
                raise ParameterError(f"sites must be >= 1, got {self.sites}")
            return
        sites = list(self.sites)
        if not sites or not all(isinstance(s, SiteConfig) for s in sites):
            raise ParameterError("sites must be a count or a non-empty sequence of SiteConfig")
        names = [s.name for s in sites]
        if len(set(names)) != len(names):
            raise ParameterError(f"site names must be unique, got {names}")
        for s in sites:
            if not (-90.0 <= s.latitude <= 90.0 and -180.0 <= s.longitude <= 180.0):
                raise ParameterError(f"site {s.name!r}: latitude/longitude out of range")
            for attr in ("load_mw", "solar_mw", "wind_mw"):
                _non_negative(f"site {s.name!r} {attr}", getattr(s, attr))

    def _validate_trips(self) -> None:
        horizon_s = self.n_steps * self.resolution_s
        for i, trip in enumerate(self.trips):
            if not (isinstance(trip, tuple | list) and len(trip) == 2):
                raise ParameterError(f"trips[{i}] must be a (time, mw) pair, got {trip!r}")
            power = trip[1]
            if not (isinstance(power, int | float | np.integer | np.floating)
                    and math.isfinite(power)):  # fmt: skip
                raise ParameterError(f"trips[{i}] mw must be a finite number, got {power!r}")
        idx, _ = self.trip_fine_indices()
        if idx.size and (idx.min() < 0 or idx.max() >= horizon_s * self.substeps):
            raise ParameterError(
                f"trips must fall within the horizon [start, start + {horizon_s} s)"
            )
