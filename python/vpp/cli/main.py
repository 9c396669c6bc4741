"""Entry point of the ``vpp`` console script.

Each subcommand lives in its own module under ``vpp.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func``. Modules
import their heavy dependencies inside ``func`` so that ``vpp --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Subcommand modules, in the order ``vpp --help`` lists them.
COMMAND_MODULES = (
    "vpp.cli.run_cmd",
    "vpp.cli.features_cmd",
    "vpp.cli.twin_cmd",
    "vpp.cli.mcp_cmd",
    "vpp.cli.produce_cmd",
    "vpp.cli.consume_cmd",
    "vpp.cli.config_cmd",
    "vpp.cli.report_cmd",
    "vpp.cli.train_cmd",
    "vpp.cli.compile_cmd",
    "vpp.cli.backtest_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="vpp",
        description="vpp: a real-time Virtual Power Plant engine (features, forecasts, "
        "battery dispatch).",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _version() -> str:
    from vpp import __version__

    return f"vpp {__version__}"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from vpp.errors import ModelError, VppError

    try:
        rc = args.func(args)
    except (VppError, ModelError, ValueError, FileNotFoundError) as exc:
        print(f"vpp {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
