"""``vpp twin``: simulate the grid digital twin and write its telemetry."""

from __future__ import annotations

import argparse
import logging
import math
import time

from vpp.cli.common import add_log_args, progress, setup_logging

log = logging.getLogger("vpp.twin")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "twin",
        help="simulate the grid digital twin (load, PV, wind, price, frequency)",
        description="Simulate a balancing area with the physics-based digital twin and write "
        "its telemetry (timestamp, site, load_mw, solar_mw, wind_mw, frequency_hz, "
        "price_per_mwh, temperature_c), one row per site per step.",
    )
    p.add_argument("--days", type=float, default=7.0, help="days to simulate (default 7)")
    p.add_argument(
        "--resolution",
        default="1min",
        metavar="STEP",
        help="output step from 1s to 1h dividing a day, e.g. 1s, 1min, 15min, 1h, or seconds "
        "(default 1min)",
    )
    p.add_argument("--sites", type=int, default=1, metavar="N", help="number of sites (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same data")
    p.add_argument("--start", default="2025-01-01", help="first timestamp, ISO 8601 (UTC)")
    p.add_argument("--latitude", type=float, help="centre latitude, degrees north (default 51.5)")
    p.add_argument("--longitude", type=float, help="centre longitude, degrees east (default -0.1)")
    p.add_argument(
        "--trip-mw",
        type=float,
        action="append",
        metavar="MW",
        help="generation lost in a contingency (MW); pair each with --trip-at; may be repeated",
    )
    p.add_argument(
        "--trip-at",
        action="append",
        metavar="TIME",
        help="time of the trip: ISO 8601 (UTC) or seconds after --start",
    )
    p.add_argument("--out", "-o", required=True, help="output file, .csv or .parquet")
    p.add_argument(
        "--forecasts-out",
        metavar="FILE",
        help="also write the day-ahead wind and solar forecasts published for this run "
        "(issued_at, valid_at, site, wind_mw, solar_mw; .csv or .parquet), for "
        "--published-forecasts",
    )
    add_log_args(p)
    p.set_defaults(func=run)


def _trips(args: argparse.Namespace) -> list[tuple[object, float]]:
    from vpp.errors import ParameterError

    mws = args.trip_mw or []
    ats = args.trip_at or []
    if len(mws) != len(ats):
        raise ParameterError(
            f"give one --trip-at per --trip-mw (got {len(mws)} --trip-mw, {len(ats)} --trip-at)"
        )
    trips: list[tuple[object, float]] = []
    for at, mw in zip(ats, mws, strict=True):
        try:
            when: object = float(at)  # seconds after start
        except ValueError:
            when = at
        trips.append((when, mw))
    return trips


def run(args: argparse.Namespace) -> int:
    from vpp.twin import TwinConfig, simulate

    setup_logging(args)
    out = str(args.out)
    for flag, path in (("--out", out), ("--forecasts-out", args.forecasts_out)):
        if path is not None and not str(path).endswith((".parquet", ".csv")):
            raise ValueError(f"{flag} must end in .csv or .parquet, got {path!r}")
    resolution: str | float = args.resolution
    if isinstance(resolution, str) and resolution.replace(".", "", 1).isdigit():
        resolution = float(resolution)  # a bare number is seconds
    extra = {k: getattr(args, k) for k in ("latitude", "longitude") if getattr(args, k) is not None}
    cfg = TwinConfig(
        start=args.start,
        days=args.days,
        resolution=resolution,
        sites=args.sites,
        seed=args.seed,
        trips=_trips(args),
        keep_trace=False,
        **extra,
    )
    t0 = time.perf_counter()
    with progress(math.ceil(args.days), "twin (days)", args) as bar:
        result = simulate(cfg, progress=bar.update)
    frame = result.frame
    t1 = time.perf_counter()
    _write(frame, out)
    if args.forecasts_out is not None:
        from vpp.twin.forecast_feed import published_forecasts

        _write(published_forecasts(cfg), str(args.forecasts_out))
    log.info(
        "twin: %d rows (%d sites) in %.2f s, written to %s in %.2f s",
        len(frame),
        frame["site"].nunique(),
        t1 - t0,
        out,
        time.perf_counter() - t1,
    )
    return 0


def _write(frame: object, path: str) -> None:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    if path.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
