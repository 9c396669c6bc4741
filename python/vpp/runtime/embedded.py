"""The embedded default: an in-process stream into the SQLite store.

Events are cut into batches in time order, as a broker would deliver them,
and each batch goes through :class:`vpp.runtime.processor.BatchProcessor`;
the resulting records are written to the store batch by batch.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from vpp.cli.common import load_input, progress

log = logging.getLogger("vpp.run")


def run_embedded(args: argparse.Namespace) -> dict[str, Any]:
    """Run the pipeline over the selected input; returns a summary dict."""
    from vpp.io import open_store
    from vpp.runtime.processor import BatchProcessor

    tel = load_input(args, allow_sample=True)
    store = open_store(args.store)
    proc = BatchProcessor.for_signals(tel.signals)
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
            bar.update(len(batch))
    elapsed = time.perf_counter() - t0
    store.set_meta("last_run", {"events": n, "signals": tel.signals, **proc.describe()})
    store.close()
    return {
        "events": n,
        "sites": tel.site_ids(),
        "signals": tel.signals,
        "store": str(getattr(store, "url", args.store)),
        "records": counts,
        "pipeline": proc.describe(),
        "seconds": round(elapsed, 3),
        "events_per_s": round(n / elapsed) if elapsed > 0 else None,
    }
