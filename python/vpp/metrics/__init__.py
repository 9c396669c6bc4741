"""Live Prometheus metrics of ``vpp consume`` and ``vpp mcp``.

Start the endpoint with ``--metrics-port PORT`` (bound to 127.0.0.1 unless
``--metrics-host`` says otherwise) and scrape ``http://HOST:PORT/metrics``.

Metrics (all prefixed ``vpp_``):

* ``vpp_events_in_total{source}``: messages received (``kafka``), good or bad;
* ``vpp_events_out_total{kind}``: records produced (``forecast``, ``dispatch``,
  ``soc``, ``store_point``);
* ``vpp_dlq_total{reason}``: messages sent to the dead-letter topic, by the
  reason's first words;
* ``vpp_stage_latency_seconds{stage}``: time per batch in each stage
  (``batch``, ``pipeline``, ``store_write``, ``produce_flush``, ``commit``) and
  per MCP tool call (``mcp:<tool>``);
* ``vpp_consumer_lag{topic,partition}``: messages between the consumer's
  position and the partition's end;
* ``vpp_forecast_abs_error{target}`` (histogram, sampled) and
  ``vpp_forecast_mae{target}`` (last batch): the forecasts' error once the
  event they forecast has arrived;
* ``vpp_fleet_soc_frac{site}``, ``vpp_fleet_energy_mwh{site}``: mean state of
  charge and stored energy of the batteries at each site;
* ``vpp_last_event_timestamp_seconds``: event time of the newest event seen
  (``time() - vpp_last_event_timestamp_seconds`` is the data's age);
* ``vpp_mcp_tool_calls_total{tool,outcome}``: MCP tool calls, ``ok`` or ``error``.

Label values stay few: sites, targets, stages, topics and partitions, and
reason kinds (not full reason texts).

This module stays light (``vpp --help`` does not import prometheus-client);
the metric objects live in :mod:`vpp.metrics.core` and are loaded on first use.
A command wires metrics in with::

    add_metrics_args(parser)                  # in register()
    server = start_from_args(args)            # in run(); None without --metrics-port
    if server is not None:
        instrument_consumer(service)          # or instrument_mcp(mcp)
"""

from __future__ import annotations

import argparse
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vpp.metrics.core import MetricsServer

__all__ = [
    "DLQ",
    "EVENTS_IN",
    "EVENTS_OUT",
    "FLEET_ENERGY",
    "FLEET_SOC",
    "FORECAST_ABS_ERROR",
    "FORECAST_MAE",
    "LAG",
    "LAST_EVENT",
    "STAGE_LATENCY",
    "TOOL_CALLS",
    "ForecastErrorTracker",
    "MeteredProcessor",
    "MetricsServer",
    "add_metrics_args",
    "instrument_consumer",
    "instrument_mcp",
    "observe_output",
    "start_from_args",
    "start_metrics_server",
    "time_stage",
]


def add_metrics_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--metrics-port PORT`` and ``--metrics-host ADDR`` to a command."""
    g = parser.add_argument_group("metrics")
    g.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on http://ADDR:PORT/metrics (default: off; 0: any port)",
    )
    g.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="ADDR",
        help="bind address of the metrics endpoint (default: 127.0.0.1)",
    )


def start_from_args(args: argparse.Namespace) -> MetricsServer | None:
    """Start the endpoint if ``--metrics-port`` was given; None otherwise.

    Raises:
        vpp.errors.ParameterError: a port outside 0..65535.
        OSError: the port is taken.
    """
    port = getattr(args, "metrics_port", None)
    if port is None:
        return None
    if not 0 <= int(port) <= 65535:
        from vpp.errors import ParameterError

        raise ParameterError(f"--metrics-port must be in 0..65535, got {port}")
    from vpp.metrics.core import start_metrics_server

    return start_metrics_server(int(port), getattr(args, "metrics_host", None) or "127.0.0.1")


def __getattr__(name: str) -> Any:
    # Metric objects and helpers load prometheus-client only when first used.
    if name in __all__:
        return getattr(importlib.import_module("vpp.metrics.core"), name)
    raise AttributeError(f"module 'vpp.metrics' has no attribute {name!r}")
