"""``vpp consume``: the streaming service on Kafka (and InfluxDB).

Polls ``--topic`` in batches as member ``--group``, validates events (bad ones
go to ``<topic>.dlq`` with the reason in the ``vpp.reason`` header), computes
features, forecasts and dispatch per partition, produces records to
``grid.forecast`` and ``grid.dispatch``, writes points to InfluxDB
(``--influx-url``) or another store (``--store``), and commits offsets only
after all of that is acknowledged. Run several with one ``--group`` to share
the partitions; state follows partitions through a compacted checkpoint topic,
written (then the offsets committed) at most every ``--checkpoint-interval-s``.
SIGTERM or Ctrl-C finishes the batch in hand, checkpoints, commits and exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal

from vpp.cli.common import add_log_args, setup_logging
from vpp.config import add_config_arg, apply_config
from vpp.metrics import add_metrics_args, start_from_args

log = logging.getLogger("vpp.consume")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "consume",
        help="run the streaming service: Kafka in, forecasts/dispatch out, points to InfluxDB",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    k = p.add_argument_group("kafka")
    k.add_argument(
        "--brokers",
        metavar="HOST:PORT",
        help="bootstrap servers (required here or as kafka.brokers / $VPP_KAFKA_BROKERS)",
    )
    k.add_argument("--group", default="vpp", help="consumer group id (default: vpp)")
    k.add_argument("--topic", default="grid.telemetry", help="input topic")
    k.add_argument("--dlq-topic", help="dead-letter topic (default: <topic>.dlq)")
    k.add_argument("--forecast-topic", default="grid.forecast", help="forecast records topic")
    k.add_argument("--dispatch-topic", default="grid.dispatch", help="dispatch records topic")
    k.add_argument("--state-topic", help="compacted checkpoint topic (default: <topic>.state)")
    k.add_argument(
        "--batch-events", type=int, default=10_000, metavar="N", help="most messages per poll"
    )
    k.add_argument(
        "--checkpoint-interval-s",
        type=float,
        default=1.0,
        metavar="S",
        help="least time between checkpoints and offset commits (default 1; 0: every poll)",
    )
    i = p.add_argument_group("influxdb (optional)")
    i.add_argument("--influx-url", metavar="URL", help="e.g. http://127.0.0.1:8086")
    tok = i.add_mutually_exclusive_group()
    tok.add_argument("--influx-token", help="token (user:password on InfluxDB 1.8)")
    tok.add_argument("--influx-token-file", metavar="FILE", help="read the token from FILE")
    i.add_argument("--influx-org", default="-", help="organisation ('-' on 1.8)")
    i.add_argument("--influx-bucket", default="vpp/autogen", help="bucket (db/rp on 1.8)")
    p.add_argument("--store", metavar="URL", help="another store instead of InfluxDB")
    stop = p.add_argument_group("stopping")
    stop.add_argument("--max-events", type=int, metavar="N", help="exit after N messages")
    stop.add_argument(
        "--idle-exit-s", type=float, metavar="S", help="exit after S seconds without messages"
    )
    add_metrics_args(p)
    add_log_args(p)
    # Last: fills the options above from vpp.toml / VPP_*. --store here means
    # "another store instead of InfluxDB", not the embedded store.url.
    add_config_arg(p, skip=("store",))
    p.set_defaults(func=run)


def _open_store(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from vpp.errors import ParameterError

    if args.influx_url and args.store:
        raise ParameterError("give --influx-url or --store, not both")
    if args.influx_url:
        from vpp.io.store_influx import InfluxStore

        token = args.influx_token or os.environ.get("VPP_INFLUX_TOKEN") or "vpp:vpp"
        if args.influx_token_file:
            with open(args.influx_token_file, encoding="utf-8") as fh:
                token = fh.read().strip()
        return InfluxStore(
            args.influx_url, token=token, org=args.influx_org, bucket=args.influx_bucket
        )
    if args.store:
        from vpp.io import open_store

        return open_store(args.store)
    return None


def _agent_processor(cfg, config):  # type: ignore[no-untyped-def]
    """A partition's processor, with the battery agents when ``sites.ids`` is set.

    Every partition's fleet covers all of ``sites.ids`` (each site's events,
    and so its units' state, live in one partition). Without ``sites.ids``
    there are no agents: the sites of a partition's first batch must not
    decide the fleet.
    """
    from vpp.runtime.agent_stage import AgentStage
    from vpp.runtime.processor import BatchProcessor

    sites = list(cfg.sites.ids)
    if not sites:
        log.info("battery agents off: set sites.ids (VPP_SITES_IDS) to dispatch a fleet")
        return None

    from vpp.errors import ParameterError

    published = None
    if cfg.agents.published_forecasts:
        if cfg.agents.published_forecasts == "twin":
            raise ParameterError(
                "invalid parameter: agents.published_forecasts: 'twin' needs vpp run --twin; "
                "vpp consume reads a file"
            )
        from vpp.agents.published_feed import FeedFile

        # One file for every partition's forecaster, re-read when it changes.
        published = FeedFile(cfg.agents.published_forecasts)

    def new_processor() -> BatchProcessor:
        stage = AgentStage(cfg.battery, cfg.agents, sites=sites, published=published)
        return BatchProcessor.for_signals(list(config.signals), agents=stage)

    return new_processor


def run(args: argparse.Namespace) -> int:
    import orjson

    from vpp.stream.consumer import ConsumerConfig, StreamConsumer
    from vpp.stream.errors import StreamStopped

    cfg = apply_config(args)
    if args.store and cfg.source("influx.url") != "--influx-url":
        args.influx_url = None  # an explicit --store wins over an InfluxDB URL from the config
    setup_logging(args)
    if not args.brokers:
        from vpp.errors import ParameterError

        raise ParameterError(
            "--brokers is required (or kafka.brokers in vpp.toml, $VPP_KAFKA_BROKERS)"
        )
    store = _open_store(args)
    config = ConsumerConfig(
        brokers=args.brokers,
        group=args.group,
        topic=args.topic,
        dlq_topic=args.dlq_topic,
        forecast_topic=args.forecast_topic,
        dispatch_topic=args.dispatch_topic,
        state_topic=args.state_topic,
        batch_events=args.batch_events,
        checkpoint_interval_s=args.checkpoint_interval_s,
        max_events=args.max_events,
        idle_exit_s=args.idle_exit_s,
    )
    new_processor = _agent_processor(cfg, config)
    if new_processor is not None and store is not None:
        # The fleet of record, as vpp run writes it: vpp mcp dispatches only
        # on the fleet whose SoC rows it reads.
        stage = new_processor().agents
        meta = stage.meta() if stage is not None else None
        if meta is not None:
            store.set_meta("fleet_config", meta)
    service = StreamConsumer(config, store=store, new_processor=new_processor)
    metrics = start_from_args(args)  # None without --metrics-port
    if metrics is not None:
        from vpp.metrics import instrument_consumer

        instrument_consumer(service)

    def on_signal(signum: int, frame: object) -> None:
        log.info("signal %d: finishing the current batch", signum)
        service.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stats = service.run()
    except StreamStopped as exc:
        log.error("stopped: %s", exc)
        return 1
    finally:
        if store is not None:
            store.close()
        if metrics is not None:
            metrics.close()
    print(orjson.dumps(stats.as_dict(), option=orjson.OPT_INDENT_2).decode())
    return 0
