"""What published weather forecasts are worth to the trader, and how much
their accuracy matters.

Run ``python -m bench.arbitrage_feed [--seeds 1 2 3 4] [--days 365]`` (about
20 s per year and setting). For each seed it prints the capture ratio of the
year report (``python -m vpp.agents.report --price-forecaster fundamental``,
cold start) without published forecasts and with the twin's day-ahead wind
and solar forecasts (:mod:`vpp.twin.forecast_feed`) at 0, 1, 2 and 3 times
the published error (1 = the calibrated default: about 4.5% of wind and
2.9% of PV capacity RMS; 0 = the weather exactly, load and price noise still
unknown).

With ``--timing H1 H2 ...`` it adds runs with the published error plus a
timing error of that many hours (standard deviation; the forecast shows the
weather of a shifted time, as a front forecast early or late), and reports
each feed's hourly wind RMSE (% of capacity) beside its capture.

This is a study, not a test: the published figures it would be judged by
are in the README.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from vpp.agents.report import year_report
from vpp.twin.params import FeedParams

SCALES = (0.0, 1.0, 2.0, 3.0)


def wind_rmse_pct(seed: int, days: float, feed: FeedParams) -> float:
    """Hourly RMSE of the feed's wind, % of wind capacity (one-site twin)."""
    import numpy as np

    from vpp.twin import TwinConfig, generate, published_forecasts
    from vpp.twin.engine import TwinEngine

    kw = {"days": days, "resolution": "1min", "sites": 1, "seed": seed}
    df = generate(**kw)
    truth = df.groupby(df["timestamp"].dt.floor("1h"))["wind_mw"].mean()
    fc = published_forecasts(params=feed, **kw).set_index("valid_at")["wind_mw"]
    err = fc.loc[truth.index].to_numpy() - truth.to_numpy()
    capacity_mw = float(TwinEngine(TwinConfig(**kw)).wind_cap_mw[0])
    return round(100.0 * float(np.sqrt(np.mean(err**2))) / capacity_mw, 1)


def study(seed: int, days: float, timing_h: tuple[float, ...] = ()) -> dict[str, float]:
    """Capture ratios (%) without a feed, with each error scale and with
    each timing error on top of the published one."""

    def capture(feed: FeedParams | None) -> float:
        report = year_report(days, seed, "fundamental", 0.0, feed)
        return round(100.0 * report["arbitrage"]["capture_ratio"], 1)  # type: ignore[index]

    base = FeedParams()
    out: dict[str, float] = {}
    for h in timing_h:
        timed = replace(base, timing_error_std_h=h)
        out[f"feed, published error + {h:g} h timing"] = capture(timed)
        out[f"wind RMSE % of capacity, {h:g} h timing"] = wind_rmse_pct(seed, days, timed)
    if timing_h:
        return out
    out["no feed"] = capture(None)
    for k in SCALES:
        scaled = replace(
            base,
            wind_error_std=k * base.wind_error_std,
            solar_error_std=k * base.solar_error_std,
        )
        out[f"feed, {k:g}x published error"] = capture(scaled)
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the study as JSON, one object per seed."""
    ap = argparse.ArgumentParser(prog="python -m bench.arbitrage_feed")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--timing", type=float, nargs="+", default=[], metavar="H")
    a = ap.parse_args(argv)
    for seed in a.seeds:
        print(json.dumps({"seed": seed, **study(seed, a.days, tuple(a.timing))}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
