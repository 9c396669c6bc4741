"""Published day-ahead wind and solar forecasts of the twin's sites.

Real balancing areas come with public forecasts of tomorrow's wind and
solar generation (see :class:`~vpp.twin.params.FeedParams` for the rule
and the accuracy figures). This module issues them for the twin: for every
day of the horizon, at ``issue_hour_utc`` the day before, the hourly mean
wind and PV output each site would have if its wind and cloud scores were
off by an AR(1) error. The errors draw from their own random stream, so the
telemetry of a seed is the same with or without a feed.

The result is a long table, one row per issue, site and valid hour:
``issued_at`` and ``valid_at`` (UTC), ``site``, ``wind_mw`` and
``solar_mw``. A trader may read a row only from ``issued_at`` on.

Example:
    >>> feed = published_forecasts(days=2, resolution="1h", seed=1)
    >>> len(feed), list(feed.columns)
    (48, ['issued_at', 'valid_at', 'site', 'wind_mw', 'solar_mw'])
    >>> lead = feed["valid_at"] - feed["issued_at"]
    >>> str(lead.min()), str(lead.max())
    ('0 days 07:00:00', '1 days 06:00:00')
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from vpp.twin import signals as sig
from vpp.twin._kernels import ar1_filter
from vpp.twin.config import NS_PER_S, SECONDS_PER_DAY, TwinConfig
from vpp.twin.engine import TwinEngine
from vpp.twin.params import FeedParams

__all__ = ["FEED_COLUMNS", "published_forecasts"]

_FEED_SALT = 0xFEED
_NS_PER_HOUR = 3_600 * NS_PER_S
#: Columns of a feed table.
FEED_COLUMNS = ("issued_at", "valid_at", "site", "wind_mw", "solar_mw")


def published_forecasts(
    config: TwinConfig | None = None, params: FeedParams | None = None, **kwargs: Any
) -> pd.DataFrame:
    """The day-ahead forecasts published for a twin run.

    Args:
        config: The twin's configuration; or leave it out and pass its
            fields as keyword arguments (as :func:`vpp.twin.generate`).
        params: Issue time and error sizes (defaults: :class:`FeedParams`).

    Returns:
        One row per site and valid hour of every day the run touches,
        sorted by ``valid_at`` then site; see the module docstring.

    Raises:
        ParameterError: Invalid twin configuration.
        ValueError: Invalid feed parameters.
    """
    cfg = config if config is not None else TwinConfig(**kwargs)
    if config is not None and kwargs:
        raise TypeError("pass either a config or keyword fields, not both")
    fp = params if params is not None else FeedParams()
    _check(fp)
    eng = TwinEngine(cfg)
    m = eng.n_sites
    states = np.random.default_rng([cfg.seed, _FEED_SALT]).standard_normal((2, m))
    phi_w = math.exp(-1.0 / fp.wind_error_tau_h)
    phi_s = math.exp(-1.0 / fp.solar_error_tau_h)
    shifts = _Shifts(eng, fp, cfg.seed)
    frames = []
    for day in range(eng.n_days):
        blk = eng.block(day)
        rng = np.random.default_rng([cfg.seed, _FEED_SALT, day])
        e_wind = _hourly_error(rng, phi_w, states[0], cfg.wind.site_correlation, m)
        e_cloud = _hourly_error(rng, phi_s, states[1], cfg.solar.site_correlation, m)
        hour = (blk.ts_ns - blk.ts_ns[0]) // _NS_PER_HOUR
        wind_z, cloud_z = shifts.scores(day, blk, hour)
        grid = sig.TimeGrid(blk.ts_ns, eng.lat, eng.lon, cfg.weather.coldest_day_of_year)
        wind = sig.wind_mw(
            grid, eng.wind_cap_mw, cfg.wind, wind_z + fp.wind_error_std * e_wind[hour]
        )
        solar = sig.solar_mw(
            grid, eng.solar_cap_mw, cfg.solar, cloud_z + fp.solar_error_std * e_cloud[hour]
        )
        counts = np.bincount(hour, minlength=24)[:, None]
        wind_h = np.stack([np.bincount(hour, w, minlength=24) for w in wind.T], axis=1) / counts
        solar_h = np.stack([np.bincount(hour, s, minlength=24) for s in solar.T], axis=1) / counts
        day_ns = eng.start_ns + day * SECONDS_PER_DAY * NS_PER_S
        valid = day_ns + np.arange(24, dtype=np.int64) * _NS_PER_HOUR
        issued = _issue_ns(day_ns, fp.issue_hour_utc)
        frames.append((np.full(24 * m, issued), np.repeat(valid, m), wind_h.ravel(),
                       solar_h.ravel()))  # fmt: skip
    issued, valid, wind_mw, solar_mw = (np.concatenate(c) for c in zip(*frames, strict=True))
    return pd.DataFrame({
        "issued_at": pd.to_datetime(issued, unit="ns", utc=True),
        "valid_at": pd.to_datetime(valid, unit="ns", utc=True),
        "site": np.tile(np.asarray(eng.site_names, dtype=object), valid.size // m),
        "wind_mw": wind_mw,
        "solar_mw": solar_mw,
    })  # fmt: skip


class _Shifts:
    """The weather a forecast shows: the true scores, or with a timing error
    those of a shifted time (one AR(1) shift in hours for the area).

    A shifted time can fall on the day before or after, so the previous and
    next day's scores are kept (the next is generated one day ahead by a
    second engine, so the main one stays sequential).
    """

    def __init__(self, eng: TwinEngine, fp: FeedParams, seed: int) -> None:
        self.fp, self.seed = fp, seed
        self.on = fp.timing_error_std_h > 0
        self.spd = eng.steps_per_day
        self.steps_per_hour = 3_600 / eng.resolution_s
        self.phi = math.exp(-1.0 / fp.timing_error_tau_h)
        self.state = np.random.default_rng([seed, _FEED_SALT, 1]).standard_normal(1)
        self.ahead = TwinEngine(eng.cfg) if self.on else None
        self.n_days = eng.n_days
        self.prev: tuple[np.ndarray, np.ndarray] | None = None

    def scores(self, day: int, blk: Any, hour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.on:
            return blk.wind_score, blk.cloud_score
        assert self.ahead is not None
        cur = (blk.wind_score, blk.cloud_score)
        if day + 1 < self.n_days:
            if day == 0:
                self.ahead.block(0)
            nxt_blk = self.ahead.block(day + 1)
            nxt = (nxt_blk.wind_score, nxt_blk.cloud_score)
        else:
            nxt = cur  # past the horizon: clipped to the last day below
        prev = self.prev if self.prev is not None else cur
        self.prev = cur
        rng = np.random.default_rng([self.seed, _FEED_SALT, day, 1])
        delta_h = (
            self.fp.timing_error_std_h
            * ar1_filter(rng.standard_normal((24, 1)), self.phi, self.state)[:, 0]
        )
        i = np.arange(hour.size) + self.spd + np.rint(delta_h[hour] * self.steps_per_hour)
        hi = 2 * self.spd - 1 if nxt is cur else 3 * self.spd - 1
        lo = self.spd if prev is cur else 0
        i = np.clip(i.astype(np.int64), lo, hi)
        wind = np.concatenate([prev[0], cur[0], nxt[0]])[i]
        cloud = np.concatenate([prev[1], cur[1], nxt[1]])[i]
        return wind, cloud


def _check(fp: FeedParams) -> None:
    for name in ("wind_error_std", "solar_error_std", "timing_error_std_h"):
        v = getattr(fp, name)
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"invalid parameter: {name}: must be >= 0, got {v}")
    for name in ("wind_error_tau_h", "solar_error_tau_h", "timing_error_tau_h"):
        v = getattr(fp, name)
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"invalid parameter: {name}: must be > 0, got {v}")
    if not 0.0 <= fp.issue_hour_utc < 24.0:
        raise ValueError(
            f"invalid parameter: issue_hour_utc: must be in [0, 24), got {fp.issue_hour_utc}"
        )


def _hourly_error(
    rng: np.random.Generator, phi: float, state: np.ndarray, shared: float, m: int
) -> np.ndarray:
    """24 hourly unit-variance AR(1) values per site; ``state`` carries over."""
    innov = math.sqrt(shared) * rng.standard_normal((24, 1)) + math.sqrt(
        1.0 - shared
    ) * rng.standard_normal((24, m))
    return ar1_filter(innov, phi, state)


def _issue_ns(day_ns: int, issue_hour_utc: float) -> int:
    """When the forecasts of the day starting at ``day_ns`` are issued (the day before)."""
    return int(day_ns - SECONDS_PER_DAY * NS_PER_S + round(issue_hour_utc * _NS_PER_HOUR))
