"""Build the ``"series"`` section of ``vpp backtest --json`` from a backtest's arrays.

``vpp backtest`` computes the curves anyway; this module shapes them (see
:mod:`vpp.report.series`) so that ``vpp report --from backtest.json`` can draw
them. Three parts, each computed only from the backtest's own inputs:

* ``forecast``: the out-of-sample forecasts of the first site against the
  value they forecast (the target ``horizon_steps`` events later);
* ``units`` and ``arbitrage``: the agents replayed event by event over the
  test events of the first site, recording each unit's SoC and power, and the
  cumulative profit against the perfect-foresight optimum (same settlement,
  battery and reserve as :func:`vpp.agents.backtest.arbitrage_backtest`);
* ``frequency``: the twin around a generator trip, without and with the fleet
  (:func:`vpp.report.series.frequency_event_series`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vpp.report.series import (
    MAX_POINTS,
    arbitrage_series,
    forecast_series,
    frequency_event_series,
    oracle_cumulative_profit,
    thin_indices,
    unit_series,
)

__all__ = ["agent_series", "backtest_series", "forecast_part", "twin_backtest_document"]


def forecast_part(
    tel: Any,
    levels: np.ndarray,
    test: np.ndarray,
    target: str,
    horizon_steps: int,
    quantiles: list[float] | tuple[float, ...],
    max_points: int = MAX_POINTS,
) -> dict[str, Any]:
    """Forecasts issued at the first site's test events, aligned on their target time.

    Args:
        tel: the telemetry backtested.
        levels: forecasts for every event, ``(n, n_quantiles)``, ascending quantiles.
        test: mask of out-of-sample events.
        target: the forecast signal.
        horizon_steps: events ahead at the same site.
        quantiles: quantile levels of ``levels``' columns.
    """
    site = sorted({str(s) for s in tel.sites[test]})[0]
    rows = np.flatnonzero(tel.sites == site)
    issue, aim = rows[:-horizon_steps], rows[horizon_steps:]
    keep = test[issue]
    issue, aim = issue[keep], aim[keep]
    actual = np.asarray(tel.column(target), dtype=np.float64)[aim]
    qs = list(quantiles)
    mid = int(np.argmin(np.abs(np.asarray(qs) - 0.5)))
    lo, hi = (0, len(qs) - 1) if len(qs) > 1 else (None, None)
    lev = np.asarray(levels, dtype=np.float64)
    return forecast_series(
        tel.ts_ns[aim],
        actual,
        lev[issue, mid],
        None if lo is None else lev[issue, lo],
        None if hi is None else lev[issue, hi],
        target=target,
        site=site,
        horizon_steps=horizon_steps,
        lower_q=None if lo is None else qs[lo],
        upper_q=None if hi is None else qs[hi],
        max_points=max_points,
    )


def agent_series(
    ts_ns: np.ndarray,
    price_per_mwh: np.ndarray,
    battery: Any,
    n_units: int = 1,
    frequency_hz: np.ndarray | None = None,
    frequency_response: Any = None,
    settlement_s: float | None = 3600.0,
    max_points: int = MAX_POINTS,
    score_from_ns: int | None = None,
    forecaster: str = "profile",
    signals: Any = None,
) -> dict[str, dict[str, Any]]:
    """Replay the agents over one site's events; return ``units`` and ``arbitrage``.

    The profit curve settles each event at its settlement period's mean price
    (as the arbitrage backtest does) and spreads the agents' wear cost over
    time in proportion to throughput, so that its end equals the backtest's
    ``profit``. Events before ``score_from_ns`` are the agents' history:
    replayed, not drawn. ``forecaster`` and ``signals`` as for
    :func:`vpp.agents.backtest.arbitrage_backtest`: the trader gets the same
    hourly forecasts.
    """
    from vpp.agents import AgentSet, ArbitrageConfig, FleetConfig, FrequencyResponseConfig
    from vpp.agents.backtest import event_hours, hourly_price_forecasts, settlement_prices

    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    p = np.ascontiguousarray(price_per_mwh, dtype=np.float64)
    fr = frequency_response or FrequencyResponseConfig()
    fleet = FleetConfig(units=(battery,) * n_units)
    arb = ArbitrageConfig()
    agents = AgentSet(fleet, fr, arb)
    plans = (
        {} if forecaster == "profile" else hourly_price_forecasts(arb, ts, p, signals, forecaster)
    )
    f = (
        np.full(ts.size, fr.nominal_hz)
        if frequency_hz is None
        else np.ascontiguousarray(frequency_hz, dtype=np.float64)
    )
    split = 0 if score_from_ns is None else int(np.searchsorted(ts, score_from_ns))
    keep = split + thin_indices(ts.size - split, max_points)
    record = np.zeros(ts.size, dtype=bool)
    record[keep] = True
    unscored_wear = 0.0
    soc = np.empty((keep.size, n_units))
    unit_mw = np.empty((keep.size, n_units))
    total = np.empty(ts.size)
    j = 0
    for i in range(ts.size):
        if i == split:
            unscored_wear = agents.degradation_cost()
        if i in plans:
            agents.set_price_forecast(0, int(ts[i]), plans[i])
        total[i] = agents.decide(int(ts[i]), 0, float(f[i]), float(p[i]))
        if record[i]:
            soc[j] = agents.unit_soc()
            unit_mw[j] = agents.unit_power_mw()
            j += 1
    dt_h = event_hours(ts, fleet.default_dt_s)[split:]
    ts, p, total = ts[split:], p[split:], total[split:]
    settle, _ = settlement_prices(ts, p, settlement_s)
    throughput = np.cumsum(np.abs(total) * dt_h)
    wear = agents.degradation_cost() - unscored_wear
    wear_cum = throughput / throughput[-1] * wear if throughput[-1] > 0 else np.zeros(ts.size)
    profit = np.cumsum(settle * total * dt_h) - wear_cum
    oracle, _ = oracle_cumulative_profit(
        ts, p, battery, n_units, settlement_s, fr if fr.contracted_mw > 0 else None
    )
    names = [f"unit{k}" for k in range(n_units)]
    return {
        "units": unit_series(
            ts[keep - split],
            {n: soc[:, k] for k, n in enumerate(names)},
            {n: unit_mw[:, k] for k, n in enumerate(names)},
            max_points=max_points,
        ),
        "arbitrage": arbitrage_series(ts, profit, oracle, p, max_points=max_points),
    }


def backtest_series(
    tel: Any,
    levels: np.ndarray,
    test: np.ndarray,
    target: str,
    horizon_steps: int,
    quantiles: list[float] | tuple[float, ...],
    *,
    battery: Any = None,
    n_units: int = 1,
    frequency_response: Any = None,
    frequency_event: bool = False,
    event_frequency_response: Any = None,
    max_points: int = MAX_POINTS,
    forecaster: str = "profile",
) -> dict[str, Any]:
    """All parts that the backtest's data supports.

    Args:
        tel, levels, test, target, horizon_steps, quantiles: the forecast
            backtest (:class:`vpp.model.BacktestResult` and its inputs).
        battery: a :class:`vpp.agents.BatteryConfig`; None skips the agents.
        n_units: identical units.
        frequency_response: the contract held while trading (as passed to
            :func:`vpp.agents.backtest.arbitrage_backtest`; None: none).
        frequency_event: run the twin trip test for ``series.frequency``.
        event_frequency_response: the contract in the trip test (default:
            ``frequency_response`` if it has a contract, else the fleet's
            whole power, as ``vpp backtest`` does).
        forecaster: the trader's price forecaster (``vpp backtest
            --price-forecaster``), fed the site's load, solar, wind and
            temperature where the data has them.
    """
    out: dict[str, Any] = {
        "forecast": forecast_part(tel, levels, test, target, horizon_steps, quantiles, max_points)
    }
    site = out["forecast"]["site"]
    rows = tel.sites == site
    if battery is not None and "price_per_mwh" in tel.signals and (test & rows).sum() > 1:
        freq = tel.column("frequency_hz")[rows] if "frequency_hz" in tel.signals else None
        out.update(
            agent_series(
                tel.ts_ns[rows],
                tel.column("price_per_mwh")[rows],
                battery,
                n_units,
                freq,
                frequency_response,
                max_points=max_points,
                score_from_ns=int(tel.ts_ns[test & rows][0]),
                forecaster=forecaster,
                signals={
                    k: tel.column(k)[rows]
                    for k in ("load_mw", "solar_mw", "wind_mw", "temperature_c")
                    if k in tel.signals
                },
            )
        )
    if battery is not None and frequency_event:
        from vpp.agents import FleetConfig, FrequencyResponseConfig

        fr = event_frequency_response or frequency_response
        if fr is None or fr.contracted_mw <= 0:
            fr = FrequencyResponseConfig(contracted_mw=battery.max_discharge_mw * n_units)
        out["frequency"] = frequency_event_series(
            FleetConfig(units=(battery,) * n_units), fr, max_points=max_points
        )
    return out


def twin_backtest_document(
    days: float = 7.0,
    resolution: str = "15min",
    seed: int = 3,
    battery: Any = None,
    n_units: int = 4,
    contracted_mw: float | None = None,
) -> dict[str, Any]:
    """A complete backtest JSON on twin data, with every ``series`` part.

    The same sections as ``vpp backtest --twin --json`` (forecast, arbitrage
    over the test events, frequency response in the twin's trip test) plus
    ``series``; used for the README's pictures and the report tests.

    Args:
        days: twin days to simulate.
        resolution: twin step.
        seed: twin seed.
        battery: one unit (default 50 MW / 100 MWh, round trip 0.9025).
        n_units: identical units.
        contracted_mw: frequency-response contract of the trip test
            (default: the fleet's whole power).
    """
    from vpp import twin
    from vpp.agents import BatteryConfig, FleetConfig, FrequencyResponseConfig
    from vpp.agents.backtest import arbitrage_backtest, frequency_response_backtest
    from vpp.io import Telemetry
    from vpp.model import backtest

    tel = Telemetry.from_frame(twin.generate(days=days, resolution=resolution, seed=seed))
    res = backtest(tel)
    f = res.summary["forecast"]
    battery = battery or BatteryConfig.from_round_trip(50.0, 100.0, 0.9025)
    rows = tel.sites == sorted({str(s) for s in tel.sites[res.test]})[0]
    doc: dict[str, Any] = dict(res.summary)
    doc["arbitrage"] = arbitrage_backtest(
        tel.ts_ns[rows],
        tel.column("price_per_mwh")[rows],
        battery,
        n_units=n_units,
        frequency_hz=tel.column("frequency_hz")[rows],
        score_from_ns=int(tel.ts_ns[res.test & rows][0]),
    )
    contract = FrequencyResponseConfig(
        contracted_mw=contracted_mw or battery.max_discharge_mw * n_units
    )
    doc["frequency_response"] = frequency_response_backtest(
        FleetConfig(units=(battery,) * n_units), contract
    )
    doc["series"] = backtest_series(
        tel,
        res.levels,
        res.test,
        f["target"],
        f["horizon_steps"],
        f["quantiles"],
        battery=battery,
        n_units=n_units,
        frequency_event=True,
        event_frequency_response=contract,
    )
    return doc
