"""``vpp run``: the main job on the embedded default.

With no input it simulates a week of the grid twin; otherwise it reads the
given file. Events stream through the in-process pipeline (features, then
forecasts and battery agents) and every record lands in the embedded SQLite
store, which ``vpp mcp`` and ``vpp report`` read. The fleet is
battery.units_per_site units at every site of the data (vpp.toml [battery],
[agents], or the battery options below); the summary reports its dispatch,
throughput and, with contracted frequency response, compliance.
"""

from __future__ import annotations

import argparse
import logging

from vpp.cli.common import add_input_args, add_log_args, setup_logging
from vpp.config import add_config_arg, apply_config

log = logging.getLogger("vpp.run")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run",
        help="run the pipeline on the embedded default (twin + SQLite), no servers needed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_args(p, twin=True, required=False)
    from vpp.agents.cli_args import add_battery_args, add_live_price_forecaster_arg

    add_battery_args(p)  # flags of battery.* / agents.contracted_mw
    add_live_price_forecaster_arg(p)  # agents.price_forecaster
    p.add_argument(
        "--store",
        metavar="URL",
        help="where records go: a SQLite path or sqlite:///PATH (default: $VPP_STORE or "
        "./vpp-data/store.sqlite)",
    )
    p.add_argument(
        "--batch-events",
        type=int,
        default=4096,
        metavar="N",
        help="events per in-process stream batch (default: 4096)",
    )
    add_log_args(p)
    add_config_arg(p)  # last: it fills the options above from vpp.toml / VPP_*
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vpp.runtime.embedded import run_embedded

    cfg = apply_config(args)
    setup_logging(args)
    if args.input is None and not args.twin:
        args.twin = True
    summary = run_embedded(args, cfg)
    import orjson

    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0
