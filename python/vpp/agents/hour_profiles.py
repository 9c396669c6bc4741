"""Hour-of-day profiles of the fundamental price forecaster's inputs.

The hourly step of :class:`~vpp.agents.fundamental_forecast.FundamentalPriceForecaster`
reads these from the hourly means (and first events) of load, solar,
temperature and price before the forecast hour ``h``: load and temperature
profiles by day type, the temperature sensitivity of load, the solar
clear-sky envelope and index, and the trader's built-in price forecast it is
combined with. Hours count from the forecaster's first hour; arrays are
indexed by them.
"""

from __future__ import annotations

import numpy as np

from vpp.agents.config import ArbitrageConfig

__all__ = [
    "back_days",
    "clear_sky",
    "clear_sky_index_now",
    "day_type",
    "load_profiles",
    "masked_mean",
    "mean_clear_sky_index",
    "running_solar_max",
    "seasonal_naive",
    "temperature_sensitivity",
]

#: The trader's built-in forecaster, which the forecast is combined with.
_BUILTIN = ArbitrageConfig()


def back_days(target: np.ndarray, h: int, m: int, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the same hour on each of ``days`` days before each target,
    clipped into ``[0, m)``, and whether each is known before hour ``h``."""
    back = target[:, None] - 24 * np.arange(1, days + 1)[None, :]
    return np.clip(back, 0, m - 1), (back >= 0) & (back < h)


def masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row means of the finite ``values`` where ``mask``; NaN for empty rows."""
    ok = mask & np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, values, 0.0).sum(axis=1) / ok.sum(axis=1)


def day_type(abs_hour: np.ndarray) -> np.ndarray:
    """0 weekday, 1 Saturday, 2 Sunday of absolute UTC hours since 1970."""
    return np.clip(((abs_hour // 24 + 3) % 7) - 4, 0, 2)


def load_profiles(
    lh: np.ndarray, th: np.ndarray, hour0: int, h: int, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Load and temperature profiles of each target hour from hours before
    ``h``: the mean of the same hour on the same day type (weekday, Saturday,
    Sunday) over three weeks, the temperature over the same days as the load
    so that their deviations compare like with like."""
    bi, valid = back_days(target, h, lh.size, 21)
    t_type = day_type(hour0 + target)
    same = valid & (day_type(hour0 + bi) == t_type[:, None])
    use = np.where(same.any(axis=1)[:, None], same, valid)
    return masked_mean(lh[bi], use), masked_mean(th[bi], use)


def temperature_sensitivity(lh: np.ndarray, th: np.ndarray, hour0: int, h: int) -> float:
    """Relative load change per degree of temperature deviation from the
    profiles, fitted (through the origin) over the three weeks before ``h``."""
    past = np.arange(max(0, h - 21 * 24), h)
    load, temp = load_profiles(lh, th, hour0, h, past)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = lh[past] / load - 1.0
    x = th[past] - temp
    ok = np.isfinite(x) & np.isfinite(y)
    sxx = float(np.sum(x[ok] ** 2))
    return float(np.sum(x[ok] * y[ok]) / sxx) if ok.sum() >= 48 and sxx > 0 else 0.0


def clear_sky(sh: np.ndarray, h: int, target: np.ndarray) -> np.ndarray:
    """Clear-sky proxy of each target hour: the largest solar of the same
    hour over the 14 days before ``h`` (0 without history)."""
    bi, valid = back_days(target, h, sh.size, 14)
    return np.where(valid & np.isfinite(sh[bi]), sh[bi], 0.0).max(axis=1)


def running_solar_max(sh: np.ndarray) -> np.ndarray:
    """Largest hourly mean solar up to and including each hour (0 before any)."""
    return np.maximum.accumulate(np.where(np.isfinite(sh), np.maximum(sh, 0.0), 0.0))


def mean_clear_sky_index(sh: np.ndarray, envelope: np.ndarray, h: int) -> float:
    """Mean clear-sky index over the daylight hours of the 14 days before ``h``."""
    lo = max(0, h - 24 * 14)
    env, s = envelope[lo:h], sh[lo:h]
    day = (env > 0.05 * max(float(env.max(initial=0.0)), 1e-9)) & np.isfinite(s)
    return float(np.clip(np.mean(s[day] / env[day]), 0.05, 1.0)) if day.any() else 0.7


def clear_sky_index_now(
    solar_first: np.ndarray, scale: float, h: int, s0: float, mean: float
) -> float:
    """Clear-sky index at the first event of hour ``h``: against the largest
    first-event solar of the same hour over 14 days (the hour's mean would
    mix in the ramp within the hour)."""
    back = h - 24 * np.arange(1, 15)
    back = back[back >= 0]
    clear = float(np.nanmax(solar_first[back], initial=0.0)) if back.size else 0.0
    now = s0 / clear if clear > 1e-3 * max(scale, 1e-9) else mean
    return float(np.clip(now, 0.0, 1.2))


def seasonal_naive(ph: np.ndarray, h: int, target: np.ndarray, p0: float) -> np.ndarray:
    """The trader's built-in forecast (its default :class:`ArbitrageConfig`):
    the mean price of the same hour over the ``profile_days`` days before
    ``h``, plus the first price's deviation from it fading over
    ``deviation_tau_h`` (NaN without history)."""
    bi, valid = back_days(target, h, ph.size, _BUILTIN.profile_days)
    prof = masked_mean(ph[bi], valid)
    return prof + (p0 - prof[0]) * np.exp(-(target - h) / _BUILTIN.deviation_tau_h)
