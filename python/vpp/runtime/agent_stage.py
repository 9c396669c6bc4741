"""The agent stage of :class:`vpp.runtime.processor.BatchProcessor`: battery decisions
per event, turned into dispatch and SoC records.

Two paths give the same decisions:

* with a compiled forecaster (:class:`vpp.pipeline.Pipeline`) the agents are
  attached to it, so features, forecast and decision of every event come from
  ONE native call per batch (``process_decide``);
* without one (no model, a model over other signals, or the XGBoost fallback
  when no C compiler is present) the stage runs :meth:`vpp.agents.AgentSet.run`
  on the batch itself, a second native call, so dispatch never silently
  disappears. A forecaster whose model was trained at another resolution
  stays attached: its forecasts are dropped, but the decisions do not depend
  on them.

Both paths read frequency and price from the processor's signals; without a
``frequency_hz`` (``price_per_mwh``) column the frequency response (trader)
holds, which :meth:`AgentStage.describe` reports. A ``battery_soc_frac``
reading is its site's units' state at that event's time: they take it just
before the event's decision (in the native loop); with
``agents.price_forecaster = "fundamental"`` the batch is cut at each hour's
first event to hand the traders their forecast (:mod:`vpp.runtime.price_plans`).

Sites: the fleet (``battery.units_per_site`` units at every site) covers the
sites given up front: ``vpp run`` passes the telemetry's sites; ``vpp
consume`` the configured ``sites.ids`` (and runs no agents without them:
which sites a partition's first batch happens to carry must not decide the
fleet, its unit ids and each site's share of the contract). Without sites
the stage takes the first batch's, in order of appearance. Events of sites
the fleet does not cover get no decision and are counted
(``undecided_events``), never an error.

Records (written from the same native loop that decides, see
:data:`vpp.pipeline.UNIT_RECORD_KEYS`; unit ids are ``u{index}``, as
:func:`vpp.mcp.fleet.unit_id`):

* dispatch: ``ts_ns, site, unit, power_mw, reason, agent``, one per unit and
  decided event where the unit's power or the site's reason differs from
  that unit's previous record. Each record holds until the next one of its
  unit; held that way, the records of a site's units add up to the site's
  power at every event. With ``agents.dispatch_tolerance_mw`` > 0 a unit is
  recorded only once its power moves more than that from the held record,
  or stops (a change of reason alone is not recorded): each held record is
  then within the tolerance of its unit's power, and an idle unit reads 0.
* soc: ``ts_ns, site, unit, soc_frac, energy_mwh`` (the state after the
  event's step, energy = stored energy in MWh) for every unit at the first
  decided event of its site in each ``agents.soc_record_s`` slot of event
  time, and at each site's last decided event of every batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from vpp.agents import REASONS, AgentSet
from vpp.agents.records import AGENT_OF_REASON
from vpp.agents.settings import AgentSetup, fleet_from_settings, fleet_meta
from vpp.errors import SnapshotError
from vpp.io import Telemetry
from vpp.pipeline import DECISION_KEYS, NO_DECISION, UNIT_RECORD_KEYS
from vpp.runtime.event_order import in_order
from vpp.runtime.price_plans import PricePlans, chunks, merge_decisions
from vpp.schema import BATTERY_SOC

__all__ = ["AgentStage"]

log = logging.getLogger("vpp.runtime")

_REASON_NAMES = np.asarray(REASONS, dtype=object)
_AGENT_NAMES = np.asarray([AGENT_OF_REASON[r] for r in REASONS], dtype=object)


def _unit_id(index: int) -> str:
    # Same ids as vpp.mcp.fleet.unit_id (not imported: that pulls in the MCP stack).
    return f"u{index}"


class AgentStage:
    """Battery agents over a stream of batches (see the module doc).

    Args:
        battery: :class:`vpp.config.BatterySettings` of the fleet.
        agents: :class:`vpp.config.AgentSettings` (contract and trader).
        sites: the sites the fleet covers; None: the sites of the first
            batch (then what the fleet covers depends on how the stream is
            cut into batches: give the sites where that matters).
        default_dt_s: step assumed for a site's first event, s (the data's
            step when known, see :func:`vpp.runtime.event_order.step_s`).
    """

    def __init__(
        self,
        battery: Any,
        agents: Any,
        sites: Sequence[str] | None = None,
        default_dt_s: float = 60.0,
        published: Any = None,
    ) -> None:
        self.battery = battery
        self.published = published  # feed table for the fundamental forecaster
        self.settings = agents
        self.wanted_sites = [str(s) for s in sites] if sites else None
        self.default_dt_s = float(default_dt_s)
        self.setup: AgentSetup | None = None
        self.agents: AgentSet | None = None  # the live set on the standalone path
        self.attached = False
        self.signals: list[str] = []
        self.undecided = 0
        self.dispatch_records = 0
        self.soc_record_s = float(getattr(agents, "soc_record_s", 900.0))
        self.dispatch_tolerance_mw = float(getattr(agents, "dispatch_tolerance_mw", 0.0))
        self._units: dict[str, np.ndarray] | None = None  # per-unit records of the batch
        self._last_ts: dict[str, int] = {}  # standalone path: skip out-of-order events
        self.plans: PricePlans | None = None  # live fundamental price forecasts
        self.soc_readings = 0  # finite battery_soc_frac values handed to the agents

    # -- set-up ------------------------------------------------------------------
    @property
    def _unit_names(self) -> np.ndarray:
        """``u{index}`` of every unit of the fleet, by index."""
        n = len(self.setup.fleet.units) if self.setup is not None else 0
        return np.array([_unit_id(i) for i in range(n)], dtype=object)

    @property
    def sites(self) -> list[str]:
        """The fleet's sites (empty before the first batch when not given)."""
        return list(self.setup.fleet.sites) if self.setup is not None else []

    def start(self, forecaster: Any) -> None:
        """Build the fleet now if its sites are known (else on the first batch)."""
        if self.setup is None and self.wanted_sites:
            self._build(self.wanted_sites, forecaster)

    def prepare(self, batch: Telemetry, signals: Sequence[str], forecaster: Any) -> None:
        """Build the fleet on the first batch if needed (see ``sites``)."""
        self.signals = list(signals)
        if self.setup is None:
            wanted = self.wanted_sites or list(dict.fromkeys(str(s) for s in batch.sites))
            self._build(wanted, forecaster)
        if self.plans is not None:
            PricePlans.check_signals(self.signals)

    def _build(self, wanted: list[str], forecaster: Any) -> None:
        known = list(forecaster.sites) if _attachable(forecaster) else []
        # The agents' site indices must be the engine's: sites it already knows
        # come first, in its order (e.g. a checkpoint from before the agents).
        order = known + [s for s in wanted if s not in known]
        self.setup = fleet_from_settings(
            self.battery, self.settings, order, default_dt_s=self.default_dt_s
        )
        self._start(self.setup.agents, forecaster)

    def _start(self, agents: AgentSet, forecaster: Any) -> None:
        assert self.setup is not None
        arb = self.setup.arbitrage
        if getattr(self.settings, "price_forecaster", "profile") == "fundamental" and arb.enabled:
            scope = getattr(self.settings, "price_forecast_scope", "fleet")
            self.plans = PricePlans(
                self.sites, arb.horizon_steps, arb.plan_step_s, scope, self.published
            )
        if _attachable(forecaster):
            forecaster.attach_agents(agents, sites=self.sites)
            self.attached, self.agents = True, None
        else:
            self.attached, self.agents = False, agents

    def meta(self) -> dict[str, Any] | None:
        """The store's ``fleet_config`` metadata (the shape ``vpp mcp`` reads)."""
        if self.setup is None:
            return None
        return fleet_meta(self.setup.fleet, self.setup.frequency_response)

    # -- decisions ---------------------------------------------------------------
    def process_decide(
        self, forecaster: Any, batch: Telemetry, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Features, forecasts and decisions of the attached path in one native call.

        The per-unit records written in the same loop are kept for :meth:`records`.
        """
        kw = {
            "on_out_of_order": "skip",
            "units": True,
            "soc_record_s": self.soc_record_s,
            "dispatch_tolerance_mw": self.dispatch_tolerance_mw,
        }
        soc = self._measured_soc(batch)
        pieces = self._chunks(batch.ts_ns, batch.sites, values)
        if len(pieces) == 1 and not pieces[0][2]:
            feats, preds, decisions, self._units = forecaster.process_decide(
                batch.ts_ns, values, batch.sites, **kw, soc_frac=soc
            )
            return feats, preds, decisions
        feats_, preds_, parts = [], [], []
        for a, b, plans in pieces:
            for p in plans:  # the hour's forecast, just before its first event
                forecaster.set_price_forecast(p.site, p.ts_ns, p.prices)
            f, pr, d, u = forecaster.process_decide(
                batch.ts_ns[a:b],
                values[a:b],
                batch.sites[a:b],
                **kw,
                soc_frac=None if soc is None else soc[a:b],
            )
            feats_.append(f)
            preds_.append(pr)
            parts.append((a, d, u))
        decisions, self._units = merge_decisions(parts)
        return np.concatenate(feats_), np.concatenate(preds_), decisions

    def _measured_soc(self, batch: Telemetry) -> np.ndarray | None:
        """The batch's measured battery SoC per event (None: no reading in it)."""
        if BATTERY_SOC not in batch.signals:
            return None
        column = batch.values[:, list(batch.signals).index(BATTERY_SOC)]
        readings = int(np.isfinite(column).sum())
        if not readings:
            return None  # the usual case: no copy
        self.soc_readings += readings
        return np.ascontiguousarray(column)

    def _chunks(
        self, ts_ns: np.ndarray, sites: np.ndarray, values: np.ndarray
    ) -> list[tuple[int, int, list[Any]]]:
        """The batch cut before every event that brings a price forecast
        (``sites``: names, or the agents' site indices as integers)."""
        if self.plans is None or not len(ts_ns):
            return [(0, len(ts_ns), [])]
        if sites.dtype.kind not in "iu":
            sites = self._site_index(sites)
        plans = self.plans.plans(ts_ns, sites, values, self.signals)
        return chunks(len(ts_ns), plans)

    def _site_index(self, sites: np.ndarray) -> np.ndarray:
        """The agents' site index of each event (-1: a site outside the fleet)."""
        assert self.setup is not None
        index = {s: i for i, s in enumerate(self.setup.fleet.sites)}
        return np.fromiter((index.get(str(s), -1) for s in sites), np.int64, len(sites))

    def run_alone(self, batch: Telemetry, values: np.ndarray) -> dict[str, np.ndarray]:
        """Decisions of the standalone path, in the shape of ``process_decide``'s."""
        assert self.agents is not None and self.setup is not None
        n = len(batch)
        site_idx = self._site_index(batch.sites)
        keep = (site_idx >= 0) & in_order(batch.ts_ns, batch.sites, self._last_ts)
        col = {s: j for j, s in enumerate(self.signals)}

        def signal(name: str) -> np.ndarray:
            return values[keep, col[name]] if name in col else np.full(int(keep.sum()), np.nan)

        out: dict[str, np.ndarray] = {
            k: np.full(
                n, NO_DECISION if k == "reason" else np.nan, np.uint8 if k == "reason" else float
            )
            for k in DECISION_KEYS
        }
        self._units = None
        if keep.any():
            ts, sites = batch.ts_ns[keep], site_idx[keep]
            freq, price = signal("frequency_hz"), signal("price_per_mwh")
            soc = self._measured_soc(batch)
            soc = None if soc is None else np.ascontiguousarray(soc[keep])
            parts = []
            for a, b, plans in self._chunks(ts, sites, values[keep]):
                for p in plans:  # the hour's forecast, just before its first event
                    self.agents.set_price_forecast(p.site, p.ts_ns, p.prices)
                got = self.agents.run(
                    np.ascontiguousarray(ts[a:b]),
                    np.ascontiguousarray(freq[a:b]),
                    np.ascontiguousarray(price[a:b]),
                    sites=np.ascontiguousarray(sites[a:b]),
                    units=True,
                    soc_record_s=self.soc_record_s,
                    dispatch_tolerance_mw=self.dispatch_tolerance_mw,
                    soc_frac=None if soc is None else soc[a:b],
                )
                parts.append((a, {k: got[k] for k in DECISION_KEYS}, dict(got["units"])))
            decided, merged = merge_decisions(parts)
            for k in DECISION_KEYS:
                out[k][keep] = decided[k]
            # Event indices of the kept events -> indices in the batch.
            where = np.flatnonzero(keep)
            assert merged is not None  # every chunk ran with units=True
            for k in ("dispatch_event", "soc_event"):
                merged[k] = where[merged[k]]
            self._units = merged
        return out

    # -- records -----------------------------------------------------------------
    def records(
        self, batch: Telemetry, decisions: dict[str, np.ndarray], forecaster: Any
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Dispatch and SoC records of a batch's decisions (see the module doc)."""
        reason = np.asarray(decisions["reason"])
        decided = reason != NO_DECISION
        self.undecided += int((~decided).sum())
        units = self._units if self._units is not None else _no_units()
        self._units = None
        ev = np.asarray(units["dispatch_event"], dtype=np.int64)
        codes = np.asarray(units["dispatch_reason"], dtype=np.int64)
        # Per-unit records run to millions per batch with a large fleet: the
        # string columns are taken from a few names by code, in Arrow.
        site_names, site_code = np.unique(batch.sites.astype(str), return_inverse=True)
        dispatch = pd.DataFrame(
            {
                "ts_ns": batch.ts_ns[ev],
                "site": _take(site_names, site_code[ev]),
                "unit": _take(self._unit_names, units["dispatch_unit"]),
                "power_mw": np.asarray(units["dispatch_power_mw"], dtype=np.float64),
                "reason": _take(_REASON_NAMES, codes),
                "agent": _take(_AGENT_NAMES, codes),
            }
        )
        self.dispatch_records += len(dispatch)
        idx = np.flatnonzero(decided)
        sites = batch.sites[idx].astype(str)
        soc = self._soc(batch, units, site_names, site_code, batch.ts_ns[idx], sites, forecaster)
        return dispatch, soc

    def _soc(
        self,
        batch: Telemetry,
        units: dict[str, np.ndarray],
        site_names: np.ndarray,
        site_code: np.ndarray,
        ts_ns: np.ndarray,
        sites: np.ndarray,
        forecaster: Any,
    ) -> pd.DataFrame:
        """Cadence records from the native loop plus each site's state at its last event."""
        assert self.setup is not None
        ev = np.asarray(units["soc_event"], dtype=np.int64)
        cadence = pd.DataFrame(
            {
                "ts_ns": batch.ts_ns[ev],
                "site": _take(site_names, site_code[ev]),
                "unit": _take(self._unit_names, units["soc_unit"]),
                "soc_frac": np.asarray(units["soc_frac"], dtype=np.float64),
                "energy_mwh": np.asarray(units["soc_stored_mwh"], dtype=np.float64),
                "_u": np.asarray(units["soc_unit"], dtype=np.int64),
            }
        )
        last = self._soc_at_end(ts_ns, sites, forecaster)
        if not len(last):
            return cadence.drop(columns="_u")
        both = cadence if not len(cadence) else pd.concat([cadence, last], ignore_index=True)
        # A site's last event may also be a cadence event: the same state, once.
        both = both.drop_duplicates(subset=["ts_ns", "_u"], keep="first")
        both = both.sort_values(["ts_ns", "_u"], kind="stable", ignore_index=True)
        return both.drop(columns="_u")

    def _soc_at_end(self, ts_ns: np.ndarray, sites: np.ndarray, forecaster: Any) -> pd.DataFrame:
        assert self.setup is not None
        fleet = self.setup.fleet
        if self.attached:
            state = forecaster.agent_units()
            soc, stored = np.asarray(state[0]), np.asarray(state[1])
        else:
            assert self.agents is not None
            soc = np.asarray(self.agents.unit_soc())
            stored = soc * np.array([u.energy_mwh for u in fleet.units])
        last_ts = {str(s): int(ts_ns[sites == s].max()) for s in np.unique(sites)}
        index = {s: i for i, s in enumerate(fleet.sites)}
        units = [
            (i, site)
            for site in sorted(last_ts)
            for i, us in enumerate(fleet.unit_sites)
            if us == index[site]
        ]
        return pd.DataFrame(
            {
                "ts_ns": np.array([last_ts[s] for _, s in units], dtype=np.int64),
                "site": np.array([s for _, s in units], dtype=object),
                "unit": np.array([_unit_id(i) for i, _ in units], dtype=object),
                "soc_frac": np.array([soc[i] for i, _ in units], dtype=np.float64),
                "energy_mwh": np.array([stored[i] for i, _ in units], dtype=np.float64),
                "_u": np.array([i for i, _ in units], dtype=np.int64),
            }
        )

    # -- state -------------------------------------------------------------------
    def current_agents(self, forecaster: Any) -> AgentSet | None:
        """A view (standalone) or copy (attached) of the agents' current state."""
        if self.attached:
            return forecaster.agents
        return self.agents

    def state(self, forecaster: Any) -> dict[str, bytes]:
        """Snapshot parts: the agent set's bytes and this stage's own state."""
        if self.setup is None:
            return {}
        blob = forecaster._agents_snapshot() if self.attached else self.agents.snapshot()  # type: ignore[union-attr]
        own = {
            "sites": self.sites,
            "default_dt_s": self.setup.fleet.default_dt_s,
            "undecided": self.undecided,
            "dispatch_records": self.dispatch_records,
            "soc_readings": self.soc_readings,
            "last_ts": self._last_ts,
        }
        plans = self.plans.state() if self.plans is not None else {}
        return {"agents": bytes(blob), "agent_stage": json.dumps(own).encode(), **plans}

    def restore(self, parts: dict[str, bytes], forecaster: Any) -> None:
        """Continue from :meth:`state` parts (none: start afresh on the next batch)."""
        self.setup, self.agents, self.attached = None, None, False
        self.plans = None
        if "agent_stage" not in parts:
            self.start(forecaster)  # a checkpoint from before the agents: start afresh
            return
        if "agents" not in parts:
            raise SnapshotError("processor snapshot has agent-stage state but no agents")
        try:
            own = json.loads(parts["agent_stage"])
            sites, dt = list(own["sites"]), float(own["default_dt_s"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SnapshotError(f"corrupt agent-stage state: {exc}") from None
        self.setup = fleet_from_settings(self.battery, self.settings, sites, default_dt_s=dt)
        agents = AgentSet.restore(parts["agents"])
        if agents.n_units != len(self.setup.fleet.units) or agents.n_sites != len(sites):
            raise SnapshotError(
                f"the checkpoint's fleet ({agents.n_units} units at {agents.n_sites} sites) is not "
                f"the configured one ({len(self.setup.fleet.units)} units at {len(sites)} sites)"
            )
        self.undecided = int(own.get("undecided", 0))
        self.dispatch_records = int(own.get("dispatch_records", 0))
        self.soc_readings = int(own.get("soc_readings", 0))
        self._last_ts = {str(k): int(v) for k, v in own.get("last_ts", {}).items()}
        self._start(agents, forecaster)
        if self.plans is not None:
            self.plans.restore(parts)

    # -- summary -----------------------------------------------------------------
    def describe(self, forecaster: Any) -> dict[str, Any]:
        """Fleet, decisions and figures so far, for run summaries."""
        out: dict[str, Any] = {
            "path": "pipeline" if self.attached else "agents alone",
            "dispatch_records": self.dispatch_records,
            "undecided_events": self.undecided,
        }
        notes = []
        if "frequency_hz" not in self.signals:
            notes.append("no frequency_hz signal: frequency response holds (no response)")
        if "price_per_mwh" not in self.signals and self.settings.arbitrage:
            notes.append("no price_per_mwh signal: the trader holds")
        if notes:
            out["notes"] = notes
        if self.plans is not None:
            out["price_forecaster"] = self.plans.describe()
        agents = self.current_agents(forecaster)
        if self.setup is None or agents is None:
            return out
        fleet, fr = self.setup.fleet, self.setup.frequency_response
        counters = dict(agents.counters)
        throughput = float(agents.throughput_mwh())
        out.update(
            {
                "sites": list(fleet.sites),
                "units": len(fleet.units),
                "power_mw": fleet.power_mw,
                "energy_mwh": fleet.energy_mwh,
                "decided_events": int(counters["events"]),
                "stored_mwh": round(float(agents.stored_mwh()), 6),
                "soc_frac": round(float(agents.stored_mwh()) / fleet.energy_mwh, 6),
                "throughput_mwh": round(throughput, 6),
                "degradation_cost": round(float(agents.degradation_cost()), 6),
                "energy_revenue": round(float(counters["energy_revenue"]), 6),
                "non_finite_frequency": int(counters["non_finite_frequency"]),
                "non_finite_price": int(counters["non_finite_price"]),
                "soc_readings": self.soc_readings,
                "arbitrage": bool(self.setup.arbitrage.enabled),
            }
        )
        if fr.contracted_mw > 0:
            out["frequency_response"] = {
                "contracted_mw": fr.contracted_mw,
                **{k: round(float(v), 6) for k, v in dict(agents.record).items()},
            }
        return out


def _take(names: np.ndarray, codes: np.ndarray) -> Any:
    """``names[codes]`` as a pandas ``str`` array (built in Arrow, no Python strings)."""
    table = pa.array([str(x) for x in names], type=pa.string())
    taken = table.take(pa.array(np.asarray(codes, dtype=np.int64)))
    return pd.array(taken, dtype="str")


def _no_units() -> dict[str, np.ndarray]:
    """Empty per-unit records (a batch nothing was decided in)."""
    return {
        k: np.array([], dtype=np.float64 if k.endswith(("_mw", "_frac", "_mwh")) else np.int64)
        for k in UNIT_RECORD_KEYS
    }


def _attachable(forecaster: Any) -> bool:
    """Whether the agents can run inside ``forecaster``'s native loop."""
    return (
        forecaster is not None
        and bool(getattr(forecaster, "compiled", False))
        and hasattr(forecaster, "process_decide")
    )
