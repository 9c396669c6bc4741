"""The twin's stepping core, shared by the batch and the closed-loop APIs.

Time is cut into day blocks counted from ``start``. Block ``d`` draws all of
its random numbers from its own stream, ``default_rng([seed, salt, d])``, in
a fixed order (1 s imbalance innovations, then the weather, load, cloud,
wind and price noises at the output resolution), and the AR(1) states carry
over from block to block. Hence:

* the same seed gives bit-identical output, however the run is consumed
  (one batch call, or one closed-loop step at a time with zero battery);
* a shorter run is an exact prefix of a longer one with the same settings;
* memory is bounded by one day of data, whatever the horizon.

The grid starts at nominal frequency, with zero imbalance and the governor
and secondary control at rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vpp.twin import signals as sig
from vpp.twin._kernels import ar1_filter, integrate_frequency
from vpp.twin.config import NS_PER_S, SECONDS_PER_DAY, TwinConfig
from vpp.twin.frequency import FrequencyModel

__all__ = ["DayBlock", "TwinEngine"]

_INIT_SALT = 0x1A17
_DAY_SALT = 0xDA7

#: Slow processes in draw order: (name, params attribute, tau attribute).
_PROCESSES = (
    ("temperature", "weather", "noise_tau_h"),
    ("load", "load", "noise_tau_h"),
    ("cloud", "solar", "cloud_tau_h"),
    ("wind", "wind", "tau_h"),
)


@dataclass(frozen=True)
class DayBlock:
    """Everything of one day except the frequency, which depends on the battery.

    Attributes:
        day: block index after ``start``.
        ts_ns: (spd,) output timestamps of the whole day.
        load_mw, solar_mw, wind_mw, temperature_c: (spd, n_sites).
        price_per_mwh: (spd,) area price.
        innov: (86400,) standard normal innovations of the 1 s imbalance.
        wind_score, cloud_score: (spd, n_sites) the unit-variance Gaussian
            states behind wind and cloud cover (what a weather forecast
            estimates; see :mod:`vpp.twin.forecast_feed`).
    """

    day: int
    ts_ns: np.ndarray
    load_mw: np.ndarray
    solar_mw: np.ndarray
    wind_mw: np.ndarray
    temperature_c: np.ndarray
    price_per_mwh: np.ndarray
    innov: np.ndarray
    wind_score: np.ndarray
    cloud_score: np.ndarray


class TwinEngine:
    """Sequential generator of day blocks and integrator of the frequency state."""

    def __init__(self, cfg: TwinConfig) -> None:
        self.cfg = cfg
        self.sites = cfg.site_configs()
        self.site_names = tuple(s.name for s in self.sites)
        self.lat = np.array([s.latitude for s in self.sites], dtype=np.float64)
        self.lon = np.array([s.longitude for s in self.sites], dtype=np.float64)
        self.base_load_mw = np.array([s.load_mw for s in self.sites], dtype=np.float64)
        self.solar_cap_mw = np.array([s.solar_mw for s in self.sites], dtype=np.float64)
        self.wind_cap_mw = np.array([s.wind_mw for s in self.sites], dtype=np.float64)
        self.start_ns = cfg.start_ns
        self.resolution_s = cfg.resolution_s
        self.steps_per_day = SECONDS_PER_DAY // self.resolution_s
        self.n_steps = cfg.n_steps
        self.n_days = math.ceil(self.n_steps / self.steps_per_day)
        self.substeps = cfg.substeps
        self.model = FrequencyModel.from_config(cfg)
        self.ad_fine, self.bd_fine = self.model.discretize(cfg.fine_step_s)
        self.ad_sec, self.bd_sec = self.model.discretize(1.0)
        self.phi_imb = math.exp(-1.0 / cfg.imbalance_tau_s)
        self.std_imb_mw = cfg.imbalance_std_pu * cfg.system_mw
        self.trip_idx, self.trip_mw = cfg.trip_fine_indices()
        self.capacity_mw = cfg.price.capacity_factor * float(self.base_load_mw.sum())
        if self.capacity_mw <= 0:
            self.capacity_mw = 1.0  # no load anywhere: price sits at the merit-order base
        self._phi = {
            name: math.exp(-self.resolution_s / (getattr(getattr(cfg, group), tau) * 3600.0))
            for name, group, tau in _PROCESSES
        }
        self._phi["price"] = math.exp(-self.resolution_s / (cfg.price.noise_tau_h * 3600.0))
        self.reset()

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return len(self.sites)

    def reset(self) -> None:
        """Return to ``start``: stationary noise states, grid at rest at nominal."""
        rng = np.random.default_rng([self.cfg.seed, _INIT_SALT])
        m = self.n_sites
        self._ar = {name: rng.standard_normal(m) for name, _, _ in _PROCESSES}
        self._ar["price"] = rng.standard_normal(1)
        self.x = np.zeros(3)  # Δf (Hz), governor MW, secondary-control MW
        self.aux = np.zeros(2)  # imbalance MW, cumulative tripped MW (negative)
        self.ptr = np.zeros(1, dtype=np.int64)
        self._block: DayBlock | None = None

    def block(self, day: int) -> DayBlock:
        """The block of ``day``; blocks must be requested in order (0, 1, 2, …)."""
        if self._block is not None and self._block.day == day:
            return self._block
        expected = 0 if self._block is None else self._block.day + 1
        if day != expected:
            raise RuntimeError(f"day blocks are sequential: asked for {day}, next is {expected}")
        self._block = self._make_block(day)
        return self._block

    def _noise(self, rng: np.random.Generator, name: str, rho: float, n: int) -> np.ndarray:
        shared = rng.standard_normal((n, 1))
        own = rng.standard_normal((n, self.n_sites))
        rho = min(max(rho, 0.0), 1.0)
        innov = math.sqrt(rho) * shared + math.sqrt(1.0 - rho) * own
        return ar1_filter(innov, self._phi[name], self._ar[name])

    def _make_block(self, day: int) -> DayBlock:
        cfg, spd = self.cfg, self.steps_per_day
        rng = np.random.default_rng([cfg.seed, _DAY_SALT, day])
        innov = rng.standard_normal(SECONDS_PER_DAY)
        z_temp = self._noise(rng, "temperature", cfg.weather.site_correlation, spd)
        z_load = self._noise(rng, "load", cfg.load.site_correlation, spd)
        z_cloud = self._noise(rng, "cloud", cfg.solar.site_correlation, spd)
        z_wind = self._noise(rng, "wind", cfg.wind.site_correlation, spd)
        z_price = ar1_filter(rng.standard_normal((spd, 1)), self._phi["price"], self._ar["price"])

        step_ns = self.resolution_s * NS_PER_S
        ts = self.start_ns + (day * spd + np.arange(spd, dtype=np.int64)) * step_ns
        grid = sig.TimeGrid(ts, self.lat, self.lon, cfg.weather.coldest_day_of_year)
        temp = sig.temperature_c(grid, cfg.weather, z_temp)
        load = sig.load_mw(grid, self.base_load_mw, temp, cfg.load, z_load)
        solar = sig.solar_mw(grid, self.solar_cap_mw, cfg.solar, z_cloud)
        wind = sig.wind_mw(grid, self.wind_cap_mw, cfg.wind, z_wind)
        price = sig.price_per_mwh(
            load.sum(axis=1),
            solar.sum(axis=1),
            wind.sum(axis=1),
            self.capacity_mw,
            cfg.price,
            z_price[:, 0],
        )
        return DayBlock(day, ts, load, solar, wind, temp, price, innov, z_wind, z_cloud)

    def integrate(
        self,
        first_second: int,
        n_seconds: int,
        battery_mw: float,
        samples: np.ndarray,
        trace: np.ndarray,
    ) -> None:
        """Advance the frequency state by ``n_seconds`` from ``first_second`` after start.

        The span must lie inside one day block (the current one). ``samples``
        receives Δf at the start of each output step; ``trace`` (empty, or
        ``n_seconds × substeps`` long) Δf after each fine step.
        """
        day, offset = divmod(first_second, SECONDS_PER_DAY)
        blk = self.block(day)
        integrate_frequency(
            self.x,
            self.aux,
            self.ptr,
            blk.innov[offset : offset + n_seconds],
            self.phi_imb,
            self.std_imb_mw,
            self.ad_fine,
            self.bd_fine,
            self.ad_sec,
            self.bd_sec,
            self.substeps,
            first_second * self.substeps,
            float(battery_mw),
            self.trip_idx,
            self.trip_mw,
            self.resolution_s,
            samples,
            trace,
        )
