"""``vpp train``: fit a quantile forecast model on a telemetry file or the twin."""

from __future__ import annotations

import argparse
import json
import logging

from vpp.cli.common import add_input_args, add_log_args, load_input, setup_logging

log = logging.getLogger("vpp.train")


def parse_quantiles(text: str) -> list[float]:
    """``"0.1,0.5,0.9"`` → ``[0.1, 0.5, 0.9]`` (ParameterError on bad input)."""
    from vpp.errors import ParameterError

    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ParameterError(
            f"--quantiles must be numbers like 0.1,0.5,0.9, got {text!r}"
        ) from None


def add_model_args(p: argparse.ArgumentParser, horizon_default: int = 1) -> None:
    """Options shared by ``vpp train`` and ``vpp backtest``."""
    g = p.add_argument_group("model")
    g.add_argument(
        "--target",
        default=None,
        help="signal to forecast (default: net_load_mw when load is present)",
    )
    g.add_argument(
        "--horizon",
        type=int,
        default=horizon_default,
        metavar="H",
        help=f"events ahead at the same site (default {horizon_default})",
    )
    g.add_argument(
        "--quantiles", default="0.1,0.5,0.9", help="quantile levels (default 0.1,0.5,0.9)"
    )
    g.add_argument("--rounds", type=int, default=100, help="boosting rounds (trees per quantile)")
    g.add_argument("--max-depth", type=int, default=3, help="tree depth (default 3)")
    g.add_argument("--learning-rate", type=float, default=0.1, help="shrinkage (default 0.1)")


def config_from_args(args: argparse.Namespace) -> object:
    """The :class:`vpp.model.TrainConfig` the options describe."""
    from vpp.model import TrainConfig

    return TrainConfig(
        n_rounds=args.rounds, max_depth=args.max_depth, learning_rate=args.learning_rate
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "train",
        help="train a quantile forecast model",
        description="Train an XGBoost quantile model of a signal H events ahead on the "
        "streaming features of the data (the same engine that serves it) and save it "
        "as a model directory (model.json, spec.json, metadata.json).",
    )
    add_input_args(p, twin=True)
    add_model_args(p)
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="model directory to write")
    add_log_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vpp.model import train

    setup_logging(args)
    tel = load_input(args)
    model = train(
        tel,
        target=args.target,
        horizon_steps=args.horizon,
        quantiles=parse_quantiles(args.quantiles),
        config=config_from_args(args),  # type: ignore[arg-type]
    )
    out = model.save(args.out)
    log.info("saved model %s to %s", model.content_hash[:12], out)
    print(json.dumps({"model": str(out), **model.metadata["metrics"]}, indent=2))
    return 0
