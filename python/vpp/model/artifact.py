"""A trained forecast model on disk: XGBoost JSON, feature spec and metadata.

A model directory holds three files:

* ``model.json`` — the XGBoost booster (multi-quantile: one output per quantile),
  trained on the change of the target from now to ``horizon_steps`` events ahead;
* ``spec.json`` — the :class:`vpp.FeatureSpec` whose features it reads;
* ``metadata.json`` — target, horizon, quantiles, data range, metrics, library
  versions and the content hash (SHA-256 of ``model.json`` and ``spec.json``)
  that names its compiled library in the cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vpp.errors import ModelError
from vpp.features import FeatureSpec

if TYPE_CHECKING:
    import xgboost as xgb

__all__ = ["METADATA_FILE", "MODEL_FILE", "SPEC_FILE", "ForecastModel", "content_hash"]

MODEL_FILE = "model.json"
SPEC_FILE = "spec.json"
METADATA_FILE = "metadata.json"


def _spec_json(spec: FeatureSpec) -> str:
    return json.dumps(spec.to_dict(), sort_keys=True, indent=2) + "\n"


def content_hash(model_bytes: bytes, spec: FeatureSpec) -> str:
    """SHA-256 (hex) of the booster JSON and the canonical spec JSON."""
    h = hashlib.sha256()
    h.update(model_bytes)
    h.update(b"\0")
    h.update(_spec_json(spec).encode())
    return h.hexdigest()


@dataclass
class ForecastModel:
    """A quantile forecaster of one target at one horizon.

    Attributes:
        booster: the XGBoost booster; it predicts the change of ``target``
            from the current event to ``horizon_steps`` events ahead.
        spec: the feature spec of its inputs (feature names must match).
        target: the forecast signal, e.g. ``net_load_mw``.
        horizon_steps: events ahead at the same site (>= 1).
        quantiles: ascending quantile levels, one model output each.
        metadata: everything else recorded at training time.
        path: the directory it was loaded from or saved to, if any.
    """

    booster: xgb.Booster
    spec: FeatureSpec
    target: str
    horizon_steps: int
    quantiles: list[float]
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        self.quantiles = [float(q) for q in self.quantiles]
        self.check()

    # -- consistency -----------------------------------------------------
    def check(self) -> None:
        """Raise ModelError unless booster, spec and quantiles fit together."""
        names = self.booster.feature_names
        expected = self.spec.feature_names
        if names is not None and list(names) != expected:
            pairs = enumerate(zip(names, expected, strict=False))
            diff = [(i, a, b) for i, (a, b) in pairs if a != b][:3]
            raise ModelError(
                f"the model's feature names do not match its feature spec: model has "
                f"{len(names)} features, the spec yields {len(expected)}"
                + (f"; first differences (index, model, spec): {diff}" if diff else "")
            )
        n_feat = self.booster.num_features()
        if n_feat != len(expected):
            raise ModelError(
                f"the model takes {n_feat} features but its spec yields {len(expected)}"
            )
        if not self.quantiles or sorted(self.quantiles) != self.quantiles:
            raise ModelError(f"quantiles must be ascending and non-empty, got {self.quantiles}")
        n_out = int(
            json.loads(self.booster.save_config())["learner"]["learner_model_param"].get(
                "num_target", "1"
            )
        )
        if n_out != len(self.quantiles):
            raise ModelError(
                f"the model has {n_out} outputs but {len(self.quantiles)} quantiles are declared"
            )
        if self.horizon_steps < 1:
            raise ModelError(f"horizon_steps must be >= 1, got {self.horizon_steps}")

    @property
    def feature_names(self) -> list[str]:
        """The input feature names, in column order."""
        return self.spec.feature_names

    @property
    def content_hash(self) -> str:
        """SHA-256 of the booster JSON and the spec (names the compiled library).

        The hash recorded when the model was saved or loaded; computed afresh
        for a model never written to disk.
        """
        recorded = self.metadata.get("content_hash")
        return str(recorded) if recorded else content_hash(self.model_bytes(), self.spec)

    def model_bytes(self) -> bytes:
        """The booster as XGBoost JSON bytes."""
        return bytes(self.booster.save_raw(raw_format="json"))

    # -- prediction (reference path; serving uses vpp.pipeline) ------------
    def predict_change(self, X: np.ndarray) -> np.ndarray:
        """Predicted change of the target, shape ``(n, n_quantiles)``, with XGBoost."""
        out = np.asarray(self.booster.inplace_predict(np.asarray(X, dtype=np.float64)))
        return out.reshape(len(X), len(self.quantiles))

    def predict_level(self, X: np.ndarray, current: np.ndarray) -> np.ndarray:
        """Predicted levels, ascending per row: ``current + change`` (NaN where current is)."""
        return np.sort(np.asarray(current)[:, None] + self.predict_change(X), axis=1)

    # -- files -------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the three model files into ``directory`` (created if needed)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        model_bytes = self.model_bytes()
        (out / MODEL_FILE).write_bytes(model_bytes)
        (out / SPEC_FILE).write_text(_spec_json(self.spec))
        meta = dict(self.metadata)
        meta.update(
            target=self.target,
            horizon_steps=self.horizon_steps,
            quantiles=self.quantiles,
            feature_names=self.feature_names,
            content_hash=content_hash(model_bytes, self.spec),
        )
        (out / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=_json_default) + "\n")
        self.metadata = meta
        self.path = out
        return out

    @classmethod
    def load(cls, directory: str | Path, nthread: int = 1) -> ForecastModel:
        """Read a model directory written by :meth:`save`.

        Args:
            directory: the model directory.
            nthread: XGBoost threads for its own predictions. 1 by default:
                XGBoost's default threading costs milliseconds per single row
                on a busy machine.

        Raises:
            vpp.errors.ModelError: a file is missing or unreadable, the booster
                does not load, the files were changed after training (hash),
                or the feature names do not match the spec.
        """
        import xgboost as xgb

        d = Path(directory)
        if not d.is_dir():
            raise ModelError(f"model directory {str(d)!r} does not exist")
        paths = {name: d / name for name in (MODEL_FILE, SPEC_FILE, METADATA_FILE)}
        absent = [name for name, p in paths.items() if not p.is_file()]
        if absent:
            raise ModelError(f"model directory {str(d)!r} lacks {absent}; train one with vpp train")
        try:
            meta = json.loads(paths[METADATA_FILE].read_text())
            spec = FeatureSpec.from_dict(json.loads(paths[SPEC_FILE].read_text()))
        except (ValueError, TypeError) as exc:
            raise ModelError(f"bad metadata or spec file in {str(d)!r}: {exc}") from None
        model_bytes = paths[MODEL_FILE].read_bytes()
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(model_bytes))
        except xgb.core.XGBoostError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ModelError(f"{paths[MODEL_FILE]} is not an XGBoost model: {first}") from None
        booster.set_param({"nthread": nthread})
        recorded = meta.get("content_hash")
        actual = content_hash(model_bytes, spec)
        if recorded is not None and recorded != actual:  # edited or corrupted files
            raise ModelError(
                f"{str(d)!r}: model.json or spec.json changed after training "
                f"(content hash {actual[:12]} != recorded {str(recorded)[:12]}); retrain"
            )
        for key in ("target", "horizon_steps", "quantiles"):
            if key not in meta:
                raise ModelError(f"{paths[METADATA_FILE]} lacks {key!r}")
        try:
            return cls(
                booster=booster,
                spec=spec,
                target=str(meta["target"]),
                horizon_steps=int(meta["horizon_steps"]),
                quantiles=list(meta["quantiles"]),
                metadata={**meta, "content_hash": actual},
                path=d,
            )
        except ModelError as exc:
            raise ModelError(f"{str(d)!r}: {exc}") from None

    def describe(self) -> dict[str, Any]:
        """Short summary for logs and run records."""
        return {
            "target": self.target,
            "horizon_steps": self.horizon_steps,
            "quantiles": self.quantiles,
            "n_features": len(self.feature_names),
            "content_hash": self.content_hash,
            "path": str(self.path) if self.path else None,
        }


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def quantile_columns(quantiles: Sequence[float]) -> list[str]:
    """Column names ``q10``, ``q50``, ... for quantile levels."""
    return [f"q{round(q * 100):02d}" for q in quantiles]
