"""The metric objects and the instrumentation of the consumer and the MCP server.

Imported lazily by :mod:`vpp.metrics` (prometheus-client is an optional extra).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

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
    "instrument_consumer",
    "instrument_mcp",
    "observe_output",
    "start_metrics_server",
    "time_stage",
]

log = logging.getLogger("vpp.metrics")

#: Latency buckets from 10 µs to 10 s: single MCP calls to large batches.
LATENCY_BUCKETS_S = (
    1e-5,
    5e-5,
    1e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

EVENTS_IN = Counter("vpp_events_in", "Messages or events received", ["source"])
EVENTS_OUT = Counter("vpp_events_out", "Records produced", ["kind"])
DLQ = Counter("vpp_dlq", "Messages sent to the dead-letter topic", ["reason"])
STAGE_LATENCY = Histogram(
    "vpp_stage_latency_seconds",
    "Time per batch (or call) in a stage",
    ["stage"],
    buckets=LATENCY_BUCKETS_S,
)
LAG = Gauge("vpp_consumer_lag", "Messages behind the partition end", ["topic", "partition"])
FORECAST_ABS_ERROR = Histogram(
    "vpp_forecast_abs_error",
    "Absolute forecast error, in the target's unit (sampled)",
    ["target"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
FORECAST_MAE = Gauge(
    "vpp_forecast_mae", "Mean absolute forecast error of the last batch", ["target"]
)
FLEET_SOC = Gauge("vpp_fleet_soc_frac", "Mean state of charge of a site's batteries", ["site"])
FLEET_ENERGY = Gauge("vpp_fleet_energy_mwh", "Energy stored in a site's batteries", ["site"])
LAST_EVENT = Gauge("vpp_last_event_timestamp_seconds", "Event time of the newest event seen")
TOOL_CALLS = Counter("vpp_mcp_tool_calls", "MCP tool calls", ["tool", "outcome"])
CHECKPOINT_BYTES = Counter(
    "vpp_checkpoint_bytes", "Bytes of partition state written to the consumer's state topic"
)

#: Forecast errors put into the histogram per batch (the MAE gauge uses all).
ERROR_SAMPLES_PER_BATCH = 256
#: Least time between two consumer-lag queries to the broker, s.
LAG_INTERVAL_S = 1.0


@dataclass
class MetricsServer:
    """A running ``/metrics`` endpoint.

    Attributes:
        host: bound address.
        port: bound port (the real one when 0 was asked for).
    """

    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """The scrape URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(
    port: int, host: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY
) -> MetricsServer:
    """Serve the metrics on ``http://host:port/metrics`` from a daemon thread.

    Args:
        port: TCP port; 0 picks a free one (see :attr:`MetricsServer.port`).
        host: bind address; the default keeps it on this machine.
        registry: the registry to expose (default: the process-wide one,
            which also carries the process and Python collectors).

    Raises:
        OSError: the port is taken or the address is not local.
    """
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=registry)
    bound = server.server_address[1]
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return MetricsServer(host, int(bound), server, thread)


@contextmanager
def time_stage(stage: str) -> Iterator[None]:
    """Time the block into ``vpp_stage_latency_seconds{stage}``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        STAGE_LATENCY.labels(stage).observe(time.perf_counter() - t0)


class ForecastErrorTracker:
    """Match forecasts to the telemetry they forecast, when it arrives.

    Keeps the shortest-horizon forecasts per (site, target) until an event
    with their target time comes in, then records ``|actual - point|``.
    Forecasts whose time has passed without an event are dropped.

    Args:
        max_pending: most forecasts kept per (site, target).
    """

    def __init__(self, max_pending: int = 100_000) -> None:
        self.max_pending = max_pending
        self._pending: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._rng = np.random.default_rng(0)

    def add_forecasts(self, forecasts: Any) -> None:
        """Queue forecast records (a frame with the store's forecast columns)."""
        if forecasts is None or len(forecasts) == 0 or "target_ts_ns" not in forecasts:
            return
        df = forecasts[forecasts["horizon_steps"] == forecasts["horizon_steps"].min()]
        df = df.dropna(subset=["target_ts_ns", "point"])
        for (site, target), g in df.groupby(["site", "target"], sort=False):
            key = (str(site), str(target))
            ts = g["target_ts_ns"].to_numpy(np.int64)
            pt = g["point"].to_numpy(np.float64)
            old = self._pending.get(key)
            if old is not None:
                ts, pt = np.concatenate([old[0], ts]), np.concatenate([old[1], pt])
            self._pending[key] = (ts[-self.max_pending :], pt[-self.max_pending :])

    def add_actuals(self, telemetry: Any) -> int:
        """Score queued forecasts against a telemetry batch; returns how many matched."""
        matched = 0
        for (site, target), (pts, point) in list(self._pending.items()):
            mask = telemetry.sites == site
            if not mask.any():
                continue
            try:
                actual = np.asarray(telemetry.column(target), dtype=np.float64)[mask]
            except KeyError:
                continue
            ts = telemetry.ts_ns[mask]
            order = np.argsort(ts, kind="stable")
            ts, actual = ts[order], actual[order]
            pos = np.clip(np.searchsorted(ts, pts), 0, ts.size - 1)
            hit = ts[pos] == pts
            err = np.abs(actual[pos[hit]] - point[hit])
            err = err[np.isfinite(err)]
            if err.size:
                matched += int(err.size)
                FORECAST_MAE.labels(target).set(float(err.mean()))
                sample = (
                    err
                    if err.size <= ERROR_SAMPLES_PER_BATCH
                    else self._rng.choice(err, ERROR_SAMPLES_PER_BATCH, replace=False)
                )
                hist = FORECAST_ABS_ERROR.labels(target)
                for v in sample.tolist():
                    hist.observe(v)
            keep = ~hit & (pts > ts[-1])  # still in the future
            self._pending[(site, target)] = (pts[keep], point[keep])
        return matched


def observe_output(telemetry: Any, out: Any, tracker: ForecastErrorTracker | None = None) -> None:
    """Record one processed batch: records out, fleet SoC, forecast error, data time.

    Args:
        telemetry: the batch's :class:`vpp.io.Telemetry`.
        out: its :class:`vpp.runtime.processor.BatchOutput`.
        tracker: scores forecasts once their target events arrive.
    """
    if len(telemetry):
        LAST_EVENT.set(float(telemetry.ts_ns.max()) / 1e9)
    for kind, frame in (("forecast", out.forecasts), ("dispatch", out.dispatch), ("soc", out.soc)):
        if frame is not None and len(frame):
            EVENTS_OUT.labels(kind).inc(len(frame))
    if tracker is not None:
        # Queue first: most forecasts aim at events later in the same batch.
        tracker.add_forecasts(out.forecasts)
        tracker.add_actuals(telemetry)
    soc = out.soc
    if soc is not None and len(soc):
        last = soc.groupby(["site", "unit"], sort=False).last()
        per_site = last.groupby(level="site")
        for site, v in per_site["soc_frac"].mean().items():
            FLEET_SOC.labels(str(site)).set(float(v))
        if "energy_mwh" in last:
            for site, v in per_site["energy_mwh"].sum().items():
                FLEET_ENERGY.labels(str(site)).set(float(v))


class MeteredProcessor:
    """A batch processor that records what each batch produced and how long it took.

    Wraps any processor with ``process(batch) -> BatchOutput`` (other
    attributes pass through: ``snapshot``, ``restore``, ``describe``...).

    Args:
        inner: the processor, e.g. :class:`vpp.runtime.processor.BatchProcessor`.
        tracker: scores its forecasts against later events (default: a new one).
    """

    def __init__(self, inner: Any, tracker: ForecastErrorTracker | None = None) -> None:
        self._inner = inner
        self._tracker = tracker if tracker is not None else ForecastErrorTracker()

    def process(self, batch: Any) -> Any:
        with time_stage("pipeline"):
            out = self._inner.process(batch)
        observe_output(batch, out, self._tracker)
        return out

    def __getattr__(self, name: str) -> Any:  # snapshot, restore, describe, engine...
        return getattr(self._inner, name)


def _wrap(obj: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
    fn = getattr(obj, name, None)
    if fn is None:
        log.warning("metrics: %s has no %s; that metric stays empty", type(obj).__name__, name)
        return False
    setattr(obj, name, make(fn))
    return True


def instrument_consumer(service: Any) -> ForecastErrorTracker:
    """Record the metrics of a :class:`vpp.stream.consumer.StreamConsumer`.

    Wraps the service's processor factory and its batch, dead-letter, store,
    flush and commit steps on this instance (its class is untouched), and
    refreshes the consumer lag at most every :data:`LAG_INTERVAL_S`.

    Returns:
        The forecast-error tracker in use.
    """
    tracker = ForecastErrorTracker()
    factory = service.new_processor
    service.new_processor = lambda: MeteredProcessor(factory(), tracker)
    for st in getattr(service, "parts", {}).values():  # partitions assigned already
        st.processor = MeteredProcessor(st.processor, tracker)
    last_lag = [0.0]

    def batch(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(msgs: list[Any]) -> Any:
            EVENTS_IN.labels("kafka").inc(len(msgs))
            with time_stage("batch"):
                result = fn(msgs)
            now = time.monotonic()
            # A short batch means the consumer caught up: show that at once.
            caught_up = len(msgs) < getattr(service.config, "batch_events", 0)
            if caught_up or now - last_lag[0] >= LAG_INTERVAL_S:
                last_lag[0] = now
                _update_lag(service)
            return result

        return wrapped

    from vpp.stream.polling import reason_kind

    def dead(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(msg: Any, reason: str, *a: Any, **k: Any) -> Any:
            DLQ.labels(reason_kind(reason)).inc()
            return fn(msg, reason, *a, **k)

        return wrapped

    def timed(stage: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def make(fn: Callable[..., Any]) -> Callable[..., Any]:
            def wrapped(*a: Any, **k: Any) -> Any:
                with time_stage(stage):
                    return fn(*a, **k)

            return wrapped

        return make

    def store(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*a: Any, **k: Any) -> Any:
            before = service.stats.store_points
            with time_stage("store_write"):
                result = fn(*a, **k)
            EVENTS_OUT.labels("store_point").inc(service.stats.store_points - before)
            return result

        return wrapped

    _wrap(service, "_process", batch)
    _wrap(service, "_dead_letter", dead)
    _wrap(service, "_write_store", store)
    _wrap(service, "_flush", timed("produce_flush"))
    _wrap(service, "_commit", timed("commit"))

    def checkpoint(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*a: Any, **k: Any) -> Any:
            before = service.stats.checkpoint_bytes
            with time_stage("checkpoint"):  # counted before the stage's time shows
                result = fn(*a, **k)
                CHECKPOINT_BYTES.inc(service.stats.checkpoint_bytes - before)
            return result

        return wrapped

    _wrap(service, "_checkpoint", checkpoint)
    return tracker


def _update_lag(service: Any) -> None:
    """Set the lag gauge of every assigned partition (one broker query each)."""
    consumer = getattr(service, "_consumer", None)
    if consumer is None:
        return
    from confluent_kafka import KafkaException, TopicPartition

    topic = service.config.topic
    for p, st in list(getattr(service, "parts", {}).items()):
        try:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=1.0)
        except KafkaException as exc:
            log.debug("lag of %s/%d unavailable: %s", topic, p, exc)
            continue
        pos = getattr(st, "next_offset", None)
        if high >= 0 and pos is not None and pos >= 0:
            LAG.labels(topic, str(p)).set(max(high - pos, 0))


def instrument_mcp(
    server: Any,
    fleet_soc: Callable[[], dict[str, tuple[float, float]]] | None = None,
    fleet_interval_s: float = 5.0,
) -> None:
    """Count and time every tool call of a FastMCP server.

    Args:
        server: the :class:`fastmcp.FastMCP` instance.
        fleet_soc: optional callable giving ``{site: (mean soc_frac, energy_mwh)}``,
            read after a tool call to refresh the fleet gauges.
        fleet_interval_s: least time between two ``fleet_soc`` reads (it may
            read the store).
    """
    from fastmcp.server.middleware import Middleware

    last_fleet = [-math.inf]

    class _ToolMetrics(Middleware):
        async def on_call_tool(self, context: Any, call_next: Any) -> Any:
            tool = str(getattr(context.message, "name", "unknown"))
            t0 = time.perf_counter()
            outcome = "error"
            try:
                result = await call_next(context)
                outcome = "error" if getattr(result, "is_error", False) else "ok"
                return result
            finally:
                STAGE_LATENCY.labels(f"mcp:{tool}").observe(time.perf_counter() - t0)
                TOOL_CALLS.labels(tool, outcome).inc()
                now = time.monotonic()
                if fleet_soc is not None and now - last_fleet[0] >= fleet_interval_s:
                    last_fleet[0] = now
                    try:
                        for site, (soc, energy) in fleet_soc().items():
                            FLEET_SOC.labels(site).set(soc)
                            FLEET_ENERGY.labels(site).set(energy)
                    except Exception as exc:  # a gauge must never break a tool call
                        log.debug("fleet gauges not updated: %s", exc)

    server.add_middleware(_ToolMetrics())
