"""Forecasting: quantile XGBoost models on the streaming features, compiled for serving.

* :func:`train` — fit a multi-quantile model of a target ``horizon_steps``
  events ahead on the rows of the serving :class:`vpp.FeatureEngine`;
* :class:`ForecastModel` — the model directory (``model.json``, ``spec.json``,
  ``metadata.json``) with validation on load;
* :func:`compile_model` — Treelite → TL2cgen → gcc, cached by content hash;
* :func:`backtest` — time-ordered train/test split, walk-forward evaluation
  against persistence and seasonal naive;
* :class:`vpp.pipeline.Pipeline` serves a model inside the Rust event loop.
"""

from vpp.model.artifact import ForecastModel, content_hash
from vpp.model.backtest import backtest
from vpp.model.compile import (
    CompiledLibrary,
    CompilerUnavailable,
    cache_root,
    compile_model,
    find_compiler,
)
from vpp.model.train import DEFAULT_QUANTILES, TrainConfig, train

__all__ = [
    "DEFAULT_QUANTILES",
    "CompiledLibrary",
    "CompilerUnavailable",
    "ForecastModel",
    "TrainConfig",
    "backtest",
    "cache_root",
    "compile_model",
    "content_hash",
    "find_compiler",
    "train",
]
