"""``vpp config``: show the effective settings and where each came from.

Reads ``--config FILE`` (or ``$VPP_CONFIG``) and the ``VPP_<SECTION>_<KEY>``
environment, validates everything, and prints one line per key:
``key = value  # source``. Secrets print as ``****``. Exit status 2 and one
line per problem when a setting is invalid, so ``vpp config`` doubles as a
check before deploying a file.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "config",
        help="check a vpp.toml and show the effective settings with their sources",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE", help="settings file (TOML; default: $VPP_CONFIG)")
    p.add_argument("--json", action="store_true", help="print the settings as one JSON object")
    p.add_argument(
        "--example", action="store_true", help="print a documented vpp.toml with every key"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vpp.config import example_toml, load_config
    from vpp.config.loader import format_value

    if args.example:
        print(example_toml(), end="")
        return 0
    cfg = load_config(args.config)
    doc = cfg.to_dict()
    if args.json:
        import orjson

        sources = {k: cfg.source(k) for k in (f"{s}.{n}" for s in doc for n in doc[s])}
        print(
            orjson.dumps({"settings": doc, "sources": sources}, option=orjson.OPT_INDENT_2).decode()
        )
        return 0
    for section, values in doc.items():
        print(f"[{section}]")
        for name, value in values.items():
            key = f"{section}.{name}"
            shown = "(unset)" if value is None else format_value(value)
            print(f"{name} = {shown}  # {cfg.source(key)}")
        print()
    return 0
