"""``vpp backtest``: train on the first part of a series, score the rest walk-forward."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import numpy as np

from vpp.cli.common import (
    add_input_args,
    add_log_args,
    load_input,
    load_published_forecasts,
    setup_logging,
)
from vpp.cli.train_cmd import add_model_args, config_from_args, parse_quantiles

log = logging.getLogger("vpp.backtest")

#: Battery options whose presence asks for an arbitrage backtest.
_BATTERY_OPTS = ("battery_mw", "battery_mwh", "efficiency")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "backtest",
        help="backtest forecasts (and battery agents) on a telemetry file or the twin",
        description="Train a forecast model on the first part of the data in time order, "
        "forecast every later event with features streamed over the whole series, and "
        "compare with persistence and seasonal naive. With a price column, battery "
        "arbitrage is scored against perfect foresight; with frequency data, frequency "
        "response is scored in the twin's closed loop.",
    )
    add_input_args(p, twin=True)
    add_model_args(p)
    p.add_argument(
        "--train-fraction",
        type=float,
        default=0.7,
        metavar="F",
        help="share of the time range to train on (default 0.7)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (default: indented)")
    p.add_argument(
        "--no-agents", action="store_true", help="forecast only: skip the battery agents"
    )
    p.add_argument(
        "--series",
        action="store_true",
        help="add the curves `vpp report --from FILE` draws (a `series` section)",
    )
    try:
        from vpp.agents.cli_args import add_battery_args, add_price_forecaster_arg
    except ImportError:  # agents not installed in this build
        pass
    else:
        add_battery_args(p)
        add_price_forecaster_arg(p)
        # None marks "not given", so that arbitrage runs only when asked for
        # or when prices are there; the agents' own defaults fill in later.
        p.set_defaults(_battery_defaults={k: p.get_default(k) for k in _BATTERY_OPTS})
        p.set_defaults(**dict.fromkeys(_BATTERY_OPTS))
    add_log_args(p)
    p.set_defaults(func=run)


def _first_site(tel: Any, mask: Any) -> Any:
    """Events of the first site among ``mask`` (agents need one increasing series)."""
    site = sorted({str(s) for s in tel.sites[mask]})[0]
    return mask & (tel.sites == site)


def _forecaster_signals(args: argparse.Namespace, tel: Any, site: Any) -> dict[str, Any]:
    """Load, solar, wind and temperature for the price forecaster at the traded
    site's events: for the fundamental forecaster with several sites and the
    fleet scope (the live default), the fleet's totals as the live fleet
    forecaster reads them, else the site's own."""
    names = [k for k in ("load_mw", "solar_mw", "wind_mw", "temperature_c") if k in tel.signals]
    fleet = getattr(args, "price_forecast_scope", "fleet") == "fleet"
    fundamental = getattr(args, "price_forecaster", "profile") == "fundamental"
    if not (fleet and fundamental) or len(tel.site_ids()) < 2 or not names:
        return {k: tel.column(k)[site] for k in names}
    from vpp.runtime.fleet_signals import fleet_totals_at

    values = np.column_stack([tel.column(k) for k in names])
    mean = tuple(j for j, k in enumerate(names) if k == "temperature_c")
    totals = fleet_totals_at(tel.ts_ns, tel.sites, values, tel.ts_ns[site], mean)
    return {k: totals[:, j] for j, k in enumerate(names)}


def _published_feed(args: argparse.Namespace, tel: Any, site: Any) -> Any:
    """``--published-forecasts`` as the traded forecaster reads them: the
    fleet's sites summed with the fleet scope, else the traded site's."""
    table = getattr(args, "published_table", None)
    if table is None:
        return None
    from vpp.agents.published_feed import PublishedFeed

    fleet = getattr(args, "price_forecast_scope", "fleet") == "fleet"
    sites = tel.site_ids() if fleet else [str(tel.sites[site][0])]
    return PublishedFeed.from_frame(table, [str(s) for s in sites])


def agent_sections(args: argparse.Namespace, tel: Any, test: Any) -> dict[str, Any]:
    """The ``arbitrage`` (scored on the test events after the training ones) and
    ``frequency_response`` sections."""
    from vpp.errors import ParameterError

    defaults = getattr(args, "_battery_defaults", None)
    if defaults is None:
        return {}
    explicit = any(getattr(args, k) is not None for k in _BATTERY_OPTS)
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    from vpp.agents.backtest import arbitrage_backtest, frequency_response_backtest
    from vpp.agents.cli_args import battery_from_args, frequency_response_from_args
    from vpp.agents.config import FleetConfig, FrequencyResponseConfig

    out: dict[str, Any] = {}
    rows = _first_site(tel, test)
    battery = battery_from_args(args)
    fr = frequency_response_from_args(args)
    has_price = "price_per_mwh" in tel.signals
    if explicit and not has_price:
        raise ParameterError(
            "arbitrage (--battery-mw/--battery-mwh/--efficiency) needs a price column "
            f"(price_per_mwh); the data has {tel.signals}"
        )
    freq = tel.column("frequency_hz")[rows] if "frequency_hz" in tel.signals else None
    if has_price:
        # The agents live through the training events as history (their
        # forecasters warm up there) and are scored on the test events.
        site = tel.sites == tel.sites[rows][0]
        out["arbitrage"] = arbitrage_backtest(
            tel.ts_ns[site],
            tel.column("price_per_mwh")[site],
            battery,
            n_units=args.battery_units,
            frequency_hz=tel.column("frequency_hz")[site] if freq is not None else None,
            frequency_response=fr if fr.contracted_mw > 0 else None,
            forecaster=getattr(args, "price_forecaster", "profile"),
            signals=_forecaster_signals(args, tel, site),
            score_from_ns=int(tel.ts_ns[rows][0]),
            feed=_published_feed(args, tel, site),
        )
    if freq is not None or getattr(args, "twin", False):
        # Without --fr-mw the whole fleet's power is contracted for this test.
        contract = (
            fr
            if fr.contracted_mw > 0
            else FrequencyResponseConfig(
                contracted_mw=battery.max_discharge_mw * args.battery_units
            )
        )
        fleet = FleetConfig(units=(battery,) * args.battery_units)
        out["frequency_response"] = frequency_response_backtest(
            fleet,
            contract,
            ts_ns=tel.ts_ns[rows] if freq is not None else None,
            frequency_hz=freq,
        )
    return out


def report_series(args: argparse.Namespace, tel: Any, result: Any, doc: dict[str, Any]) -> Any:
    """The ``series`` section (see :mod:`vpp.report.series`) for the sections in ``doc``."""
    from vpp.report.backtest_series import backtest_series

    f = result.summary["forecast"]
    battery = fr = None
    if "arbitrage" in doc or "frequency_response" in doc:
        from vpp.agents.cli_args import battery_from_args, frequency_response_from_args

        battery = battery_from_args(args)
        fr = frequency_response_from_args(args)
    return backtest_series(
        tel,
        result.levels,
        result.test,
        f["target"],
        f["horizon_steps"],
        f["quantiles"],
        battery=battery,
        n_units=getattr(args, "battery_units", 1),
        frequency_response=fr if fr is not None and fr.contracted_mw > 0 else None,
        frequency_event="frequency_response" in doc,
        forecaster=getattr(args, "price_forecaster", "profile"),
    )


def run(args: argparse.Namespace) -> int:
    import orjson

    from vpp.model import backtest

    setup_logging(args)
    tel = load_input(args)
    # Read before training, so that a bad feed is named at once.
    args.published_table = load_published_forecasts(getattr(args, "published_forecasts", ""), args)
    result = backtest(
        tel,
        target=args.target,
        horizon_steps=args.horizon,
        train_fraction=args.train_fraction,
        quantiles=parse_quantiles(args.quantiles),
        config=config_from_args(args),  # type: ignore[arg-type]
    )
    doc = dict(result.summary)
    if not args.no_agents:
        doc.update(agent_sections(args, tel, result.test))
    if args.series:
        doc["series"] = report_series(args, tel, result, doc)
    opts = orjson.OPT_SERIALIZE_NUMPY | (0 if args.json else orjson.OPT_INDENT_2)
    sys.stdout.write(orjson.dumps(doc, option=opts).decode() + "\n")
    return 0
