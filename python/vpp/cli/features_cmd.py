"""``vpp features``: compute the features of a whole telemetry file."""

from __future__ import annotations

import argparse
import logging

from vpp.cli.common import add_input_args, add_log_args, load_input, progress, setup_logging

log = logging.getLogger("vpp.features")

#: Events per call into the engine: large enough to amortise the call, small
#: enough for a smooth progress bar.
CHUNK_EVENTS = 65_536


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "features",
        help="compute streaming features of a telemetry file",
        description="Compute the default feature set of every event of a telemetry file, "
        "per site, exactly as the streaming engine would, and write them with "
        "timestamp and site columns.",
    )
    add_input_args(p, twin=True)
    p.add_argument("--out", "-o", required=True, help="output file, .parquet or .csv")
    add_log_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from vpp.features import FeatureEngine, FeatureSpec

    setup_logging(args)
    if not str(args.out).endswith((".parquet", ".csv")):
        raise ValueError(f"--out must end in .parquet or .csv, got {args.out!r}")
    tel = load_input(args)
    eng = FeatureEngine(FeatureSpec.default(tel.signals))
    n = len(tel)
    out = np.empty((n, len(eng.feature_names)))
    with progress(n, "features", args) as bar:
        for start in range(0, n, CHUNK_EVENTS):
            stop = min(start + CHUNK_EVENTS, n)
            out[start:stop] = eng.process(
                tel.ts_ns[start:stop], tel.values[start:stop], tel.sites[start:stop]
            )
            bar.update(stop - start)
    frame = pd.DataFrame(out, columns=eng.feature_names)
    frame.insert(0, "site", tel.sites)
    frame.insert(0, "timestamp", pd.to_datetime(tel.ts_ns, utc=True))
    if str(args.out).endswith(".parquet"):
        frame.to_parquet(args.out, index=False)
    else:
        frame.to_csv(args.out, index=False)
    log.info("wrote %d rows x %d features to %s", n, len(eng.feature_names), args.out)
    return 0
