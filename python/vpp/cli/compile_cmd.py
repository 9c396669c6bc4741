"""``vpp compile``: compile a model directory to a cached shared library."""

from __future__ import annotations

import argparse
import json
import logging
from typing import TYPE_CHECKING

from vpp.cli.common import add_log_args, setup_logging

if TYPE_CHECKING:
    import numpy as np

    from vpp.model import ForecastModel

log = logging.getLogger("vpp.compile")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "compile",
        help="compile a forecast model to native code (cached by model hash)",
        description="Treelite + TL2cgen generate C for the model's trees; gcc builds a "
        "shared library, checked against XGBoost and cached under "
        "$VPP_CACHE_DIR/compiled/<hash>/ (default ~/.cache/vpp/compiled/).",
    )
    p.add_argument("model", metavar="MODEL_DIR", help="model directory written by vpp train")
    p.add_argument(
        "--flags",
        default=None,
        help="compiler flags, e.g. --flags=-O2 (default: tune: build -Os/-O1/-O2/-O3, time them, "
        "keep the fastest)",
    )
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument(
        "--tune-twin-days",
        type=float,
        default=7.0,
        metavar="DAYS",
        help="time the flag candidates on features of this many days of twin data at the "
        "model's resolution (default 7; 0: synthetic rows)",
    )
    add_log_args(p)
    p.set_defaults(func=run)


def tuning_rows(model: ForecastModel, days: float) -> np.ndarray | None:
    """Feature rows of twin data at the model's training resolution (None if unknown)."""
    import numpy as np

    from vpp import twin
    from vpp.features import FeatureEngine
    from vpp.io import Telemetry
    from vpp.model.dataset import spec_values

    spd = (model.metadata.get("data") or {}).get("steps_per_day")
    if not spd or days <= 0:
        return None
    tel = Telemetry.from_frame(twin.generate(days=days, resolution=86_400.0 / spd, seed=11))
    spec = model.spec
    X = FeatureEngine(spec).process(tel.ts_ns, spec_values(tel, spec.signals), tel.sites)
    return np.ascontiguousarray(X[min(len(X) // 4, 96) :])


def run(args: argparse.Namespace) -> int:
    from vpp.model import ForecastModel, compile_model

    setup_logging(args)
    model = ForecastModel.load(args.model)
    flags = args.flags.split() if args.flags else None
    rows = None if flags else tuning_rows(model, args.tune_twin_days)
    lib = compile_model(model, flags=flags, tune=flags is None, force=args.force, rows=rows)
    print(
        json.dumps(
            {
                "library": str(lib.path),
                "flags": lib.flags,
                "content_hash": lib.content_hash,
                "compile_seconds": lib.compile_seconds,
                "tuning_ns_per_row": lib.tuning_ns_per_row,
                "checked_rows": lib.checked_rows,
            },
            indent=2,
        )
    )
    return 0
