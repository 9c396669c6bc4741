"""The embedded default: an in-process stream into the SQLite store.

Events are cut into batches in time order, as a broker would deliver them,
and each batch goes through :class:`vpp.runtime.processor.BatchProcessor`;
the resulting records are written to the store batch by batch.

The battery agents run for the telemetry's sites with the fleet of the
configuration (``[battery]``, ``[agents]``; one 1 MW / 2 MWh unit per site by
default), and the fleet is written to the store's ``fleet_config`` metadata so
that ``vpp mcp`` sees the fleet whose dispatch and SoC records it reads.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import TYPE_CHECKING, Any

from vpp.cli.common import load_input, load_published_forecasts, progress

if TYPE_CHECKING:
    from vpp.config import Config

log = logging.getLogger("vpp.run")


def run_embedded(args: argparse.Namespace, config: Config | None = None) -> dict[str, Any]:
    """Run the pipeline over the selected input; returns a summary dict.

    Args:
        args: the parsed options of ``vpp run``.
        config: the settings (:func:`vpp.config.apply_config`'s result;
            default ``args.vpp_config``, else the defaults): the fleet and
            the agents come from its ``battery`` and ``agents`` sections.
    """
    from vpp.config import Config
    from vpp.io import open_store
    from vpp.runtime.agent_stage import AgentStage
    from vpp.runtime.event_order import step_s
    from vpp.runtime.processor import BatchProcessor

    cfg = config or getattr(args, "vpp_config", None) or Config()
    tel = load_input(args, allow_sample=True)
    store = open_store(args.store)
    stage = AgentStage(
        cfg.battery,
        cfg.agents,
        sites=tel.site_ids() or None,
        default_dt_s=step_s(tel.ts_ns, tel.sites) or 60.0,
        published=load_published_forecasts(cfg.agents.published_forecasts, args),
    )
    proc = BatchProcessor.for_signals(tel.signals, agents=stage)
    n = len(tel)
    t0 = time.perf_counter()
    counts: dict[str, int] = {"telemetry": 0, "forecasts": 0, "dispatch": 0, "soc": 0}
    with progress(n, "run", args) as bar:
        for start in range(0, n, args.batch_events):
            batch = tel.slice(start, min(start + args.batch_events, n))
            out = proc.process(batch)
            counts["telemetry"] += store.write_telemetry(batch)
            if out.forecasts is not None:
                counts["forecasts"] += store.write_forecasts(out.forecasts)
            if out.dispatch is not None:
                counts["dispatch"] += store.write_dispatch(out.dispatch)
            if out.soc is not None:
                counts["soc"] += store.write_soc(out.soc)
            if start == 0 and stage.meta() is not None:
                # Early, so that a vpp mcp started meanwhile sees this fleet.
                store.set_meta("fleet_config", stage.meta())
            bar.update(len(batch))
    elapsed = time.perf_counter() - t0
    described = proc.describe()
    store.set_meta("last_run", {"events": n, "signals": tel.signals, **described})
    store.close()
    return {
        "events": n,
        "sites": tel.site_ids(),
        "signals": tel.signals,
        "store": str(getattr(store, "url", args.store)),
        "records": counts,
        "pipeline": {k: v for k, v in described.items() if k != "agents"},
        "agents": described.get("agents"),
        "seconds": round(elapsed, 3),
        "events_per_s": round(n / elapsed) if elapsed > 0 else None,
    }
