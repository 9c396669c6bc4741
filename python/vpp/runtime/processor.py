"""One batch of telemetry in, features and downstream records out.

The same processor serves ``vpp run`` (embedded) and ``vpp consume`` (Kafka),
so both produce identical records for identical events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vpp.features import FeatureEngine, FeatureSpec
from vpp.io import Telemetry


@dataclass
class BatchOutput:
    """Records produced for one batch (None where a stage is not configured)."""

    features: np.ndarray
    forecasts: pd.DataFrame | None = None
    dispatch: pd.DataFrame | None = None
    soc: pd.DataFrame | None = None


class BatchProcessor:
    """Features (and, when configured, forecasts and agents) for batches of events."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.engine = FeatureEngine(spec)

    @classmethod
    def for_signals(cls, signals: list[str]) -> BatchProcessor:
        """A processor with the default feature spec over ``signals``."""
        return cls(FeatureSpec.default(signals))

    def process(self, batch: Telemetry) -> BatchOutput:
        """Apply one batch in order; out-of-order events leave NaN rows and are counted."""
        values = batch.select(self.engine.signals).values
        feats = self.engine.process(batch.ts_ns, values, batch.sites, on_out_of_order="skip")
        return BatchOutput(features=feats)

    def describe(self) -> dict[str, Any]:
        """What this processor computes, for run summaries and store metadata."""
        return {"n_features": len(self.engine.feature_names), "counters": dict(self.engine.counters)}
