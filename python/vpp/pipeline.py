"""Raw events in, features and quantile forecasts out, in one native call.

:class:`Pipeline` runs the Rust feature engine and a TL2cgen-compiled model
in the same loop: per event, the feature row is converted to the model's
input layout (missing = the int bit pattern -1), predicted, and the
predicted change added to the current value of the target, so forecasts
are levels, one column per quantile (ascending). Batches release the GIL.

Example:
    >>> from vpp import twin
    >>> from vpp.io import Telemetry
    >>> from vpp.model import TrainConfig, train
    >>> from vpp.pipeline import Pipeline
    >>> tel = Telemetry.from_frame(twin.generate(days=3, resolution="15min", seed=1))
    >>> model = train(tel, horizon_steps=1, config=TrainConfig(n_rounds=5))
    >>> p = Pipeline(None, model)  # compiles on first use, then cached
    >>> feats, preds = p.process(tel.ts_ns[:-1], tel.values[:-1], tel.sites[:-1])
    >>> feats.shape, preds.shape
    ((287, 177), (287, 3))
    >>> row, pred = p.push(int(tel.ts_ns[-1]), tel.values[-1], site="grid")
    >>> bool(pred[0] <= pred[1] <= pred[2])  # 0.1, 0.5, 0.9 quantiles, in MW
    True

With a saved model, ``Pipeline(None, "models/default")`` loads the model
directory (``vpp train --out``) and uses its own feature spec.

The model library is compiled on first use and cached by the model's
content hash (see :mod:`vpp.model.compile`). Without a C compiler (or if
the build fails) the constructor warns and returns a
:class:`vpp.model.fallback.FallbackPipeline` with the same interface that
predicts through XGBoost.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vpp import _core
from vpp.errors import ModelError
from vpp.features import FeatureSpec
from vpp.model.artifact import ForecastModel
from vpp.model.fallback import FallbackPipeline

__all__ = [
    "DECISION_KEYS",
    "NO_DECISION",
    "UNIT_RECORD_KEYS",
    "FallbackPipeline",
    "Pipeline",
    "load_model",
]

#: ``reason`` code of an event the attached agents did not decide (skipped as
#: out of order, or at a site they do not cover); other codes index
#: :data:`vpp.agents.REASONS`.
NO_DECISION: int = int(_core.NO_DECISION)
#: Keys of the decision dicts of :meth:`Pipeline.process_decide` and
#: :meth:`Pipeline.push_decide`.
DECISION_KEYS: tuple[str, ...] = (
    "total_mw",
    "fr_required_mw",
    "fr_delivered_mw",
    "arbitrage_mw",
    "stored_mwh",
    "reason",
)
#: Keys of the per-unit record dicts of ``process_decide(..., units=True)``,
#: ``push_decide(..., units=True)`` and ``AgentSet.run(..., units=True)``:
#: parallel arrays, ``*_event`` the event's index in the batch (int64; 0 for
#: one event), ``*_unit`` the unit index (int64). Dispatch records
#: (``dispatch_power_mw`` float64, ``dispatch_reason`` uint8 codes of
#: :data:`vpp.agents.REASONS`) are kept when a unit's power or its site's
#: reason changes: each holds until the unit's next one. SoC records
#: (``soc_frac``, ``soc_stored_mwh`` float64, the state after the event's
#: step) at the first event of each ``soc_record_s`` slot of event time.
UNIT_RECORD_KEYS: tuple[str, ...] = (
    "dispatch_event",
    "dispatch_unit",
    "dispatch_power_mw",
    "dispatch_reason",
    "soc_event",
    "soc_unit",
    "soc_frac",
    "soc_stored_mwh",
)

log = logging.getLogger("vpp.pipeline")


def load_model(model: ForecastModel | str | Path) -> ForecastModel:
    """A :class:`ForecastModel` from an object or a model directory."""
    if isinstance(model, ForecastModel):
        return model
    if isinstance(model, str | Path):
        return ForecastModel.load(model)
    raise TypeError(
        f"model must be a ForecastModel or a model directory, not {type(model).__name__}"
    )


def _check_spec(spec: FeatureSpec | None, model: ForecastModel) -> FeatureSpec:
    if spec is None:
        return model.spec
    if not isinstance(spec, FeatureSpec):
        raise TypeError(f"spec must be a FeatureSpec or None, not {type(spec).__name__}")
    if spec.feature_names != model.feature_names:
        ours, theirs = spec.feature_names, model.feature_names
        diff = [(i, a, b) for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b][:3]
        raise ModelError(
            f"the feature spec yields {len(ours)} features but the model was trained on "
            f"{len(theirs)}; their names differ"
            + (f" (index, spec, model): {diff}" if diff else "")
            + "; use the model's own spec (spec=None)"
        )
    return spec


class Pipeline(_core.Pipeline):
    """Feature engine + compiled quantile model, event by event.

    Args:
        spec: the feature spec; must yield the model's feature names. None
            uses the model's own spec.
        model: a :class:`vpp.model.ForecastModel` or a model directory.
        compiled: True requires the compiled path (raise if unavailable),
            False forces the XGBoost fallback, None (default) falls back
            with a warning.
        flags: compiler flags (default: the tuned choice recorded for this
            model, else :data:`vpp.model.compile.DEFAULT_FLAGS`).

    Methods (from the Rust core):
        ``push(ts_ns, values, site="grid") -> (features, forecast)`` for one
        event; ``process(ts_ns, values, sites=None, on_out_of_order="raise")
        -> (features (n, n_features), forecasts (n, n_quantiles))`` for a
        batch, equal to a loop of ``push`` (skipped out-of-order events get
        NaN rows); ``snapshot() -> bytes`` (engine state; with
        :meth:`restore` and pickle for checkpoints). Contiguous inputs are
        read in place while the GIL is released: do not mutate them from
        another thread meanwhile.

        With agents attached (:meth:`attach_agents`):
        ``process_decide(ts_ns, values, sites=None, on_out_of_order="raise")
        -> (features, forecasts, decisions)``, where ``decisions`` maps each
        of :data:`DECISION_KEYS` to an array with one entry per event
        (``total_mw`` positive = discharge, ``fr_required_mw``,
        ``fr_delivered_mw``, ``arbitrage_mw``, ``stored_mwh`` of the site
        after the step, float64; ``reason`` uint8 codes of
        :data:`vpp.agents.REASONS`); events the agents do not decide (skipped
        out of order, or at a site they do not cover) get NaN and reason
        :data:`NO_DECISION` instead of failing the batch. It is one native
        call: features, forecast and decision per event in the same loop,
        equal to a loop of ``push_decide(ts_ns, values, site) -> (features,
        forecast, decision dict of scalars)`` and to
        :meth:`vpp.agents.AgentSet.run` over the decided events. With
        ``units=True`` (and ``soc_record_s``, default 900) both return a
        fourth item, the thinned per-unit dispatch and SoC records of the
        same loop (:data:`UNIT_RECORD_KEYS`); what each unit last recorded is
        part of the agents' state, so a restored snapshot continues alike.

    Raises:
        vpp.errors.ModelError: bad model files, a spec whose feature names do
            not match the model, or a library that does not fit.
    """

    compiled = True
    model: ForecastModel

    def __new__(
        cls,
        spec: FeatureSpec | None = None,
        model: ForecastModel | str | Path | None = None,
        *,
        compiled: bool | None = None,
        flags: list[str] | None = None,
        _state: bytes | None = None,
    ) -> Any:
        from vpp.model.compile import CompilerUnavailable, compile_model

        if model is None:
            raise TypeError("Pipeline needs a model (a ForecastModel or a model directory)")
        fm = load_model(model)
        spec = _check_spec(spec, fm)
        if compiled is False:
            return _fallback(spec, fm, _state)
        try:
            lib = compile_model(fm, flags=flags)
        except (CompilerUnavailable, ModelError, OSError) as exc:
            if compiled:
                raise
            warnings.warn(
                f"no compiled model ({exc}); forecasting through XGBoost inplace_predict "
                "instead, which is much slower per event",
                RuntimeWarning,
                stacklevel=2,
            )
            return _fallback(spec, fm, _state)
        obj = super().__new__(cls, spec, str(lib.path), fm.target, _state=_state)
        obj.model = fm
        obj.build = lib
        return obj

    @property
    def spec(self) -> FeatureSpec:
        """The feature spec."""
        return self.model.spec

    @property
    def quantiles(self) -> list[float]:
        """Quantile level of each forecast column."""
        return list(self.model.quantiles)

    def attach_agents(self, agents: Any, sites: Sequence[str] | None = None) -> None:
        """Let battery agents decide every event right after its forecast.

        The pipeline takes a copy of ``agents`` (a :class:`vpp.agents.AgentSet`)
        and, in :meth:`process_decide` / :meth:`push_decide`, calls its
        per-event decision in the same native loop (frequency and price from
        the spec's signals). Agent state is not part of :meth:`snapshot`;
        read it back with :attr:`agents`.

        Args:
            agents: the agent set.
            sites: the agents' site ids in their index order (default: the
                ``sites`` of the fleet config it was built from, or ``["grid"]``).

        Raises:
            ValueError: the site count does not match the agents, or the
                pipeline has already seen other sites first.
        """
        if sites is None:
            sites = list(getattr(getattr(agents, "fleet", None), "sites", None) or ["grid"])
        self._attach_agents(bytes(agents.snapshot()), list(sites))

    def agent_units(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(soc_frac, stored_mwh)`` of every unit of the attached agents, or None.

        Cheap (two small arrays, no snapshot): meant to be read after every
        batch, e.g. for SoC records.
        """
        return self._agent_units()

    @property
    def agents(self) -> Any:
        """A copy of the attached agents' current state (None if none)."""
        blob = self._agents_snapshot()
        if blob is None:
            return None
        from vpp.agents import AgentSet

        return AgentSet.restore(blob)

    @classmethod
    def restore(cls, blob: bytes, model: ForecastModel | str | Path) -> Pipeline:
        """A pipeline over ``model`` continuing from :meth:`snapshot` bytes."""
        return cls(None, model, _state=bytes(blob))

    def __reduce__(self) -> tuple[Any, ...]:
        if self.model.path is None:
            raise ModelError("only a pipeline over a saved model (a model directory) pickles")
        return (_restore, (str(self.model.path), bytes(self.snapshot())))

    def describe(self) -> dict[str, Any]:
        """Model and build summary, for run records."""
        return {
            "compiled": True,
            "library": self.library,
            "flags": self.build.flags,
            **self.model.describe(),
        }


def _fallback(spec: FeatureSpec, model: ForecastModel, state: bytes | None) -> FallbackPipeline:
    from vpp.features import FeatureEngine

    engine = FeatureEngine.restore(state) if state is not None else None
    return FallbackPipeline(spec, model, engine)


def _restore(model_dir: str, blob: bytes) -> Pipeline:
    return Pipeline.restore(blob, model_dir)
