"""Load a forecasting model directory written by ``vpp train`` for the MCP tools.

The MCP server needs three things from a model: its feature spec (to compute
features with the same engine), quantile predictions for one feature row,
and XGBoost's per-feature contributions. It reads the XGBoost JSON directly
(one booster with several quantiles, or one booster per quantile) with
``nthread=1`` (XGBoost's default threading costs milliseconds per row on a
busy machine); a compiled library would be faster but cannot explain.

Files are recognised by content, not by name: the JSON object with a
``learner`` key is an XGBoost model, the one with ``signals`` and ``lags``
(possibly under ``spec``/``feature_spec``) the feature spec, the one with
``target`` and ``horizon``/``horizon_steps`` the metadata.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vpp.features import FeatureSpec

__all__ = ["LoadedModel", "ModelNotFound", "load_model"]


class ModelNotFound(Exception):
    """The directory holds no usable model (the message says what is missing)."""


@dataclass
class LoadedModel:
    """A model ready for single-row forecasts and explanations."""

    model_id: str
    spec: FeatureSpec
    feature_names: list[str]
    target: str
    horizon_steps: int
    quantiles: list[float]
    boosters: list[Any]  # one multi-quantile booster, or one per quantile
    predicts_change: bool = False
    step_ns: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def history_events(self) -> int:
        """Events of history the feature engine needs for a complete row."""
        longest = max([*self.spec.lags, *self.spec.windows, 1])
        return int(longest) + 16

    def _raw(self, row: np.ndarray) -> np.ndarray:
        x = row.reshape(1, -1).astype(np.float32)
        outs = []
        for b in self.boosters:
            p = np.asarray(b.inplace_predict(x, missing=np.nan), dtype=np.float64).reshape(-1)
            outs.extend(p.tolist())
        return np.asarray(outs)

    def _current(self, record: dict[str, Any]) -> float | None:
        if self.target == "net_load_mw":
            load = record.get("load_mw")
            if load is None or not math.isfinite(float(load)):
                return None
            total = float(load)
            for k in ("solar_mw", "wind_mw"):
                v = record.get(k)
                if v is not None and math.isfinite(float(v)):
                    total -= float(v)
            return total
        v = record.get(self.target)
        return float(v) if v is not None and math.isfinite(float(v)) else None

    def predict_levels(self, row: np.ndarray, record: dict[str, Any]) -> dict[str, Any]:
        """Point (median output) and interval, in levels of the target.

        The interval spans all quantile outputs, so it contains the point
        even when the quantile models cross (``quantiles_crossed`` says so).
        """
        raw = self._raw(row)
        current = self._current(record)
        if self.predicts_change:
            if current is None:
                raise ModelNotFound(f"the latest {self.target} is missing; cannot forecast a level")
            raw = raw + current
        qs = self.quantiles or [0.5]
        out: dict[str, Any] = {"current": current}
        if len(raw) == 1:
            out["point"] = float(raw[0])
            return out
        mid = int(np.argmin([abs(q - 0.5) for q in qs]))
        out["point"] = float(raw[mid])
        out["lower"], out["upper"] = float(raw.min()), float(raw.max())
        out["lower_q"], out["upper_q"] = float(qs[0]), float(qs[-1])
        out["quantiles_crossed"] = bool(np.any(np.diff(raw) < 0))
        return out

    def contributions(self, row: np.ndarray) -> tuple[np.ndarray, float, list[str]]:
        """Per-feature contributions of the median output and the bias term."""
        import xgboost as xgb

        qs = self.quantiles or [0.5]
        mid = int(np.argmin([abs(q - 0.5) for q in qs]))
        booster = self.boosters[mid] if len(self.boosters) > 1 else self.boosters[0]
        d = xgb.DMatrix(
            row.reshape(1, -1).astype(np.float32), missing=np.nan, feature_names=self.feature_names
        )
        c = np.asarray(booster.predict(d, pred_contribs=True))
        if c.ndim == 3:  # (rows, outputs, features + 1) for multi-quantile boosters
            c = c[0, mid if len(self.boosters) == 1 else 0]
        else:
            c = c[0]
        return c[:-1].astype(np.float64), float(c[-1]), list(self.feature_names)

    def explained_quantity(self) -> str:
        """What the contributions add up to, in words."""
        what = (
            f"the change of {self.target} over {self.horizon_steps} step(s)"
            if (self.predicts_change)
            else f"{self.target} {self.horizon_steps} step(s) ahead"
        )
        return f"contributions add up (with the baseline) to the median forecast of {what}"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _spec_from(d: dict[str, Any]) -> FeatureSpec | None:
    for key in ("feature_spec", "spec"):
        if isinstance(d.get(key), dict):
            d = d[key]
            break
    if not ("signals" in d and "lags" in d):
        return None
    known = {"signals", "lags", "windows", "stats", "calendar", "interactions", "diff"}
    return FeatureSpec(**{k: v for k, v in d.items() if k in known})


def load_model(directory: str | Path) -> LoadedModel:
    """Load the model in ``directory`` (see the module doc).

    Raises:
        ModelNotFound: no directory, no XGBoost model, no spec or metadata,
            or feature names that do not match the spec.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ModelNotFound(f"no model directory {d}")
    try:
        import xgboost as xgb
    except ImportError:
        raise ModelNotFound("xgboost is not installed (pip install 'vpp[ml]')") from None
    boosters: list[tuple[str, Any]] = []
    spec: FeatureSpec | None = None
    meta: dict[str, Any] = {}
    digest = hashlib.sha256()
    for path in sorted(d.glob("*.json")):
        doc = _read_json(path)
        if not isinstance(doc, dict):
            continue
        if "learner" in doc:
            b = xgb.Booster()
            b.load_model(str(path))
            b.set_param({"nthread": 1})
            boosters.append((path.stem, b))
            digest.update(path.read_bytes())
            continue
        s = _spec_from(doc)
        if s is not None and spec is None:
            spec = s
        if "target" in doc and ("horizon" in doc or "horizon_steps" in doc):
            meta = doc
            if spec is None:
                spec = _spec_from(doc)
    if not boosters:
        raise ModelNotFound(f"{d}: no XGBoost JSON model")
    if spec is None:
        raise ModelNotFound(f"{d}: no feature spec")
    if not meta:
        raise ModelNotFound(f"{d}: no metadata (target, horizon)")
    quantiles = [float(q) for q in meta.get("quantiles", [])]
    if len(boosters) > 1 and len(quantiles) == len(boosters):
        # One booster per quantile: order them by the quantile in their name when present.
        def q_of(name: str) -> float:
            digits = "".join(ch for ch in name if ch.isdigit() or ch == ".").strip(".")
            try:
                v = float(digits)
                return v / 100 if v > 1 else v
            except ValueError:
                return 0.5

        boosters.sort(key=lambda nb: q_of(nb[0]))
    names = boosters[0][1].feature_names
    from vpp.features import FeatureEngine

    engine_names = list(FeatureEngine(spec).feature_names)
    if names is not None and list(names) != engine_names:
        raise ModelNotFound(
            f"{d}: the model's {len(names)} feature names do not match the spec's "
            f"{len(engine_names)} (retrain with this vpp)"
        )
    mode = str(meta.get("target_mode", meta.get("predicts", ""))).lower()
    predicts_change = bool(meta.get("predicts_change", False)) or mode in {
        "delta",
        "change",
        "diff",
    }
    step = meta.get("step_ns") or (
        int(float(meta["step_s"]) * 1e9) if meta.get("step_s") is not None else None
    )
    return LoadedModel(
        model_id=str(meta.get("hash") or meta.get("content_hash") or digest.hexdigest()[:16]),
        spec=spec,
        feature_names=engine_names,
        target=str(meta["target"]),
        horizon_steps=int(meta.get("horizon_steps", meta.get("horizon", 1))),
        quantiles=quantiles,
        boosters=[b for _, b in boosters],
        predicts_change=predicts_change,
        step_ns=int(step) if step else None,
        meta=meta,
    )
