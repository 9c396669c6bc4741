"""Write an example report (the README's pictures) from a backtest on twin data.

    .venv/bin/python scripts/report_example.py --out docs/img/report

Runs a real backtest (forecast, arbitrage, frequency response) on a week of
the grid twin, saves the backtest JSON with its series next to the report,
and renders the report with ``vpp report``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from vpp.cli.main import main as vpp_main
from vpp.report.backtest_series import twin_backtest_document


def run(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/img/report", help="report folder")
    p.add_argument("--days", type=float, default=7.0, help="twin days (default 7)")
    p.add_argument("--resolution", default="15min", help="twin step (default 15min)")
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = twin_backtest_document(args.days, args.resolution, args.seed)
    path = out / "backtest.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY))
    return vpp_main(
        [
            "report",
            "--from",
            str(path),
            "--out",
            str(out),
            "--title",
            "vpp backtest: a week of the twin",
        ]
    )


if __name__ == "__main__":
    sys.exit(run())
