"""The ``"series"`` section of a backtest JSON: the curves ``vpp report`` plots.

A backtest's summary numbers tell *how good*; these series show *why*. Any
command that writes a backtest JSON can add them (``vpp backtest`` passes
``summary["series"] = {...}``), each part optional::

    "series": {
      "forecast":  {"target", "site", "horizon_steps", "lower_q", "upper_q",
                    "ts_ns", "actual", "point", "lower", "upper"},
      "frequency": {"t_s", "without_hz", "with_hz", "event_s", "nominal_hz"},
      "units":     {"ts_ns", "soc_frac": {UNIT: [...]}, "power_mw": {UNIT: [...]}},
      "arbitrage": {"ts_ns", "profit_cum", "oracle_profit_cum", "price_per_mwh"}
    }

Times are UTC int64 ns (``ts_ns``; for a forecast, the time forecast *for*)
or seconds from the start of a closed-loop run (``t_s``). Missing values are
``null``. The builders below produce exactly these shapes, thin long series
to at most ``max_points`` (evenly, keeping the last point) and turn NaN into
``None`` so the JSON stays valid.

Example:
    >>> s = forecast_series([0, 60], [1.0, 2.0], [1.1, float("nan")], target="load_mw")
    >>> s["point"], s["lower"]
    ([1.1, None], None)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_POINTS",
    "arbitrage_series",
    "cumulative_profit",
    "forecast_series",
    "frequency_event_series",
    "frequency_series",
    "oracle_cumulative_profit",
    "thin_indices",
    "unit_series",
]

#: Default cap on points per curve (a week of minutes is 10,080).
MAX_POINTS = 20_000


def thin_indices(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spaced samples of ``n``, last included."""
    if n <= max_points:
        return np.arange(n)
    idx = np.linspace(0, n - 1, max_points).round().astype(np.int64)
    return np.unique(idx)


def _list(x: npt.ArrayLike | None, idx: np.ndarray) -> list[float | None] | None:
    if x is None:
        return None
    a = np.asarray(x, dtype=np.float64)[idx]
    return [None if not np.isfinite(v) else float(v) for v in a.tolist()]


def _ts(x: npt.ArrayLike) -> np.ndarray:
    a = np.asarray(x)
    if np.issubdtype(a.dtype, np.datetime64):
        a = a.astype("datetime64[ns]").astype(np.int64)
    return a.astype(np.int64)


def forecast_series(
    ts_ns: npt.ArrayLike,
    actual: npt.ArrayLike,
    point: npt.ArrayLike,
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
    *,
    target: str,
    site: str | None = None,
    horizon_steps: int = 1,
    lower_q: float | None = None,
    upper_q: float | None = None,
    max_points: int = MAX_POINTS,
) -> dict[str, Any]:
    """Forecasts next to what happened, aligned on the time forecast for."""
    ts = _ts(ts_ns)
    idx = thin_indices(ts.size, max_points)
    return {
        "target": target,
        "site": site,
        "horizon_steps": int(horizon_steps),
        "lower_q": lower_q,
        "upper_q": upper_q,
        "ts_ns": ts[idx].tolist(),
        "actual": _list(actual, idx),
        "point": _list(point, idx),
        "lower": _list(lower, idx),
        "upper": _list(upper, idx),
    }


def frequency_series(
    t_s: npt.ArrayLike,
    without_hz: npt.ArrayLike | None,
    with_hz: npt.ArrayLike | None,
    *,
    event_s: float | None = None,
    nominal_hz: float = 50.0,
    max_points: int = MAX_POINTS,
) -> dict[str, Any]:
    """Frequency around an event, without and with the fleet."""
    t = np.asarray(t_s, dtype=np.float64)
    idx = thin_indices(t.size, max_points)
    return {
        "t_s": t[idx].tolist(),
        "without_hz": _list(without_hz, idx),
        "with_hz": _list(with_hz, idx),
        "event_s": event_s,
        "nominal_hz": nominal_hz,
    }


def unit_series(
    ts_ns: npt.ArrayLike,
    soc_frac: Mapping[str, npt.ArrayLike] | None = None,
    power_mw: Mapping[str, npt.ArrayLike] | None = None,
    *,
    max_points: int = MAX_POINTS,
) -> dict[str, Any]:
    """State of charge (0..1) and power (MW, > 0 discharges) of each unit."""
    ts = _ts(ts_ns)
    idx = thin_indices(ts.size, max_points)
    return {
        "ts_ns": ts[idx].tolist(),
        "soc_frac": {str(k): _list(v, idx) for k, v in (soc_frac or {}).items()},
        "power_mw": {str(k): _list(v, idx) for k, v in (power_mw or {}).items()},
    }


def arbitrage_series(
    ts_ns: npt.ArrayLike,
    profit_cum: npt.ArrayLike,
    oracle_profit_cum: npt.ArrayLike | None,
    price_per_mwh: npt.ArrayLike | None = None,
    *,
    max_points: int = MAX_POINTS,
) -> dict[str, Any]:
    """Cumulative trading profit against the perfect-foresight optimum."""
    ts = _ts(ts_ns)
    idx = thin_indices(ts.size, max_points)
    return {
        "ts_ns": ts[idx].tolist(),
        "profit_cum": _list(profit_cum, idx),
        "oracle_profit_cum": _list(oracle_profit_cum, idx),
        "price_per_mwh": _list(price_per_mwh, idx),
    }


def cumulative_profit(
    ts_ns: npt.ArrayLike,
    power_mw: npt.ArrayLike,
    price_per_mwh: npt.ArrayLike,
    degradation_cost_per_mwh: float = 0.0,
    default_dt_s: float = 60.0,
    throughput_mw: npt.ArrayLike | None = None,
) -> np.ndarray:
    """Running profit of a dispatch: Σ price·power·Δt − wear·throughput·Δt.

    Each event's power holds until the next event (the last one for the
    median step); NaN prices earn nothing. ``throughput_mw`` is the sum of the
    units' |power| (default ``|power|``: one unit, or units that never
    charge while others discharge).
    """
    ts = _ts(ts_ns)
    p = np.nan_to_num(np.asarray(power_mw, dtype=np.float64))
    price = np.nan_to_num(np.asarray(price_per_mwh, dtype=np.float64))
    dt_h = np.full(ts.size, default_dt_s / 3600.0)
    if ts.size > 1:
        dt_h[:-1] = np.diff(ts) / 3.6e12
        dt_h[-1] = float(np.median(dt_h[:-1]))
    moved = np.abs(p) if throughput_mw is None else np.nan_to_num(np.asarray(throughput_mw))
    return np.cumsum(price * p * dt_h - degradation_cost_per_mwh * moved * dt_h)


def oracle_cumulative_profit(
    ts_ns: npt.ArrayLike,
    price_per_mwh: npt.ArrayLike,
    battery: Any,
    n_units: int = 1,
    settlement_s: float | None = 3600.0,
    frequency_response: Any = None,
) -> tuple[np.ndarray, float]:
    """Perfect-foresight profit over time for the same battery and prices.

    Solves :func:`vpp.agents.oracle_lp` (or the DP for long series) over the
    settlement-period prices and spreads each period's profit to its events.

    Args:
        ts_ns: event times.
        price_per_mwh: price of each event.
        battery: a :class:`vpp.agents.BatteryConfig`.
        n_units: identical units.
        settlement_s: settlement period (None: each event at its own price).
        frequency_response: a contract whose reserve the optimum must keep free.

    Returns:
        (cumulative profit at each event, total optimal profit).
    """
    from vpp.agents import OracleLimits, oracle_dp, oracle_lp
    from vpp.agents.backtest import LP_MAX_STEPS, settlement_prices

    ts = _ts(ts_ns)
    prices = np.asarray(price_per_mwh, dtype=np.float64)
    _, per_period = settlement_prices(ts, prices, settlement_s)
    if settlement_s:
        step_h = settlement_s / 3600.0
        period = ts // round(settlement_s * 1e9)
        _, inv = np.unique(period, return_inverse=True)
    else:
        step_h = float(np.median(np.diff(ts))) / 3.6e12 if ts.size > 1 else 1.0 / 60
        inv = np.arange(ts.size)
    lim = OracleLimits.from_battery(battery, n_units, frequency_response)
    solve = oracle_lp if per_period.size <= LP_MAX_STEPS else oracle_dp
    res = solve(per_period, step_h, lim)
    step_profit = per_period * res.power_mw * step_h - (
        lim.degradation_cost_per_mwh * np.abs(res.power_mw) * step_h
    )
    cum_period = np.cumsum(step_profit)
    # An event shows the profit of the periods finished by its own period's end.
    return cum_period[inv], float(res.profit)


def frequency_event_series(
    fleet: Any,
    frequency_response: Any,
    *,
    trip_mw: float = 1800.0,
    trip_at_s: float = 600.0,
    window_s: float = 1800.0,
    seed: int = 0,
    max_points: int = MAX_POINTS,
) -> dict[str, Any]:
    """Run the twin around a generator trip without and with the fleet.

    The same closed loop as :func:`vpp.agents.backtest.frequency_response_backtest`
    (1 s steps, trader off), returning the fine frequency traces instead of
    their summary numbers.
    """
    from vpp.agents import AgentSet, ArbitrageConfig, FleetConfig
    from vpp.twin import GridTwin, TwinConfig

    cfg = TwinConfig(
        days=window_s / 86_400.0,
        resolution="1s",
        seed=seed,
        trips=[(trip_at_s, trip_mw)],
        keep_trace=True,
    )
    one_site = FleetConfig(units=fleet.units, sites=("grid",), default_dt_s=1.0)
    traces = {}
    for label, with_fleet in (("without", False), ("with", True)):
        twin = GridTwin(cfg)
        controller = None
        if with_fleet:
            agents = AgentSet(one_site, frequency_response, ArbitrageConfig(enabled=False))

            def controller(obs: Any, agents: Any = agents) -> float:
                return agents.decide(obs.ts_ns, 0, obs.frequency_hz, obs.price_per_mwh)

        result, _ = twin.run(controller)
        traces[label] = np.asarray(result.frequency_trace, dtype=np.float64)
    t = np.arange(traces["with"].size) * cfg.fine_step_s
    return frequency_series(
        t,
        traces["without"],
        traces["with"],
        event_s=trip_at_s,
        nominal_hz=frequency_response.nominal_hz,
        max_points=max_points,
    )
