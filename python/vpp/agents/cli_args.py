"""Command-line options of the agents, for ``vpp backtest`` and ``vpp run``.

``add_battery_args(parser)`` adds ``--battery-mw``, ``--battery-mwh``,
``--efficiency`` (round trip, split evenly between charge and discharge),
``--degradation-cost``, ``--battery-units`` (fleet size; ``--units`` already
means the input's units) and ``--fr-mw`` (contracted frequency response).
``battery_from_args(args)`` and ``frequency_response_from_args(args)`` turn
them into configs. ``add_price_forecaster_arg(parser)`` adds
``--price-forecaster {profile,ml}`` (the trader's price forecaster in
``vpp backtest``); ``add_published_forecasts_arg(parser)`` adds
``--published-forecasts FILE|twin``.
"""

from __future__ import annotations

import argparse

from vpp.agents.config import BatteryConfig, FrequencyResponseConfig

__all__ = [
    "add_battery_args",
    "add_live_price_forecaster_arg",
    "add_price_forecaster_arg",
    "add_published_forecasts_arg",
    "battery_from_args",
    "frequency_response_from_args",
]


def add_battery_args(parser: argparse.ArgumentParser) -> None:
    """Add the battery and frequency-response options to ``parser``."""
    g = parser.add_argument_group("battery agents")
    g.add_argument(
        "--battery-mw",
        type=float,
        default=1.0,
        metavar="P",
        help="charge and discharge power of one battery, MW (default 1)",
    )
    g.add_argument(
        "--battery-mwh",
        type=float,
        default=2.0,
        metavar="E",
        help="energy capacity of one battery, MWh (default 2)",
    )
    g.add_argument(
        "--efficiency",
        type=float,
        default=0.9025,
        metavar="ETA",
        help="round-trip efficiency, split evenly: each way sqrt(ETA) (default 0.9025)",
    )
    g.add_argument(
        "--degradation-cost",
        type=float,
        default=BatteryConfig.degradation_cost_per_mwh,
        metavar="EUR_PER_MWH",
        help="wear cost per MWh of throughput (default 5)",
    )
    g.add_argument(
        "--battery-units",
        type=int,
        default=1,
        metavar="N",
        help="number of identical batteries (default 1)",
    )
    g.add_argument(
        "--fr-mw",
        type=float,
        default=0.0,
        metavar="MW",
        help="frequency response contracted from the fleet, MW (default 0: none)",
    )


def add_price_forecaster_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--price-forecaster`` (see :data:`vpp.agents.backtest.FORECASTERS`)."""
    parser.add_argument(
        "--price-forecaster",
        choices=("profile", "ml", "fundamental"),
        default="profile",
        help="the trader's price forecaster: the built-in 14-day profile (default), "
        "walk-forward XGBoost on price, load, solar, wind and temperature (ml), or load, "
        "solar and wind through a learnt merit order over the wind's uncertainty "
        "(fundamental; needs load_mw, solar_mw and wind_mw)",
    )
    add_price_forecast_scope_arg(parser)
    add_published_forecasts_arg(parser)


def add_live_price_forecaster_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--price-forecaster`` and ``--price-forecast-scope`` for the live trader
    (``agents.price_forecaster``, ``agents.price_forecast_scope``)."""
    parser.add_argument(
        "--price-forecaster",
        choices=("profile", "fundamental"),
        default="profile",
        help="the trader's price forecaster: the built-in 14-day profile (default) or load, "
        "solar and wind through a learnt merit order (fundamental; needs load_mw, solar_mw, "
        "wind_mw and price_per_mwh, and trades on it after 7 days of history)",
    )
    add_price_forecast_scope_arg(parser)
    add_published_forecasts_arg(parser)


def add_price_forecast_scope_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--price-forecast-scope`` (``agents.price_forecast_scope``)."""
    parser.add_argument(
        "--price-forecast-scope",
        choices=("fleet", "site"),
        default="fleet",
        help="with --price-forecaster fundamental: one forecaster on the fleet's summed load, "
        "solar and wind for every site's trader (fleet, default) or one per site (site)",
    )


def add_published_forecasts_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--published-forecasts FILE|twin`` (``agents.published_forecasts``)."""
    parser.add_argument(
        "--published-forecasts",
        default="",
        metavar="FILE|twin",
        help="with --price-forecaster fundamental: day-ahead wind and solar forecasts to read "
        "by issue time, a .csv/.parquet file as `vpp twin --forecasts-out` writes, or twin "
        "(with --twin: the twin's own for the same run)",
    )


def battery_from_args(args: argparse.Namespace) -> BatteryConfig:
    """The battery described by the options (raises ParameterError if bad)."""
    return BatteryConfig.from_round_trip(
        args.battery_mw,
        args.battery_mwh,
        args.efficiency,
        degradation_cost_per_mwh=args.degradation_cost,
    )


def frequency_response_from_args(args: argparse.Namespace) -> FrequencyResponseConfig:
    """The frequency-response contract described by the options."""
    return FrequencyResponseConfig(contracted_mw=args.fr_mw)
