"""One batch of telemetry in, features and downstream records out.

The same processor serves ``vpp run`` (embedded) and ``vpp consume`` (Kafka),
so both produce identical records for identical events.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vpp.errors import SnapshotError
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
        return {
            "n_features": len(self.engine.feature_names),
            "counters": dict(self.engine.counters),
        }

    def snapshot(self) -> bytes:
        """All state that later batches depend on, as bytes (for consumer checkpoints).

        A processor restored from these bytes gives the same records for the
        next batches as this one. Stages that keep state across batches add
        their bytes in :meth:`_stage_states`.
        """
        parts = {"engine": bytes(self.engine.snapshot()), **self._stage_states()}
        return _pack_parts(parts)

    def restore(self, blob: bytes) -> None:
        """Replace this processor's state with a :meth:`snapshot`.

        Raises:
            vpp.errors.SnapshotError: ``blob`` is not a processor snapshot.
        """
        parts = _unpack_parts(blob)
        if "engine" not in parts:
            raise SnapshotError("processor snapshot has no feature-engine state")
        self.engine = FeatureEngine.restore(parts.pop("engine"))
        self._restore_stage_states(parts)

    def _stage_states(self) -> dict[str, bytes]:
        """Snapshots of stateful stages after the feature engine (none yet)."""
        return {}

    def _restore_stage_states(self, parts: dict[str, bytes]) -> None:
        """Inverse of :meth:`_stage_states`."""


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
