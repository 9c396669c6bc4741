"""``vpp produce``: publish telemetry to Kafka, one JSON message per event.

Reads a file (``--input``) or generates events with the twin (``--twin``) and
sends them to ``--topic`` keyed by site id, at ``--rate`` events per second or
as fast as possible (``--rate max``). Exits once Kafka has acknowledged every
message. See :mod:`vpp.stream.messages` for the message format.
"""

from __future__ import annotations

import argparse
import logging

from vpp.cli.common import add_input_args, add_log_args, progress, setup_logging

log = logging.getLogger("vpp.produce")


def _rate(text: str) -> float | None:
    if text.lower() == "max":
        return None
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--rate must be a number or 'max', got {text!r}"
        ) from None
    if rate <= 0:
        raise argparse.ArgumentTypeError(f"--rate must be positive, got {text!r}")
    return rate


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "produce",
        help="publish telemetry events to a Kafka topic (one JSON message per event)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_args(p, twin=True)
    p.add_argument("--brokers", required=True, metavar="HOST:PORT", help="Kafka bootstrap servers")
    p.add_argument("--topic", default="grid.telemetry", help="topic (default: grid.telemetry)")
    p.add_argument(
        "--rate",
        type=_rate,
        default=None,
        metavar="N|max",
        help="events per second, or max (default: max)",
    )
    add_log_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import orjson

    from vpp.cli.common import load_input
    from vpp.stream.producer import produce_telemetry

    setup_logging(args)
    tel = load_input(args)
    with progress(len(tel), "produce", args) as bar:
        result = produce_telemetry(
            tel, args.brokers, args.topic, rate_per_s=args.rate, on_progress=bar.update
        )
    summary = {
        "events": result.events,
        "topic": args.topic,
        "sites": tel.site_ids(),
        "seconds": round(result.seconds, 3),
        "events_per_s": round(result.events_per_s),
    }
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0
