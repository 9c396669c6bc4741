"""``vpp report``: PNG figures and one HTML page that explain a backtest or a run.

Sources (``--from``, may be repeated; earlier ones win where both have data):

* a backtest JSON (``vpp backtest ... --json > bt.json``): the summary table
  and, if it has a ``series`` section, every figure;
* a store (``vpp run`` / ``vpp consume`` write one): forecasts against the
  telemetry, SoC and dispatch per unit, measured frequency, and the trading
  profit of the dispatch against the perfect-foresight optimum for the
  configured battery (``[battery]`` in vpp.toml or VPP_BATTERY_*).

A figure whose data is absent is skipped and the page says why. Prints a JSON
object naming the files written.
"""

from __future__ import annotations

import argparse

from vpp.cli.common import add_log_args, setup_logging
from vpp.config import add_config_arg, apply_config


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "report",
        help="PNG plots and an HTML page from a store or a backtest JSON",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--from",
        dest="sources",
        metavar="STORE|BACKTEST.json",
        action="append",
        required=True,
        help="a store URL/path or a backtest JSON file; may be repeated",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder for index.html and PNGs")
    p.add_argument("--site", help="site to show from a store (default: its first site)")
    p.add_argument("--title", default="vpp report", help="page title")
    add_log_args(p)
    add_config_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    import orjson

    from vpp.report import load_sources, write_report

    cfg = apply_config(args)
    setup_logging(args)
    data = load_sources(args.sources, site=args.site, config=cfg)
    result = write_report(data, args.out, title=args.title)
    log = logging.getLogger("vpp.report")
    for name, why in result.skipped.items():
        log.info("skipped %s plot: %s", name, why)
    doc = {
        "html": str(result.html),
        "images": {k: str(v) for k, v in result.images.items()},
        "skipped": result.skipped,
    }
    print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    return 0
