"""Forecasts and their explanations for the MCP tools.

Live path (a model is available): the site's recent telemetry from the store
goes through a fresh :class:`vpp.FeatureEngine` built from the model's own
feature spec (the same engine the pipeline and training use, so no skew),
and the last feature row is predicted with the model's quantiles. The
explanation uses XGBoost's per-feature contributions (``pred_contribs``) of
the median model, in plain words.

Fallback (no model): the latest forecast the pipeline wrote to the store.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from vpp.io.store import Store
from vpp.mcp.grid import iso
from vpp.mcp.model_adapter import LoadedModel, ModelNotFound, current_value, load_model

__all__ = ["ForecastService", "ForecastUnavailable"]

log = logging.getLogger("vpp.mcp")

#: Where ``vpp train`` puts the shipped model (relative to the working directory).
DEFAULT_MODEL_DIR = Path("models") / "default"


class ForecastUnavailable(Exception):
    """No model could be loaded and the store holds no forecast for the request."""


def _default_model_dirs(store: Store) -> list[Path]:
    dirs: list[Path] = []
    meta = store.get_meta("model")
    if isinstance(meta, dict):
        meta = meta.get("path") or meta.get("dir")
    if isinstance(meta, str) and meta:
        dirs.append(Path(meta))
    dirs.append(DEFAULT_MODEL_DIR)
    # The repository's models/default when running from a source checkout.
    dirs.append(Path(__file__).resolve().parents[3] / "models" / "default")
    return dirs


#: Unit of a feature value by name fragment, first match wins.
_FEATURE_UNITS: tuple[tuple[str, str], ...] = (
    ("_per_h", " MW/h"),
    ("renewable_share", ""),
    ("price_per_mwh", " per MWh"),
    ("_mw", " MW"),
    ("_hz", " Hz"),
    ("temperature_c", " °C"),
)


def _feature_unit(name: str) -> str:
    for fragment, unit in _FEATURE_UNITS:
        if fragment in name:
            return unit
    return ""


def _fmt(v: float) -> str:
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:,.2f}"
    return f"{v:.4g}"


class ForecastService:
    """Loads the model once (lazily, thread-safe) and answers forecast requests.

    Args:
        store: telemetry source and forecast fallback.
        model_dir: the model directory; ``None`` tries the store's ``model``
            metadata, ``./models/default`` and the source tree's ``models/default``.
    """

    def __init__(self, store: Store, model_dir: str | None = None) -> None:
        self.store = store
        self.model_dir = model_dir
        self._lock = threading.Lock()
        self._model: LoadedModel | None = None
        self._why_not: str | None = None
        self._tried = False
        self._run_lock = threading.Lock()

    def model(self) -> LoadedModel | None:
        """The loaded model, or None (then :attr:`why_not` says why)."""
        with self._lock:
            if not self._tried:
                self._tried = True
                dirs = [Path(self.model_dir)] if self.model_dir else _default_model_dirs(self.store)
                reasons = []
                for d in dirs:
                    try:
                        self._model = load_model(d)
                        log.info("forecast model %s from %s", self._model.model_id, d)
                        break
                    except ModelNotFound as exc:
                        reasons.append(str(exc))
                self._why_not = None if self._model else "; ".join(reasons)
            return self._model

    @property
    def why_not(self) -> str | None:
        """Why no model is loaded (None when one is)."""
        return self._why_not

    # -- live features -----------------------------------------------------------
    def _live(self, model: LoadedModel, site: str) -> dict[str, Any]:
        """Run a fresh pipeline over the site's recent telemetry; the last event's outputs."""
        frame = self.store.telemetry_range(site=site, last=model.history_events())
        if frame.empty:
            raise ForecastUnavailable(f"no telemetry for site {site!r}")
        signals = list(model.spec.signals)
        missing = [s for s in signals if s not in frame]
        if missing:
            raise ForecastUnavailable(f"the model needs signals {missing} the store does not hold")
        ts = frame["ts_ns"].to_numpy(dtype=np.int64)
        values = np.ascontiguousarray(frame[signals].to_numpy(dtype=np.float64))
        with self._run_lock:  # the first run may compile the model library
            row, levels, compiled = model.run(ts, values)
        record = frame.iloc[-1].to_dict()
        return {
            "ts_ns": int(ts[-1]),
            "row": row,
            "levels": levels,
            "compiled": compiled,
            "current": current_value(model.target, record),
            "events_used": len(frame),
        }

    # -- tools ---------------------------------------------------------------------
    def forecast(self, site: str, horizon_steps: int | None) -> dict[str, Any]:
        """Point forecast and interval for ``site`` (see the module doc)."""
        model = self.model()
        if model is not None:
            if horizon_steps is not None and horizon_steps != model.horizon_steps:
                raise ForecastUnavailable(
                    f"the model forecasts {model.horizon_steps} step(s) ahead; "
                    f"horizon_steps={horizon_steps} is not available (omit it or pass "
                    f"{model.horizon_steps})"
                )
            live = self._live(model, site)
            levels = live["levels"]
            qs = model.quantiles
            mid = int(np.argmin([abs(q - 0.5) for q in qs]))
            step_ns = self._step_ns(site)
            ts = live["ts_ns"]
            return {
                "site": site,
                "source": "model",
                "model": model.model_id,
                "compiled": live["compiled"],
                "target": model.target,
                "issued_at": iso(ts),
                "horizon_steps": model.horizon_steps,
                "target_time": iso(ts + model.horizon_steps * step_ns) if step_ns else None,
                "point": _r(levels[mid]),
                "lower": _r(levels[0]) if len(levels) > 1 else None,
                "upper": _r(levels[-1]) if len(levels) > 1 else None,
                "lower_q": qs[0] if len(qs) > 1 else None,
                "upper_q": qs[-1] if len(qs) > 1 else None,
                "current": _r(live["current"]),
                "events_used": live["events_used"],
            }
        frame = self.store.latest_forecast(site, "net_load_mw", horizon_steps)
        if frame.empty:
            raise ForecastUnavailable(
                f"no forecast available: no model loaded ({self.why_not}) and the store has no "
                f"net_load_mw forecast for site {site!r}"
                + (f" at horizon {horizon_steps}" if horizon_steps else "")
            )
        rows = []
        for rec in frame.to_dict("records"):
            rows.append(
                {
                    "horizon_steps": int(rec["horizon_steps"]),
                    "target_time": iso(rec.get("target_ts_ns")),
                    "point": _r(rec.get("point")),
                    "lower": _r(rec.get("lower")),
                    "upper": _r(rec.get("upper")),
                    "lower_q": rec.get("lower_q"),
                    "upper_q": rec.get("upper_q"),
                }
            )
        first = frame.iloc[0]
        return {
            "site": site,
            "source": "store (latest forecast written by the pipeline)",
            "model": first.get("model"),
            "target": "net_load_mw",
            "issued_at": iso(int(first["ts_ns"])),
            **rows[0],
            "all_horizons": rows if len(rows) > 1 else None,
        }

    def explain(self, site: str, top_k: int) -> dict[str, Any]:
        """The ``top_k`` features moving the current forecast most, in words."""
        model = self.model()
        if model is None:
            raise ForecastUnavailable(
                f"explanations need the XGBoost model, which is not available: {self.why_not}"
            )
        live = self._live(model, site)
        row = live["row"]
        contribs, bias = model.contributions(row)
        names = model.feature_names
        order = np.argsort(-np.abs(contribs))[:top_k]
        unit = " MW" if model.target.endswith("_mw") else ""
        drivers = []
        for j in order:
            c = float(contribs[j])
            v = float(row[j])
            value = "missing" if not math.isfinite(v) else _fmt(v) + _feature_unit(names[j])
            drivers.append(
                {
                    "feature": names[j],
                    "value": round(v, 4) if math.isfinite(v) else None,
                    "contribution": round(c, 4),
                    "text": f"{names[j]} = {value} pushes the forecast "
                    f"{'up' if c >= 0 else 'down'} by {_fmt(abs(c))}{unit}",
                }
            )
        current = live["current"]
        change = bias + float(contribs.sum())
        rest = float(contribs.sum() - contribs[order].sum())
        return {
            "site": site,
            "model": model.model_id,
            "target": model.target,
            "issued_at": iso(live["ts_ns"]),
            "horizon_steps": model.horizon_steps,
            "current": _r(current),
            "baseline_change": round(bias, 4),
            "forecast_change": round(change, 4),
            "forecast": _r(current + change) if current is not None else None,
            "how_to_read": (
                f"forecast = current {model.target} + baseline_change + the sum of all feature "
                "contributions (median quantile; XGBoost pred_contribs)"
            ),
            "drivers": drivers,
            "other_features_total": round(rest, 4),
            "summary": "; ".join(d["text"] for d in drivers[:3]),
        }

    def _step_ns(self, site: str) -> int | None:
        frame = self.store.telemetry_range(site=site, last=50)
        if len(frame) < 2:
            return None
        return int(np.median(np.diff(frame["ts_ns"].to_numpy(dtype=np.int64))))


def _r(v: Any, nd: int = 3) -> float | None:
    if v is None:
        return None
    f = float(v)
    return round(f, nd) if math.isfinite(f) else None
