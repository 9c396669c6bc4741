"""Fundamental price forecaster: load, solar and wind forecasts through a learnt
merit order, averaged over the wind's uncertainty.

Wind moves the price most and is the least predictable input, and the merit
order is convex (scarcity) and falls off a cliff when renewables cover demand
(negative prices), so the price of the expected wind is not the expected
price. At the first event of every hour this forecaster:

* learns the price curve ``price = G(net load, renewable share)`` with
  XGBoost (monotone: rising in net load, falling in share) on the events so
  far (the first of every ``thin_s`` seconds, as everything learnt from
  events here), refitted every ``refit_days`` and read from a table
  (:class:`~vpp.agents.price_curve.PriceCurve`);
* turns the wind now into a Gaussian score through the empirical
  distribution of the events of the last ``wind_days`` days (a value at the
  0 or rated atom takes the score's conditional mean on the atom), lets the
  score revert with a time constant estimated from its steps between
  consecutive kept events, and maps 16 Gauss-Hermite nodes of it back to MW
  through the empirical quantiles;
* forecasts load from the mean of the same hour on the same day type
  (weekday, Saturday, Sunday) over three weeks: with ``temperature_c``, the
  temperature's deviation from its profile over the same days, times a
  sensitivity fitted over three weeks, fades over ``load_tau_h`` (weather
  systems last days) and the rest of the load's deviation over
  ``load_noise_tau_h``; without it, the whole deviation fades over
  ``load_tau_h``. Deviations now compare the first event with the first
  events of the same hour on past days, so the ramp within the hour does
  not pass for an anomaly;
* forecasts solar as the 14-day clear-sky envelope times the clear-sky
  index now fading to its 14-day mean over ``solar_tau_h``;
* averages ``G`` over the wind nodes and applies the price's deviation from
  ``G`` now, fading over ``residual_tau_h``: as a ratio where ``G`` is
  clearly positive (fuel and bidding scale the merit order), else as an
  offset;
* combines the result with the trader's built-in forecast (mean of the same
  hour over 14 days plus the first price's deviation fading over 12 h),
  with weight ``profile_weight``.

Given published wind and solar forecasts (``feed``, read by issue time),
the wind's score is centred on the forecast's where it covers the hour,
plus the forecast's error learnt from the history (mean, spread, time
constant) and the error seen now fading; PV is the forecast's. Measured
with the twin's day-ahead forecasts at their published accuracy: 87.5% /
89.8% (seeds 1 / 2, docs/arbitrage.md). Without them (one year of
1-minute twin data, the battery of ``python -m vpp.agents.report``):
capture 68.9% (seed 1) and 69.3% (seed 2) against 62.3% / 65.0% for the
built-in profile forecaster (seeds 3 and 4: 55.6% / 67.3% against 45.5% /
61.1%); the year's backtest takes about 12 s. ``python -m bench.arbitrage_ceiling``
puts the ceiling with the wind's hidden state and exact load and solar at
73% for a trader without published forecasts.

Example:
    >>> from vpp.twin import generate
    >>> df = generate(days=10, resolution="1h", sites=1, seed=2)
    >>> ts = df["timestamp"].astype("int64").to_numpy()
    >>> sig = {c: df[c].to_numpy() for c in ("load_mw", "solar_mw", "wind_mw")}
    >>> fc = FundamentalPriceForecaster(warmup_days=7).forecast(
    ...     ts, df["price_per_mwh"].to_numpy(), sig)
    >>> fc.prices.shape, bool(np.isnan(fc.prices[0, 0])), bool(np.isfinite(fc.prices[-1]).all())
    ((240, 48), True, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from vpp.agents.hour_profiles import (
    clear_sky,
    clear_sky_index_now,
    load_profiles,
    mean_clear_sky_index,
    running_solar_max,
    seasonal_naive,
    temperature_sensitivity,
)
from vpp.agents.price_curve import PriceCurve, curve_features
from vpp.agents.price_forecast import HourlyForecast, checked_series, hour_starts, hourly_means
from vpp.agents.published_feed import PublishedFeed
from vpp.agents.wind_score import feed_error, score, score_time_constant, scores
from vpp.errors import ParameterError

__all__ = ["REQUIRED_SIGNALS", "FundamentalPriceForecaster"]

_NS_PER_HOUR = 3_600_000_000_000
#: Signals the forecaster needs besides price.
REQUIRED_SIGNALS: tuple[str, ...] = ("load_mw", "solar_mw", "wind_mw")
_NODES = 16
#: Gauss-Hermite nodes of a standard normal and their weights (summing to 1).
_Z_NODES, _Z_WEIGHTS = np.polynomial.hermite_e.hermegauss(_NODES)
_Z_WEIGHTS = _Z_WEIGHTS / _Z_WEIGHTS.sum()
#: Hours before the forecast hour the hourly step reads at most: load
#: profiles of the three weeks of hours the temperature sensitivity is fitted
#: on, each from the three weeks before it.
LOOKBACK_H = 2 * 21 * 24
#: Curve price (EUR/MWh) above which the price's deviation from it is a ratio;
#: below it (near zero or negative) ratios blow up and it is an offset.
_RATIO_FLOOR_PER_MWH = 20.0


@dataclass
class Hours:
    """What the hourly step reads: per-hour arrays on a dense grid of hours
    since ``hour0`` and the events before the hour being forecast.

    Attributes:
        hour0: Absolute UTC hour (since 1970) of hour row 0 (the series' first).
        first: (m, 5) price, load, solar, wind and temperature at the first
            event of each hour (NaN for hours without events).
        means: (m, 5) hourly means of the same columns, forward-filled.
        envelope: (m,) clear-sky proxy of each hour (see ``clear_sky``).
        solar_max: (m,) largest hourly mean solar up to and including each
            hour (0 before any).
        ev_ts, ev_p, ev_x, ev_wind, ev_hour: per event kept
            (``FundamentalPriceForecaster.thinned``): UTC ns, price, curve
            features, wind and hour row; only events before the forecast
            hour are read.
    """

    hour0: int
    first: np.ndarray
    means: np.ndarray
    envelope: np.ndarray
    solar_max: np.ndarray
    ev_ts: np.ndarray
    ev_p: np.ndarray
    ev_x: np.ndarray
    ev_wind: np.ndarray
    ev_hour: np.ndarray
    #: Hour row of the arrays' first row: a live forecaster keeps only the
    #: last weeks (:data:`LOOKBACK_H` hours are all the step reads).
    row0: int = 0
    #: Published wind and solar forecasts, read by issue time (None: none).
    feed: PublishedFeed | None = None


@dataclass
class Carry:
    """What the hourly step carries from one hour to the next."""

    rng: np.random.Generator
    curve: PriceCurve | None = None
    wind_hist: np.ndarray = field(default_factory=lambda: np.empty(0))
    tau_w: float = 10.0
    ci_mean: float = 0.7
    beta: float = 0.0
    #: The published wind forecast's error in the wind score: mean, standard
    #: deviation and time constant (hours), learnt at each refit.
    feed_error: tuple[float, float, float] | None = None


def checked_signals(
    signals: Mapping[str, npt.ArrayLike] | None, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load, solar, wind and temperature per event (temperature NaN when absent).

    Raises:
        ParameterError: A required signal missing or of the wrong length.
    """
    missing = [s for s in REQUIRED_SIGNALS if signals is None or s not in signals]
    if missing:
        raise ParameterError(
            f"invalid parameter: signals: the fundamental forecaster needs {missing}"
        )
    assert signals is not None
    load, solar, wind = (_signal(signals, s, shape) for s in REQUIRED_SIGNALS)
    return load, solar, wind, _signal(signals, "temperature_c", shape)


class FundamentalPriceForecaster:
    """Walk-forward hourly price forecasts from load, solar and wind.

    Args:
        horizon_h: Hours forecast at each hour (the trader's plan horizon).
        warmup_days: Days of history before the first forecast.
        refit_days: Days between refits of the price curve.
        wind_days: Days of history defining the wind's distribution.
        load_tau_h: Time constant of the weather-driven load anomaly
            (synoptic weather systems last days).
        load_noise_tau_h: Time constant of the rest of the load's deviation
            (demand noise lasts hours); used with ``temperature_c``.
        solar_tau_h: Time constant of the clear-sky index (clouds last hours).
        residual_tau_h: Time constant of the price's deviation from its curve.
        profile_weight: Weight of the trader's built-in seasonal-naive
            forecast in the result (a forecast combination: the profile
            remembers the spikes of recent days the curve averages away).
            0.2 was chosen on seeds 3 and 4 of the year report's replica
            and then measured on seeds 1 and 2.
        max_train_rows: Events sampled (seeded) for each fit of the curve.
        thin_s: The curve and the wind's statistics learn from the first
            event of every ``thin_s`` seconds (at 1-minute resolution one
            event in ten). Measured neutral against every event (mean
            capture of seeds 1-4: 65.3% either way cold, 64.5% against
            64.6% after 28 days of history); it halves the backtest's time
            and keeps the live forecaster's state small.
        seed: Seed of that sampling.
        n_jobs: Threads XGBoost uses.
    """

    def __init__(
        self,
        *,
        horizon_h: int = 48,
        warmup_days: float = 7.0,
        refit_days: float = 7.0,
        wind_days: float = 30.0,
        load_tau_h: float = 48.0,
        load_noise_tau_h: float = 3.0,
        solar_tau_h: float = 3.0,
        residual_tau_h: float = 6.0,
        profile_weight: float = 0.2,
        max_train_rows: int = 100_000,
        thin_s: float = 600.0,
        seed: int = 0,
        n_jobs: int = 2,
    ) -> None:
        for name, v in (
            ("warmup_days", warmup_days),
            ("refit_days", refit_days),
            ("wind_days", wind_days),
            ("load_tau_h", load_tau_h),
            ("load_noise_tau_h", load_noise_tau_h),
            ("solar_tau_h", solar_tau_h),
            ("residual_tau_h", residual_tau_h),
            ("thin_s", thin_s),
        ):
            if not (math.isfinite(v) and v > 0):
                raise ParameterError(f"invalid parameter: {name}: must be > 0, got {v}")
        if not 0.0 <= profile_weight <= 1.0:
            raise ParameterError(
                f"invalid parameter: profile_weight: must be in [0, 1], got {profile_weight}"
            )
        if horizon_h < 1:
            raise ParameterError(f"invalid parameter: horizon_h: must be >= 1, got {horizon_h}")
        self.horizon_h = horizon_h
        self.warmup_h = max(24, round(warmup_days * 24))
        self.refit_h = max(1, round(refit_days * 24))
        self.wind_h = max(24, round(wind_days * 24))
        self.taus = (load_tau_h, solar_tau_h, residual_tau_h)
        self.load_noise_tau_h = load_noise_tau_h
        self.profile_weight = profile_weight
        self.max_train_rows = max_train_rows
        self.thin_ns = round(thin_s * 1e9)
        self.seed = seed
        self.n_jobs = n_jobs

    def forecast(
        self,
        ts_ns: npt.ArrayLike,
        prices: npt.ArrayLike,
        signals: Mapping[str, npt.ArrayLike] | None,
        feed: PublishedFeed | None = None,
    ) -> HourlyForecast:
        """Forecasts at the first event of every hour of a series.

        Args:
            ts_ns: (n,) increasing UTC ns of the events.
            prices: (n,) price per MWh per event.
            signals: Per-event ``load_mw``, ``solar_mw`` and ``wind_mw``;
                ``temperature_c`` optional (NaN where unknown).

        Returns:
            The forecasts per hour; the row of hour ``i`` uses only events
            before ``hour_ns[i]`` and the first event of that hour. NaN rows
            during the warm-up and for hours without events.

        Raises:
            ParameterError: Missing signals, bad shapes or no finite price.
        """
        ts, p = checked_series(ts_ns, prices)
        load, solar, wind, temp = checked_signals(signals, ts.shape)
        series = np.column_stack([p, load, solar, wind, temp])
        hour, means = hourly_means(ts, series)
        m = hour.size
        # What the trader sees when it re-plans: the first event of each hour.
        first = np.full((m, 5), np.nan)
        starts = hour_starts(ts)
        first[ts[starts] // _NS_PER_HOUR - hour[0]] = series[starts]
        kept = self.thinned(ts)
        hist = Hours(
            hour0=int(hour[0]),
            first=first,
            means=means,
            # Clear-sky proxy of every hour from the 14 days before it.
            envelope=clear_sky(means[:, 2], m, np.arange(m)),
            solar_max=running_solar_max(means[:, 2]),
            ev_ts=ts[kept],
            ev_p=p[kept],
            ev_x=curve_features(load[kept], solar[kept], wind[kept]),
            ev_wind=wind[kept],
            ev_hour=ts[kept] // _NS_PER_HOUR - hour[0],
            feed=feed,
        )
        carry = Carry(np.random.default_rng(self.seed))
        out = np.full((m, self.horizon_h), np.nan)
        for h in range(self.warmup_h, m):
            row = self.hour_forecast(carry, h, hist)
            if row is not None:
                out[h] = row
        return HourlyForecast(hour_ns=hour * _NS_PER_HOUR, prices=out)

    def thinned(self, ts_ns: np.ndarray, last_slot: int | None = None) -> np.ndarray:
        """Which of these increasing timestamps the curve and the wind's
        statistics learn from: the first of each ``thin_s`` slot (after the
        slot ``last_slot`` of an earlier batch)."""
        slot = ts_ns // self.thin_ns
        prev = np.r_[np.iinfo(np.int64).min if last_slot is None else last_slot, slot[:-1]]
        return np.asarray(slot > prev)

    def hour_forecast(self, c: Carry, h: int, hist: Hours) -> np.ndarray | None:
        """The forecast at the first event of hour row ``h`` (None: no
        forecast, the trader keeps its built-in one); refits ``c`` when due.

        Reads only rows before ``h`` (row ``h`` of ``first``) and events
        before hour ``h``, so the batch and the live forecaster agree.
        """
        from scipy.stats import norm

        first, means = hist.first, hist.means
        ph, lh, sh, th = means[:, 0], means[:, 1], means[:, 2], means[:, 4]
        # Rows of the arrays are hours since hour0 + row0; event rows and the
        # refit cadence count from hour0.
        r, hour0 = h - hist.row0, hist.hour0 + hist.row0
        p0, l0, s0, w0, t0 = first[r]
        if not np.isfinite(first[r, :4]).all():
            return None
        if c.curve is None or (h - self.warmup_h) % self.refit_h == 0:
            hi = int(np.searchsorted(hist.ev_hour, h))
            x_past, p_past = hist.ev_x[:hi], hist.ev_p[:hi]
            if np.sum(np.isfinite(p_past) & np.isfinite(x_past).all(axis=1)) < 24:
                return None  # nothing to learn the curve from yet
            c.curve = PriceCurve(
                x_past, p_past, c.rng, max_rows=self.max_train_rows, seed=self.seed,
                n_jobs=self.n_jobs,
            )  # fmt: skip
            lo = int(np.searchsorted(hist.ev_hour, h - self.wind_h))
            recent_w, recent_t = hist.ev_wind[lo:hi], hist.ev_ts[lo:hi]
            keep = np.isfinite(recent_w)
            c.wind_hist = np.sort(recent_w[keep])
            c.tau_w = score_time_constant(recent_t[keep], recent_w[keep], c.wind_hist, norm)
            if hist.feed is not None:
                ev_abs = hist.hour0 + hist.ev_hour[lo:hi][keep]
                fw, _ = hist.feed.known(ev_abs * _NS_PER_HOUR, ev_abs)
                c.feed_error = feed_error(recent_t[keep], recent_w[keep], fw, c.wind_hist, norm)
        if h % 24 == 0 or h == self.warmup_h:
            c.ci_mean = mean_clear_sky_index(sh, hist.envelope, r)
            c.beta = temperature_sensitivity(lh, th, hour0, r)
        if c.wind_hist.size < 24:
            return None
        k = np.arange(self.horizon_h)
        tau_l, tau_s, tau_r = self.taus
        z0 = score(c.wind_hist, w0, norm)
        rho = np.exp(-(k + 0.5) / c.tau_w)
        z = rho[:, None] * z0 + np.sqrt(1.0 - rho[:, None] ** 2) * _Z_NODES[None, :]
        target = r + k
        feed_solar = None
        if hist.feed is not None and c.feed_error is not None:
            z, feed_solar = _with_feed(z, hist.feed, hour0 + r, z0, c, norm, k)
        wind_q = np.quantile(c.wind_hist, norm.cdf(z))
        load_fc, _ = load_profiles(lh, th, hour0, r, target)
        # The first event is compared with the first events of the same
        # hour on past days: the hour's mean would mix in its ramp.
        l_now, t_now = (v[0] for v in load_profiles(first[:, 1], first[:, 4], hour0, r, target[:1]))
        clear = clear_sky(sh, r, target)
        if np.isfinite(t0) and np.isfinite(t_now):
            # Weather drives the slow part of the load's deviation, the
            # rest is demand noise that fades within hours.
            slow = c.beta * (t0 - t_now)
            load_fc = load_fc * (1.0 + slow * np.exp(-k / tau_l))
            fast = self.load_noise_tau_h
        else:
            slow, fast = 0.0, tau_l
        anomaly = l0 / (l_now * (1.0 + slow)) - 1.0 if l_now > 0 else 0.0
        load_fc = load_fc * (1.0 + anomaly * np.exp(-k / fast))
        scale = float(hist.solar_max[r - 1]) if r > 0 else 0.0
        ci_now = clear_sky_index_now(first[:, 2], scale, r, s0, c.ci_mean)
        solar_fc = clear * (c.ci_mean + (ci_now - c.ci_mean) * np.exp(-k / tau_s))
        if feed_solar is not None:
            solar_fc = np.where(np.isfinite(feed_solar), feed_solar, solar_fc)
        x = curve_features(np.repeat(load_fc, _NODES), np.repeat(solar_fc, _NODES), wind_q.ravel())
        g = c.curve(x).reshape(self.horizon_h, _NODES) @ _Z_WEIGHTS
        now = curve_features(np.array([l0]), np.array([s0]), np.array([w0]))
        g_now = float(c.curve(now)[0])
        fade = np.exp(-k / tau_r)
        if g_now >= _RATIO_FLOOR_PER_MWH and p0 > 0:
            # Fuel and bidding scale the merit order, so a deviation
            # fades as a ratio where the curve is clearly positive.
            row = np.where(g > 0, g * (p0 / g_now) ** fade, g + (p0 - g_now) * fade)
        else:
            row = g + (p0 - g_now) * fade
        anchor = seasonal_naive(ph, r, target, p0)
        w = self.profile_weight if np.isfinite(anchor).all() else 0.0
        return np.asarray((1.0 - w) * row + w * np.nan_to_num(anchor))


def _with_feed(  # type: ignore[no-untyped-def]
    z: np.ndarray, feed: PublishedFeed, abs_hour: int, z0: float, c: Carry, norm, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Wind-score nodes where the feed forecasts the hour, and its solar.

    The score there is the forecast's plus the error learnt: its mean, and
    the error seen now (the wind now against the forecast for this hour)
    fading with the error's time constant; the spread is what of the error
    has not been seen. Hours the feed does not cover keep ``z``.
    """
    assert c.feed_error is not None
    bias, std, tau = c.feed_error
    now_ns = abs_hour * _NS_PER_HOUR
    wind, solar = feed.known(now_ns, abs_hour + k)
    covered = np.isfinite(wind)
    if not covered.any():
        return z, solar
    z_fc = scores(c.wind_hist, np.nan_to_num(wind), norm)
    # Lead 0 is this hour: the wind now against its forecast is the error seen.
    e0 = z0 - float(z_fc[0]) if covered[0] else bias
    rho = np.exp(-(k + 0.5) / tau)
    centre = z_fc + bias + (e0 - bias) * rho
    spread = std * np.sqrt(1.0 - rho**2)
    fed = centre[:, None] + spread[:, None] * _Z_NODES[None, :]
    return np.where(covered[:, None], fed, z), solar


def _signal(signals: Mapping[str, npt.ArrayLike], name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One signal per event, checked against the timestamps (all NaN when absent)."""
    if name not in signals:
        return np.full(shape, np.nan)
    col = np.asarray(signals[name], dtype=np.float64)
    if col.shape != shape:
        raise ParameterError(
            f"invalid parameter: {name}: {col.size} values for {shape[0]} timestamps"
        )
    return col
