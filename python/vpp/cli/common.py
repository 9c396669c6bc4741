"""Options and helpers shared by the ``vpp`` subcommands.

Every command that reads telemetry uses :func:`add_input_args` and
:func:`load_input`, so ``--input``, ``--columns``, ``--units`` (and ``--twin``
where it applies) behave the same everywhere. Logging and progress bars go to
stderr, so stdout stays clean for data and for the MCP stdio transport.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm

    from vpp.io import Telemetry

__all__ = [
    "add_input_args",
    "add_log_args",
    "add_store_arg",
    "load_input",
    "progress",
    "setup_logging",
]

log = logging.getLogger("vpp.cli")

_COLUMNS_HELP = (
    "map canonical names to your file's columns, e.g. "
    'load_mw="Electricity Load",solar_mw="Solar PV Output (kW)"; '
    "unmapped canonical names are matched as-is (any case); may be repeated"
)


def add_input_args(
    parser: argparse.ArgumentParser, twin: bool = False, required: bool = True
) -> None:
    """Add ``--input``, ``--columns``, ``--units`` and, if ``twin``, ``--twin`` and its knobs.

    Args:
        parser: the subcommand's parser.
        twin: offer ``--twin`` (generate telemetry with :mod:`vpp.twin`) as an
            alternative to ``--input``, with ``--days``, ``--resolution``,
            ``--sites`` and ``--seed``.
        required: one of ``--input``/``--twin`` must be given. Commands with a
            default input (``vpp run``) pass ``False``.
    """
    group = parser.add_argument_group("input")
    source = group.add_mutually_exclusive_group(required=required)
    source.add_argument(
        "--input",
        "-i",
        metavar="FILE",
        help="telemetry file, .csv or .parquet (timestamp column: ISO 8601, naive = UTC, "
        "or epoch s/ms/us/ns detected by magnitude)",
    )
    group.add_argument(
        "--columns", metavar="CANONICAL=SOURCE,...", action="append", help=_COLUMNS_HELP
    )
    group.add_argument(
        "--units",
        default="MW",
        metavar="MW|kW",
        help="unit of the file's power columns; kW divides power by 1000 and "
        "multiplies per-kWh prices by 1000 (default: MW)",
    )
    if twin:
        source.add_argument(
            "--twin", action="store_true", help="generate telemetry with the grid digital twin"
        )
        knobs = parser.add_argument_group("twin (with --twin)")
        knobs.add_argument("--days", type=float, help="days to simulate")
        knobs.add_argument(
            "--resolution",
            metavar="STEP",
            help="output step, e.g. 1s, 1min, 15min, 1h, or seconds",
        )
        knobs.add_argument("--sites", type=int, metavar="N", help="number of sites")
        knobs.add_argument("--seed", type=int, help="random seed (same seed, same data)")


def twin_knobs(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`vpp.twin.generate` keywords that ``--twin``'s knobs give."""
    knobs: dict[str, Any] = {}
    for name in ("days", "resolution", "sites", "seed"):
        value = getattr(args, name, None)
        if value is not None:
            knobs[name] = value
    res = knobs.get("resolution")
    if isinstance(res, str) and res.replace(".", "", 1).isdigit():
        knobs["resolution"] = float(res)  # a bare number is seconds
    return knobs


def load_published_forecasts(value: str, args: argparse.Namespace) -> Any:
    """The published-forecast table ``value`` (``agents.published_forecasts``)
    names: None for "", the twin's own for the same run for "twin" (needs
    ``--twin``), else the file's (:func:`vpp.agents.published_feed.read_feed`).

    Raises:
        vpp.errors.ParameterError: "twin" without ``--twin``.
        vpp.errors.InputFormatError: An unreadable or malformed file.
    """
    from vpp.errors import ParameterError

    if not value:
        return None
    if value != "twin":
        from vpp.agents.published_feed import read_feed

        return read_feed(value)
    if not getattr(args, "twin", False):
        raise ParameterError(
            "invalid parameter: published_forecasts: 'twin' reads the twin's own forecasts, "
            "so it needs --twin input"
        )
    from vpp.twin.forecast_feed import published_forecasts

    return published_forecasts(**twin_knobs(args))


def load_input(args: argparse.Namespace, allow_sample: bool = False) -> Telemetry:
    """Return the telemetry that the options of :func:`add_input_args` select.

    Args:
        args: parsed arguments.
        allow_sample: with neither ``--input`` nor ``--twin``, read the sample
            file shipped with vpp instead of raising.

    Raises:
        vpp.errors.InputFormatError: bad ``--columns``/``--units`` or an
            unreadable file (see :func:`vpp.io.read_telemetry`).
        vpp.errors.ParameterError: no input given, or file options used with ``--twin``.
    """
    from vpp.errors import ParameterError
    from vpp.io import Telemetry, parse_columns_option, read_telemetry, sample_telemetry_path

    mapping: dict[str, str] = {}
    for text in getattr(args, "columns", None) or []:
        for key, source in parse_columns_option(text).items():
            if key in mapping and mapping[key] != source:
                raise ParameterError(f"--columns maps {key} twice ({mapping[key]!r}, {source!r})")
            mapping[key] = source
    units = getattr(args, "units", "MW")

    if getattr(args, "twin", False):
        if mapping or str(units).lower() != "mw":
            raise ParameterError("--columns and --units apply to --input files, not to --twin")
        from vpp import twin as twin_mod

        knobs = twin_knobs(args)
        t0 = time.perf_counter()
        frame = twin_mod.generate(**knobs)
        tel = Telemetry.from_frame(frame)
        log.info("twin: %d events from %s in %.2f s", len(tel), knobs, time.perf_counter() - t0)
        return tel

    path = getattr(args, "input", None)
    if path is None:
        if not allow_sample:
            raise ParameterError(
                "no input: give --input FILE" + (" or --twin" if hasattr(args, "twin") else "")
            )
        path = sample_telemetry_path()
        log.info("no --input given: using the bundled sample %s", path)
    t0 = time.perf_counter()
    tel = read_telemetry(path, columns=mapping, units=units)
    log.info("read %d events from %s in %.2f s", len(tel), path, time.perf_counter() - t0)
    return tel


def add_store_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--store URL``; pass ``args.store`` to :func:`vpp.io.open_store`.

    The default (``None``) is ``$VPP_STORE`` if set, else ``./vpp-data/store.sqlite``.
    """
    parser.add_argument(
        "--store",
        metavar="URL",
        default=None,
        help="store: a SQLite path or sqlite:///PATH (default: $VPP_STORE or "
        "./vpp-data/store.sqlite), or influx://... when the streaming extra is set up",
    )


def add_log_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--quiet`` and ``--log-format text|json``."""
    group = parser.add_argument_group("output")
    group.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bars; warnings and errors only"
    )
    group.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines on stderr as text or as one JSON object per line",
    )


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg (and exc if any)."""

    def format(self, record: logging.LogRecord) -> str:
        import orjson

        doc: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def setup_logging(args: argparse.Namespace) -> None:
    """Configure the ``vpp`` loggers on stderr from ``--quiet`` and ``--log-format``."""
    quiet = bool(getattr(args, "quiet", False))
    fmt = getattr(args, "log_format", "text")
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s",
                datefmt="%Y-%m-%dT%H:%M:%S",
            )
        )
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    root = logging.getLogger("vpp")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False


def progress(
    iterable_or_total: Iterable[Any] | int, desc: str, args: argparse.Namespace | None = None
) -> tqdm[Any]:
    """Return a tqdm progress bar on stderr.

    Pass an iterable to wrap it, or a total to drive the bar with ``.update(n)``.
    The bar is silent with ``--quiet`` and when stderr is not a terminal (so
    logs and CI output stay clean). Use it as a context manager.
    """
    from tqdm import tqdm

    disable: bool | None = True if getattr(args, "quiet", False) else None
    if isinstance(iterable_or_total, int):
        return tqdm(total=iterable_or_total, desc=desc, file=sys.stderr, disable=disable)
    return tqdm(iterable_or_total, desc=desc, file=sys.stderr, disable=disable)
