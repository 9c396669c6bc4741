"""Backtests of the agents: arbitrage against the perfect-foresight oracle, and
frequency response in the twin's closed loop.

Both return plain dicts of floats, the ``"arbitrage"`` and
``"frequency_response"`` sections of ``vpp backtest --json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from vpp._core import AgentSet
from vpp.agents.config import (
    ArbitrageConfig,
    BatteryConfig,
    FleetConfig,
    FrequencyResponseConfig,
)
from vpp.agents.oracle import OracleLimits, oracle_dp, oracle_lp
from vpp.agents.price_forecast import hour_starts
from vpp.agents.published_feed import PublishedFeed
from vpp.errors import ParameterError

__all__ = [
    "FORECASTERS",
    "LP_MAX_STEPS",
    "arbitrage_backtest",
    "event_hours",
    "frequency_response_backtest",
    "hourly_price_forecasts",
    "settlement_prices",
]

#: Longest series the oracle solves as an LP; longer ones use the DP.
LP_MAX_STEPS = 20_000

#: Price forecasters of the trader: the Rust built-in 14-day profile with a
#: fading deviation, :class:`vpp.agents.price_forecast.MlPriceForecaster`, or
#: :class:`vpp.agents.fundamental_forecast.FundamentalPriceForecaster`.
FORECASTERS: tuple[str, ...] = ("profile", "ml", "fundamental")


def _ts(ts_ns: npt.ArrayLike) -> np.ndarray:
    if isinstance(ts_ns, pd.Series | pd.DatetimeIndex) and ts_ns.dtype.kind == "M":
        ts_ns = pd.DatetimeIndex(ts_ns).asi8
    ts = np.asarray(ts_ns)
    if np.issubdtype(ts.dtype, np.datetime64):
        ts = ts.astype("datetime64[ns]").astype(np.int64)
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    if ts.ndim != 1 or ts.size < 2:
        raise ParameterError("invalid parameter: ts_ns: need a 1-D series of at least 2 events")
    if np.any(np.diff(ts) <= 0):
        raise ParameterError("invalid parameter: ts_ns: timestamps must be strictly increasing")
    return ts


def settlement_prices(
    ts_ns: np.ndarray, prices: np.ndarray, settlement_s: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-event settlement price and the per-period price series.

    With ``settlement_s`` (e.g. 3600 for an hourly market) every event is
    settled at the mean price of its period (NaN prices ignored); with None
    each event is settled at its own price.

    Returns:
        (price per event, price per period) - the second is what the oracle
        optimises over; with None it equals the first.
    """
    p = np.asarray(prices, dtype=np.float64)
    if not settlement_s:
        filled = _ffill(p)
        return filled, filled
    period = ts_ns // round(settlement_s * 1e9)
    uniq, inv = np.unique(period, return_inverse=True)
    ok = np.isfinite(p)
    sums = np.bincount(inv, weights=np.where(ok, p, 0.0), minlength=uniq.size)
    counts = np.bincount(inv, weights=ok.astype(np.float64), minlength=uniq.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = _ffill(sums / counts)
    return per[inv], per


def event_hours(ts_ns: np.ndarray, default_dt_s: float) -> np.ndarray:
    """Hours each event covers: the gap since the event before it (the first
    event, with none before it, covers ``default_dt_s``)."""
    dt_h = np.empty(ts_ns.size)
    dt_h[0] = default_dt_s / 3600.0
    dt_h[1:] = np.diff(ts_ns) / 3.6e12
    return dt_h


def _ffill(p: np.ndarray) -> np.ndarray:
    """Forward-fill NaN (then back-fill the head); all-NaN is an error."""
    ok = np.isfinite(p)
    if not ok.any():
        raise ParameterError("invalid parameter: price_per_mwh: no finite price")
    idx = np.where(ok, np.arange(p.size), 0)
    np.maximum.accumulate(idx, out=idx)
    out = p[idx]
    first = int(np.argmax(ok))
    out[:first] = p[first]
    return out


def arbitrage_backtest(
    ts_ns: npt.ArrayLike,
    prices: npt.ArrayLike | None,
    battery: BatteryConfig,
    *,
    n_units: int = 1,
    forecasts: npt.ArrayLike | None = None,
    frequency_hz: npt.ArrayLike | None = None,
    frequency_response: FrequencyResponseConfig | None = None,
    arbitrage: ArbitrageConfig | None = None,
    settlement_s: float | None = 3600.0,
    forecaster: str = "profile",
    signals: Mapping[str, npt.ArrayLike] | None = None,
    score_from_ns: int | None = None,
    feed: PublishedFeed | None = None,
) -> dict[str, float]:
    """Trade a battery over a price series and compare with perfect foresight.

    The agents run event by event (the trader re-plans hourly on its
    built-in profile forecast, or on row ``i`` of ``forecasts`` when event
    ``i`` re-plans); the oracle solves the same battery (less any frequency
    reserve) over the same prices with full knowledge.

    Args:
        ts_ns: Event timestamps (UTC ns or datetime64), increasing.
        prices: Price per MWh of each event (NaN allowed: held over).
        battery: The battery (``n_units`` identical ones).
        n_units: Number of identical units.
        forecasts: Optional (n, horizon) price forecasts per plan step.
        frequency_hz: Optional frequency per event (default nominal).
        frequency_response: Optional FR contract held alongside trading.
        arbitrage: Trader settings (default :class:`ArbitrageConfig`).
        settlement_s: Settlement period in s (default hourly, as a day-ahead
            market); None settles each event at its own price.
        forecaster: ``"profile"`` (the built-in), ``"ml"`` (walk-forward
            XGBoost, :class:`~vpp.agents.price_forecast.MlPriceForecaster`)
            or ``"fundamental"`` (load, solar and wind through a learnt merit
            order, :class:`~vpp.agents.fundamental_forecast.FundamentalPriceForecaster`);
            the last two need hourly plan steps, and the built-in covers
            their warm-up. Ignored when ``forecasts`` is given.
        signals: Per-event ``load_mw``, ``solar_mw``, ``wind_mw`` (and
            ``temperature_c``) for the ``"ml"`` (optional) and
            ``"fundamental"`` (required) forecasters.
        score_from_ns: Score only the events from this time on (UTC ns);
            the agents and forecasters see the earlier events as history,
            as a trader that goes live with a record behind it. None scores
            every event, warm-up included.
        feed: Published wind and solar forecasts
            (:class:`~vpp.agents.published_feed.PublishedFeed`) for the
            ``"fundamental"`` forecaster, each read from its issue time on.

    Returns:
        ``{"profit", "oracle_profit", "capture_ratio", "cycles",
        "degradation_cost"}`` over the scored events (the oracle starts
        them at the battery's initial state of charge); profit is net of
        degradation.

    Raises:
        ParameterError: Missing prices, bad shapes or parameters.
    """
    if prices is None:
        raise ParameterError(
            "invalid parameter: price_per_mwh: arbitrage needs a price column in the input"
        )
    ts = _ts(ts_ns)
    p = np.ascontiguousarray(prices, dtype=np.float64)
    if p.shape != ts.shape:
        raise ParameterError(
            f"invalid parameter: price_per_mwh: {p.size} prices for {ts.size} timestamps"
        )
    fr = frequency_response or FrequencyResponseConfig()
    arb = arbitrage or ArbitrageConfig()
    fleet = FleetConfig(units=(battery,) * n_units)
    agents = AgentSet(fleet, fr, arb)
    f = (
        np.full(ts.size, fr.nominal_hz)
        if frequency_hz is None
        else np.ascontiguousarray(frequency_hz, dtype=np.float64)
    )
    if forecaster not in FORECASTERS:
        raise ParameterError(
            f"invalid parameter: forecaster: must be one of {FORECASTERS}, got {forecaster!r}"
        )
    split = 0 if score_from_ns is None else int(np.searchsorted(ts, score_from_ns))
    if ts.size - split < 2:
        raise ParameterError(
            f"invalid parameter: score_from_ns: leaves {ts.size - split} events to score, need 2"
        )
    if feed is not None and (forecaster != "fundamental" or forecasts is not None):
        raise ParameterError(
            "invalid parameter: feed: published forecasts are read by the fundamental "
            f"forecaster only (forecaster={forecaster!r})"
        )
    if forecasts is None and forecaster != "profile":
        power_mw, unscored_wear = _run_hourly(
            agents, arb, ts, f, p, signals, forecaster, split, feed
        )
    else:
        fc = None if forecasts is None else np.ascontiguousarray(forecasts, dtype=np.float64)
        power_mw = np.empty(ts.size)
        unscored_wear = 0.0
        for a, b in ((0, split), (split, ts.size)):
            if b > a:
                rows = None if fc is None else fc[a:b]
                power_mw[a:b] = agents.run(ts[a:b], f[a:b], p[a:b], forecasts=rows)["total_mw"]
            if a == 0 and b == split:
                unscored_wear = agents.degradation_cost()
    dt_h = event_hours(ts, fleet.default_dt_s)[split:]
    ts, p, power = ts[split:], p[split:], power_mw[split:]
    settle, per_period = settlement_prices(ts, p, settlement_s)
    degradation = agents.degradation_cost() - unscored_wear
    profit = float(np.sum(settle * power * dt_h)) - degradation
    lim = OracleLimits.from_battery(battery, n_units, fr if fr.contracted_mw > 0 else None)
    step_h = settlement_s / 3600.0 if settlement_s else float(np.median(dt_h[1:]))
    solve = oracle_lp if per_period.size <= LP_MAX_STEPS else oracle_dp
    oracle = solve(per_period, step_h, lim)
    usable = battery.energy_mwh * n_units * (battery.soc_max - battery.soc_min)
    cycles = float(np.sum(np.clip(power, 0.0, None) * dt_h)) / usable
    return {
        "profit": profit,
        "oracle_profit": oracle.profit,
        "capture_ratio": profit / oracle.profit if oracle.profit > 0 else math.nan,
        "cycles": cycles,
        "degradation_cost": float(degradation),
    }


def hourly_price_forecasts(
    arb: ArbitrageConfig,
    ts: np.ndarray,
    p: np.ndarray,
    signals: Mapping[str, npt.ArrayLike] | None,
    forecaster: str,
    feed: PublishedFeed | None = None,
) -> dict[int, list[float]]:
    """The forecast the trader gets at the first event of each hour, by event
    index (hours still in the forecaster's warm-up are absent: the trader
    keeps its built-in forecaster there); ``feed`` goes to the fundamental
    forecaster."""
    from vpp.agents.fundamental_forecast import FundamentalPriceForecaster
    from vpp.agents.price_forecast import MlPriceForecaster

    if arb.plan_step_s != 3600.0:
        raise ParameterError(
            f"invalid parameter: plan_step_s: the {forecaster} forecaster needs hourly plan "
            f"steps, got {arb.plan_step_s}"
        )
    model = (
        MlPriceForecaster(horizon_h=arb.horizon_steps)
        if forecaster == "ml"
        else FundamentalPriceForecaster(horizon_h=arb.horizon_steps)
    )
    hourly = (
        model.forecast(ts, p, signals, feed=feed)
        if isinstance(model, FundamentalPriceForecaster)
        else model.forecast(ts, p, signals)
    )
    hour = ts // 3_600_000_000_000
    starts = hour_starts(ts)
    rows = hourly.prices[hour[starts] - hour[0]]
    return {
        int(i): row.tolist() for i, row in zip(starts, rows, strict=True) if np.isfinite(row[0])
    }


def _run_hourly(
    agents: AgentSet,
    arb: ArbitrageConfig,
    ts: np.ndarray,
    f: np.ndarray,
    p: np.ndarray,
    signals: Mapping[str, npt.ArrayLike] | None,
    forecaster: str,
    split: int,
    feed: PublishedFeed | None = None,
) -> tuple[np.ndarray, float]:
    """Run the agents hour by hour, handing the trader the forecast made at
    the start of each hour.

    Returns:
        Total fleet power per event, and the degradation cost of the events
        before ``split``.
    """
    plans = hourly_price_forecasts(arb, ts, p, signals, forecaster, feed)
    starts = hour_starts(ts)
    ends = np.r_[starts[1:], ts.size]
    power = np.empty(ts.size)
    unscored_wear = 0.0
    for a, b in zip(starts, ends, strict=True):
        if a in plans:
            agents.set_price_forecast(0, int(ts[a]), plans[a])
        cut = min(max(split, a), b)
        if cut > a:
            power[a:cut] = agents.run(ts[a:cut], f[a:cut], p[a:cut])["total_mw"]
        if a <= split <= b:
            unscored_wear = agents.degradation_cost()
        if b > cut:
            power[cut:b] = agents.run(ts[cut:b], f[cut:b], p[cut:b])["total_mw"]
    return power, unscored_wear


def frequency_response_backtest(
    fleet: FleetConfig,
    frequency_response: FrequencyResponseConfig,
    *,
    ts_ns: npt.ArrayLike | None = None,
    frequency_hz: npt.ArrayLike | None = None,
    prices: npt.ArrayLike | None = None,
    trip_mw: float = 1800.0,
    trip_at_s: float = 600.0,
    window_s: float = 1800.0,
    seed: int = 0,
    twin_kwargs: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Judge frequency response on data and in the twin's closed loop.

    Compliance is measured over the given frequency series (the response
    does not change what is required of it, so open loop is exact) or, with
    no series, over the closed-loop run. Nadir and maximum RoCoF come from
    the twin at 1 s resolution around a generator trip of ``trip_mw``, run
    once without and once with the fleet in the power balance; RoCoF is
    measured over 0.5 s windows of the 0.1 s trace.

    Args:
        fleet: The batteries (their sites are ignored in the twin, which sums
            all injections into one balancing area).
        frequency_response: The contract (``contracted_mw`` > 0).
        ts_ns: Optional event timestamps of a frequency series.
        frequency_hz: Optional frequency series (Hz).
        prices: Optional prices for the series (default: no trading signal).
        trip_mw: Generation lost in the twin, MW.
        trip_at_s: When the trip happens after the window starts, s.
        window_s: Length of the closed-loop run, s.
        seed: Twin seed.
        twin_kwargs: Other :class:`vpp.twin.TwinConfig` fields.

    Returns:
        ``{"compliance", "nadir_hz_without", "nadir_hz_with",
        "max_rocof_without", "max_rocof_with"}`` (RoCoF in Hz/s, signed).
    """
    from vpp.twin import GridTwin, TwinConfig
    from vpp.twin.analysis import frequency_response as fr_metrics

    if frequency_response.contracted_mw <= 0:
        raise ParameterError(
            "invalid parameter: contracted_mw: frequency response needs a contract > 0"
        )
    # The closed loop runs at 1 s, so the trader is off: it plans hourly and
    # would only blur the comparison.
    no_trade = ArbitrageConfig(enabled=False)
    cfg = TwinConfig(
        days=window_s / 86_400.0,
        resolution="1s",
        seed=seed,
        trips=[(trip_at_s, trip_mw)],
        keep_trace=True,
        **(twin_kwargs or {}),
    )
    one_site = FleetConfig(units=fleet.units, sites=("grid",), default_dt_s=1.0)
    metrics = {}
    closed_compliance = math.nan
    for label, with_fleet in (("without", False), ("with", True)):
        twin = GridTwin(cfg)
        controller = None
        if with_fleet:
            agents = AgentSet(one_site, frequency_response, no_trade)

            def controller(obs: Any, agents: AgentSet = agents) -> float:
                return agents.decide(obs.ts_ns, 0, obs.frequency_hz, obs.price_per_mwh)

        result, _ = twin.run(controller)
        if result.frequency_trace is None:  # keep_trace=True above; a guard for typing
            raise RuntimeError("the twin kept no frequency trace")
        m = fr_metrics(result.frequency_trace, cfg.fine_step_s, event_s=trip_at_s)
        metrics[f"nadir_hz_{label}"] = m.nadir_hz
        metrics[f"max_rocof_{label}"] = m.max_rocof_hz_per_s
        if with_fleet:
            closed_compliance = agents.compliance
    compliance = closed_compliance
    if frequency_hz is not None:
        if ts_ns is None:
            raise ParameterError("invalid parameter: ts_ns: needed with frequency_hz")
        ts = _ts(ts_ns)
        f = np.ascontiguousarray(frequency_hz, dtype=np.float64)
        p = np.zeros(ts.size) if prices is None else np.ascontiguousarray(prices, dtype=np.float64)
        data_agents = AgentSet(one_site, frequency_response, no_trade)
        sites = np.zeros(ts.size, dtype=np.int64)
        data_agents.run(ts, f, p, sites=sites)
        compliance = data_agents.compliance
    return {
        "compliance": float(compliance),
        "nadir_hz_without": metrics["nadir_hz_without"],
        "nadir_hz_with": metrics["nadir_hz_with"],
        "max_rocof_without": metrics["max_rocof_without"],
        "max_rocof_with": metrics["max_rocof_with"],
    }
