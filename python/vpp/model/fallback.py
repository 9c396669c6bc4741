"""The forecasting pipeline without a C compiler: feature engine + XGBoost.

Same interface as :class:`vpp.pipeline.Pipeline`, and the same outputs (to
float32 rounding), but each forecast goes through XGBoost's
``inplace_predict`` (one thread: XGBoost's default threading costs
milliseconds per single row on a busy machine), so it is much slower.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vpp.features import FeatureEngine, FeatureSpec
from vpp.model.artifact import ForecastModel

__all__ = ["FallbackPipeline"]


class FallbackPipeline:
    """Features from the Rust engine, forecasts from XGBoost (see module doc)."""

    compiled = False

    def __init__(
        self, spec: FeatureSpec, model: ForecastModel, engine: FeatureEngine | None = None
    ) -> None:
        self.model = model
        self.engine = engine if engine is not None else FeatureEngine(spec)
        model.booster.set_param({"nthread": 1})
        self._target = _target_index(list(spec.signals), model.target)

    # -- same surface as vpp.pipeline.Pipeline --------------------------------
    @property
    def spec(self) -> FeatureSpec:
        return self.engine.spec

    @property
    def feature_names(self) -> list[str]:
        return list(self.engine.feature_names)

    @property
    def n_features(self) -> int:
        return int(self.engine.n_features)

    @property
    def n_outputs(self) -> int:
        return len(self.model.quantiles)

    @property
    def quantiles(self) -> list[float]:
        return list(self.model.quantiles)

    @property
    def target(self) -> str:
        return self.model.target

    @property
    def signals(self) -> list[str]:
        return list(self.engine.signals)

    @property
    def sites(self) -> list[str]:
        return list(self.engine.sites)

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.engine.counters)

    def _current(self, values: np.ndarray) -> np.ndarray:
        kind, cols = self._target
        v = values[:, cols[0]].copy()
        if kind == "net":  # load - solar - wind, absent renewables counting as 0
            for c in cols[1:]:
                v = v - values[:, c]
        v[~np.isfinite(v)] = np.nan
        return v

    def _levels(self, feats: np.ndarray, values: np.ndarray) -> np.ndarray:
        change = self.model.predict_change(feats)
        return np.sort(self._current(values)[:, None] + change, axis=1)

    def push(self, ts_ns: int, values: Any, site: str = "grid") -> tuple[np.ndarray, np.ndarray]:
        """One event: ``(features, forecast levels)``."""
        row = self.engine.push(ts_ns, values, site=site)
        v = np.asarray(values, dtype=np.float64).reshape(1, -1)
        return row, self._levels(row.reshape(1, -1), v)[0]

    def process(
        self, ts_ns: Any, values: Any, sites: Any = None, on_out_of_order: str = "raise"
    ) -> tuple[np.ndarray, np.ndarray]:
        """A batch: ``(features (n, n_features), forecasts (n, n_quantiles))``."""
        v = np.ascontiguousarray(values, dtype=np.float64)
        feats = self.engine.process(ts_ns, v, sites, on_out_of_order=on_out_of_order)
        preds = self._levels(feats, v)
        # Rows skipped as out of order are all-NaN features: no forecast.
        preds[np.isnan(feats).all(axis=1)] = np.nan
        return feats, preds

    def attach_agents(self, agents: Any, sites: Any = None) -> None:
        """Not available without the compiled pipeline; run the agents separately."""
        from vpp.errors import ModelError

        raise ModelError(
            "agents inside the pipeline need the compiled model (no C compiler here); "
            "run vpp.agents.AgentSet.run on the events instead"
        )

    @classmethod
    def restore(cls, blob: bytes, model: ForecastModel) -> FallbackPipeline:
        """A fallback pipeline over ``model`` continuing from :meth:`snapshot` bytes."""
        engine = FeatureEngine.restore(bytes(blob))
        return cls(engine.spec, model, engine)

    def snapshot(self) -> bytes:
        """The feature engine's state."""
        return bytes(self.engine.snapshot())

    def describe(self) -> dict[str, Any]:
        return {"compiled": False, **self.model.describe()}


def _target_index(signals: list[str], target: str) -> tuple[str, list[int]]:
    if target in signals:
        return "column", [signals.index(target)]
    if target == "net_load_mw" and "load_mw" in signals:
        return "net", [signals.index("load_mw")] + [
            signals.index(s) for s in ("solar_mw", "wind_mw") if s in signals
        ]
    from vpp.errors import ModelError

    raise ModelError(f"forecast target {target!r} is not available from the signals {signals}")
