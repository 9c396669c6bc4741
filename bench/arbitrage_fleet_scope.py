"""Live fleet-wide against per-site price forecasting, on a multi-site twin.

Run ``python -m bench.arbitrage_fleet_scope [--seed 1] [--days 180] [--sites 8]
[--published-forecasts]`` (under a minute). It runs the live agents
(:class:`~vpp.runtime.agent_stage.AgentStage`, the path of ``vpp run``)
with the fundamental price forecaster over a twin of ``--sites`` sites at
1 minute, once with ``price_forecast_scope =
"fleet"`` (one forecaster on the fleet's summed load, solar and wind) and
once with ``"site"`` (each site on its own signals). Every site has the
report's battery (1 MW / 2 MWh, 0.95 each way, EUR 5/MWh wear); each site's
profit (hourly settlement at the area price, net of wear on grid-side
throughput) is divided by the perfect-foresight optimum of that battery over
the same prices. It prints each scope's mean capture, the sites' captures
and the wall time.

Measured (8 sites, 180 days; fleet / site, mean over sites): seed 1 56.5% /
53.6%, seed 2 50.0% / 49.9%, seed 3 62.0% / 55.4%, seed 4 49.6% / 45.4%;
the fleet forecaster took 9-10 s against 37 s for eight.

With ``--published-forecasts`` the forecasters also read the twin's
day-ahead wind and solar forecasts (:mod:`vpp.twin.forecast_feed`; the
fleet's summed, or each site's own); the README gives the figures.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
from tests.runtime.helpers import held_power

from vpp import twin
from vpp.agents.oracle import OracleLimits, oracle_dp
from vpp.agents.settings import fleet_from_settings
from vpp.config import AgentSettings, BatterySettings
from vpp.io import Telemetry
from vpp.runtime.agent_stage import AgentStage
from vpp.runtime.processor import BatchProcessor

BATTERY = BatterySettings(units_per_site=1, power_mw=1.0, energy_mwh=2.0)


def study(
    seed: int = 1, days: float = 180.0, n_sites: int = 8, published: bool = False
) -> dict[str, object]:
    """Capture per scope: mean over sites, the sites' values, seconds."""
    from vpp.twin.forecast_feed import published_forecasts

    knobs = {"days": days, "resolution": "1min", "sites": n_sites, "seed": seed}
    frame = twin.generate(**knobs)
    table = published_forecasts(**knobs) if published else None
    tel = Telemetry.from_frame(frame)
    price = frame.groupby("timestamp")["price_per_mwh"].first()
    ts = pd.DatetimeIndex(price.index).asi8
    hours = ts.size // 60
    hourly = price.to_numpy()[: hours * 60].reshape(hours, 60).mean(axis=1)
    setup = fleet_from_settings(BATTERY, AgentSettings(), ["s"])
    battery = setup.fleet.units[0]
    optimum = oracle_dp(hourly, 1.0, OracleLimits.from_battery(battery)).profit
    out: dict[str, object] = {"seed": seed, "days": days, "sites": n_sites, "published": published}
    for scope in ("fleet", "site"):
        t0 = time.perf_counter()
        settings = AgentSettings(price_forecaster="fundamental", price_forecast_scope=scope)
        stage = AgentStage(
            BATTERY, settings, sites=tel.site_ids(), default_dt_s=60.0, published=table
        )
        proc = BatchProcessor.for_signals(tel.signals, model=None, agents=stage)
        dispatch = pd.concat([proc.process(b).dispatch for b in tel.batches(20_000)])
        seconds = time.perf_counter() - t0
        captures = []
        for site in tel.site_ids():
            p = held_power(dispatch, ts, site)[: hours * 60].reshape(hours, 60)
            energy_mwh = p.mean(axis=1)  # one-minute steps: the hour's mean power
            wear = battery.degradation_cost_per_mwh * float(np.abs(p).mean(axis=1).sum())
            captures.append((float(np.sum(hourly * energy_mwh)) - wear) / optimum)
        out[scope] = {
            "mean_capture": round(float(np.mean(captures)), 4),
            "captures": [round(c, 4) for c in captures],
            "seconds": round(seconds, 1),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the study's result as JSON."""
    ap = argparse.ArgumentParser(prog="python -m bench.arbitrage_fleet_scope")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", type=float, default=180.0)
    ap.add_argument("--sites", type=int, default=8)
    ap.add_argument("--published-forecasts", action="store_true")
    a = ap.parse_args(argv)
    print(json.dumps(study(a.seed, a.days, a.sites, a.published_forecasts), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
