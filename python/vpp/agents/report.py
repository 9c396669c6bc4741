"""Quality figures of the agents on a year of twin data (for the README).

Run ``python -m vpp.agents.report [--days 365] [--seed 1]
[--price-forecaster profile|ml|fundamental] [--history-days 28]
[--published-forecasts]``; prints one
JSON object with the arbitrage and frequency-response backtests:

* arbitrage: one 1 MW / 2 MWh battery, round trip 0.9025, €5/MWh wear, on
  the twin's 1-minute prices, settled hourly, against the hourly oracle.
  The twin runs ``history_days`` before the scored ``days``: the trader and
  its forecaster live through them (as one going live with a record behind
  it) and only the scored days count, for trader and oracle alike. With 0
  the trader starts cold and its warm-up, idle for want of history, is
  scored too;
* frequency response: 100 units of 10 MW / 20 MWh holding 400 MW of Dynamic
  Containment; compliance over the year's 1-minute frequency, nadir and
  RoCoF from a 1,800 MW trip in the closed loop at 1 s.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

import pandas as pd

from vpp.agents.backtest import FORECASTERS, arbitrage_backtest, frequency_response_backtest
from vpp.agents.config import BatteryConfig, FleetConfig, FrequencyResponseConfig
from vpp.twin.params import FeedParams

__all__ = ["main", "year_report"]


def year_report(
    days: float = 365.0,
    seed: int = 1,
    forecaster: str = "profile",
    history_days: float = 0.0,
    feed: FeedParams | None = None,
) -> dict[str, object]:
    """Both backtests on ``days`` of 1-minute twin data (``forecaster``: the
    trader's price forecaster, see :data:`vpp.agents.backtest.FORECASTERS`;
    ``history_days``: unscored days the trader lives through first;
    ``feed``: the fundamental forecaster reads the twin's published
    day-ahead wind and solar forecasts, with these errors; None: none)."""
    from vpp.agents.published_feed import PublishedFeed
    from vpp.twin import generate
    from vpp.twin.forecast_feed import published_forecasts

    span = {"days": history_days + days, "resolution": "1min", "sites": 1, "seed": seed}
    full = generate(**span)
    published = (
        None if feed is None else PublishedFeed.from_frame(published_forecasts(params=feed, **span))
    )
    ts_full = pd.DatetimeIndex(full["timestamp"]).asi8
    score_from = int(ts_full[0] + round(history_days * 86_400e9))
    scored = ts_full >= score_from
    df, ts = full[scored], ts_full[scored]
    t0 = time.perf_counter()
    arb = arbitrage_backtest(
        ts_full,
        full["price_per_mwh"].to_numpy(),
        BatteryConfig.from_round_trip(1.0, 2.0, 0.9025, degradation_cost_per_mwh=5.0),
        forecaster=forecaster,
        signals={
            k: full[k].to_numpy() for k in ("load_mw", "solar_mw", "wind_mw", "temperature_c")
        },
        score_from_ns=score_from,
        feed=published,
    )
    t1 = time.perf_counter()
    unit = BatteryConfig(energy_mwh=20.0, max_charge_mw=10.0, max_discharge_mw=10.0)
    fr = frequency_response_backtest(
        FleetConfig.uniform(100, unit),
        FrequencyResponseConfig(contracted_mw=400.0),
        ts_ns=ts,
        frequency_hz=df["frequency_hz"].to_numpy(),
        trip_mw=1800.0,
        seed=seed,
    )
    t2 = time.perf_counter()
    return {
        "events": len(df),
        "history_days": history_days,
        "published_forecasts": None if feed is None else asdict(feed),
        "arbitrage": arb,
        "frequency_response": fr,
        "seconds": {"arbitrage": t1 - t0, "frequency_response": t2 - t1},
    }


def main(argv: list[str] | None = None) -> int:
    """Print the year report as JSON."""
    ap = argparse.ArgumentParser(prog="python -m vpp.agents.report")
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--price-forecaster", choices=FORECASTERS, default="profile")
    ap.add_argument(
        "--history-days",
        type=float,
        default=0.0,
        help="unscored days of twin data the trader lives through first (default 0: cold start)",
    )
    ap.add_argument(
        "--published-forecasts",
        action="store_true",
        help="the fundamental forecaster reads the twin's day-ahead wind and solar forecasts",
    )
    a = ap.parse_args(argv)
    feed = FeedParams() if a.published_forecasts else None
    report = year_report(a.days, a.seed, a.price_forecaster, a.history_days, feed)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
