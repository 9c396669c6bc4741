"""One batch of telemetry in, features and downstream records out.

The same processor serves ``vpp run`` (embedded) and ``vpp consume`` (Kafka),
so both produce identical records for identical events. Stages: features,
then forecasts (with a model), then battery agents (with an
:class:`~vpp.runtime.agent_stage.AgentStage`); with a compiled model the
three are one native call per batch.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vpp.errors import SnapshotError
from vpp.features import FeatureEngine, FeatureSpec
from vpp.io import Telemetry
from vpp.runtime.agent_stage import AgentStage


@dataclass
class BatchOutput:
    """Records produced for one batch (None where a stage is not configured)."""

    features: np.ndarray
    forecasts: pd.DataFrame | None = None
    dispatch: pd.DataFrame | None = None
    soc: pd.DataFrame | None = None


class BatchProcessor:
    """Features (and, when configured, forecasts and agents) for batches of events."""

    def __init__(
        self, spec: FeatureSpec, forecaster: Any = None, agents: AgentStage | None = None
    ) -> None:
        """Args:
        spec: the feature spec.
        forecaster: a :class:`vpp.pipeline.Pipeline` over ``spec`` (features
            and forecasts in one call) or None for features only.
        agents: the battery agents' stage, or None for no dispatch.
        """
        self.forecaster = forecaster
        # With a forecaster, its own engine holds the feature state.
        self.engine = forecaster if forecaster is not None else FeatureEngine(spec)
        self._forecast_on: bool | None = None
        self.agents = agents
        if agents is not None:
            agents.start(self.forecaster)

    @classmethod
    def for_signals(
        cls, signals: list[str], model: Any = "default", agents: AgentStage | None = None
    ) -> BatchProcessor:
        """A processor with the default feature spec over ``signals``.

        ``model`` (default: the shipped default model, see
        :func:`vpp.model.serving.default_model_dir`) adds forecasts when it
        reads exactly these features; None turns forecasting off. ``agents``
        adds battery decisions (dispatch and SoC records).
        """
        from vpp.model.serving import forecaster_for

        spec = FeatureSpec.default(signals)
        forecaster = forecaster_for(spec, model) if model is not None else None
        return cls(spec, forecaster, agents)

    def process(self, batch: Telemetry) -> BatchOutput:
        """Apply one batch in order; out-of-order events leave NaN rows and are counted."""
        signals = list(self.engine.signals)
        values = batch.select(signals).values
        stage = self.agents
        if stage is not None:
            stage.prepare(batch, signals, self.forecaster)
        decisions = None
        if self.forecaster is None:
            feats = self.engine.process(batch.ts_ns, values, batch.sites, on_out_of_order="skip")
            out = BatchOutput(features=feats)
        else:
            if stage is not None and stage.attached:
                # Features, forecasts and decisions in one native call.
                feats, preds, decisions = stage.process_decide(self.forecaster, batch, values)
            else:
                feats, preds = self.forecaster.process(
                    batch.ts_ns, values, batch.sites, on_out_of_order="skip"
                )
            out = BatchOutput(features=feats, forecasts=self._forecast_records(batch, preds))
        if stage is not None:
            if decisions is None:  # no compiled forecaster: the agents on their own
                decisions = stage.run_alone(batch, values)
            out.dispatch, out.soc = stage.records(batch, decisions, self.forecaster)
        return out

    def _forecast_records(self, batch: Telemetry, preds: np.ndarray) -> pd.DataFrame | None:
        from vpp.model import metrics
        from vpp.model.serving import forecast_records, model_step_ns

        model = self.forecaster.model
        step_ns = model_step_ns(model.metadata)
        if self._forecast_on is None and step_ns:
            # Lags and windows count events: a model trained at another
            # resolution would read them as other time spans.
            spd = metrics.steps_per_day(batch.ts_ns, batch.sites)
            if spd is not None:
                self._forecast_on = abs(86_400 * 10**9 / spd - step_ns) <= 0.01 * step_ns
                if not self._forecast_on:
                    logging.getLogger("vpp.runtime").warning(
                        "forecasting off: the data has %d events per day, the model was "
                        "trained at %d",
                        spd,
                        round(86_400 * 10**9 / step_ns),
                    )
        if self._forecast_on is False:
            return None
        return forecast_records(
            batch.ts_ns,
            batch.sites,
            preds,
            model.quantiles,
            model.target,
            model.horizon_steps,
            step_ns,
            model.content_hash[:12],
        )

    def describe(self) -> dict[str, Any]:
        """What this processor computes, for run summaries and store metadata."""
        out: dict[str, Any] = {
            "n_features": len(self.engine.feature_names),
            "counters": dict(self.engine.counters),
        }
        if self.forecaster is not None:
            out["forecast"] = {**self.forecaster.describe(), "active": self._forecast_on}
        if self.agents is not None:
            out["agents"] = self.agents.describe(self.forecaster)
        return out

    def snapshot(self) -> bytes:
        """All state that later batches depend on, as bytes (for consumer checkpoints).

        A processor restored from these bytes gives the same records for the
        next batches as this one. Stages that keep state across batches add
        their bytes in :meth:`_stage_states`.
        """
        parts = {"engine": bytes(self.engine.snapshot()), **self._stage_states()}
        if self.agents is not None:
            parts.update(self.agents.state(self.forecaster))
        return _pack_parts(parts)

    def restore(self, blob: bytes) -> None:
        """Replace this processor's state with a :meth:`snapshot`.

        Raises:
            vpp.errors.SnapshotError: ``blob`` is not a processor snapshot.
        """
        parts = _unpack_parts(blob)
        if "engine" not in parts:
            raise SnapshotError("processor snapshot has no feature-engine state")
        blob = parts.pop("engine")
        if self.forecaster is not None:
            self.forecaster = type(self.forecaster).restore(blob, self.forecaster.model)
            self.engine = self.forecaster
        else:
            self.engine = FeatureEngine.restore(blob)
        self._restore_stage_states(parts)
        if self.agents is not None:
            # After the forecaster: the agents are re-attached to the new one.
            self.agents.restore(parts, self.forecaster)

    def _stage_states(self) -> dict[str, bytes]:
        """Snapshots of stateful stages after the feature engine."""
        # Whether forecasting is on is decided from the first batch; a restored
        # processor must not decide again from whatever batch comes next.
        return {"forecast_on": {None: b"?", True: b"1", False: b"0"}[self._forecast_on]}

    def _restore_stage_states(self, parts: dict[str, bytes]) -> None:
        """Inverse of :meth:`_stage_states`."""
        flag = parts.get("forecast_on", b"?")
        self._forecast_on = {b"1": True, b"0": False}.get(flag)


_SNAPSHOT_MAGIC = b"VPPPROC1"


def _pack_parts(parts: dict[str, bytes]) -> bytes:
    """Length-prefixed name/bytes pairs (no pickle: snapshots travel through Kafka)."""
    out = [_SNAPSHOT_MAGIC, struct.pack("<I", len(parts))]
    for name, blob in parts.items():
        key = name.encode()
        out += [struct.pack("<IQ", len(key), len(blob)), key, blob]
    return b"".join(out)


def _unpack_parts(blob: bytes) -> dict[str, bytes]:
    view = memoryview(blob)
    if bytes(view[:8]) != _SNAPSHOT_MAGIC:
        raise SnapshotError("not a vpp processor snapshot (bad magic)")
    try:
        (count,) = struct.unpack_from("<I", view, 8)
        pos, parts = 12, {}
        for _ in range(count):
            klen, blen = struct.unpack_from("<IQ", view, pos)
            pos += 12
            name = bytes(view[pos : pos + klen]).decode()
            pos += klen
            if pos + blen > len(view):
                raise SnapshotError("processor snapshot is truncated")
            parts[name] = bytes(view[pos : pos + blen])
            pos += blen
    except (struct.error, UnicodeDecodeError) as exc:
        raise SnapshotError(f"corrupt processor snapshot: {exc}") from None
    return parts
