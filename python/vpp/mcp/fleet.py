"""The battery fleet as the MCP server sees it: state from the store, plans, execution.

The SoC of every unit is persistent and shared with the pipeline: it is read
from the store's ``soc`` table (latest record per unit) and, for units without
a record, taken from the configured ``start_soc``. Plans are dry runs on
copies of the units (:class:`vpp.agents.Battery`, the Rust battery model) in
steps of ``step_s``, splitting the set-point across a site's units by
headroom as the fleet allocator does; execution runs the same simulation on
the live units and writes dispatch and SoC records to the store.

Unit ids are the pipeline's ``u<i>`` unless the server runs its own fleet
(``unit_prefix``, see :mod:`vpp.mcp.fleet_identity`); the store's SoC is
used only when the caller says the fleet is the one that wrote it
(``use_store_soc``).

Frequency-response reserve: when the fleet holds a contract
(``FrequencyResponseConfig.contracted_mw``), each site keeps a share of it
proportional to its discharge rating, as power each way and as energy for
``sustain_s``; manual dispatch may not use it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from vpp.agents import Battery, BatteryConfig, FleetConfig, FrequencyResponseConfig
from vpp.errors import ParameterError
from vpp.io.store import Store

__all__ = ["MCP_AGENT", "FleetModel", "load_fleet_config", "unit_id"]

#: ``agent`` column of dispatch records written by the MCP server.
MCP_AGENT = "mcp"
#: Relative slack when comparing delivered with requested power.
_TOL = 1e-6


def unit_id(index: int, prefix: str = "") -> str:
    """Id of unit ``index`` in dispatch and SoC records (``u<i>``, as the pipeline's)."""
    return f"{prefix}u{index}"


def _battery(d: dict[str, Any]) -> BatteryConfig:
    known = {f.name for f in fields(BatteryConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ParameterError(f"fleet config: unknown battery fields {unknown}")
    return BatteryConfig(**d)


def load_fleet_config(
    source: str | Path | dict[str, Any] | None, default_sites: list[str] | None = None
) -> tuple[FleetConfig, FrequencyResponseConfig]:
    """Build the fleet and its frequency-response contract from JSON.

    Accepted shapes (a file path or an already parsed dict)::

        {"units": [{"energy_mwh": 4, "max_discharge_mw": 2, ...}, ...],
         "unit_sites": [0, 1], "sites": ["north", "south"], "default_dt_s": 60,
         "frequency_response": {"contracted_mw": 1.0}}
        {"uniform": {"n_units": 10, "battery": {...}, "sites": ["grid"]},
         "frequency_response": {...}}

    ``None`` gives one default battery per site of ``default_sites``.

    Raises:
        ParameterError: unreadable JSON or a field out of range.
    """
    if source is None:
        sites = list(default_sites or ["grid"])
        return FleetConfig.uniform(len(sites), sites=sites), FrequencyResponseConfig()
    if isinstance(source, dict):
        data = source
    else:
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ParameterError(f"fleet config {source}: {exc}") from None
    if not isinstance(data, dict):
        raise ParameterError("fleet config: expected a JSON object")
    fr = FrequencyResponseConfig(**data.get("frequency_response", {}))
    if "uniform" in data:
        u = dict(data["uniform"])
        battery = _battery(u.pop("battery", {}))
        return FleetConfig.uniform(battery=battery, **u), fr
    units = tuple(_battery(dict(b)) for b in data.get("units", [{}]))
    return (
        FleetConfig(
            units=units,
            unit_sites=tuple(data.get("unit_sites", ())),
            sites=tuple(data.get("sites", default_sites or ("grid",))),
            default_dt_s=float(data.get("default_dt_s", 60.0)),
        ),
        fr,
    )


@dataclass
class Simulation:
    """Outcome of running a site's units at a set-point for a while."""

    steps: list[list[float]]  # per step, per site unit: power delivered, MW
    delivered_mwh: float
    shortfall_mw: float  # largest step shortfall against the request
    units: list[Battery]


class FleetModel:
    """Fleet state, limits, dry runs and execution for the MCP tools.

    Args:
        store: where SoC is read from and dispatch/SoC records go.
        config: the fleet.
        frequency_response: its frequency-response contract (for the reserve).
        step_s: simulation step of plans and executions, s.
        unit_prefix: prefix of the unit ids (``""``: the pipeline's ``u<i>``).
    """

    def __init__(
        self,
        store: Store,
        config: FleetConfig,
        frequency_response: FrequencyResponseConfig | None = None,
        step_s: float = 60.0,
        unit_prefix: str = "",
    ) -> None:
        self.store = store
        self.unit_prefix = unit_prefix
        self.config = config
        self.fr = frequency_response or FrequencyResponseConfig()
        self.step_s = float(step_s)

    # -- state ----------------------------------------------------------------
    def site_units(self, site: str) -> list[int]:
        """Unit indices at ``site``; ParameterError naming the known sites."""
        s = self.config.site_index(site)
        return [i for i, us in enumerate(self.config.unit_sites) if us == s]

    def uid(self, index: int) -> str:
        """Id of unit ``index`` in this server's records."""
        return unit_id(index, self.unit_prefix)

    def load_units(self, use_store_soc: bool = True) -> tuple[list[Battery], dict[int, str]]:
        """Fresh unit models at their latest SoC; returns (units, SoC source per unit).

        With ``use_store_soc=False`` every unit starts from its configured
        ``start_soc`` (the store's records belong to another fleet).
        """
        latest = self.store.soc_latest() if use_store_soc else None
        soc_of: dict[tuple[str, str], float] = {}
        if latest is not None and len(latest):
            for site, unit, soc in zip(
                latest["site"], latest["unit"], latest["soc_frac"], strict=True
            ):
                if soc is not None and math.isfinite(float(soc)):
                    soc_of[(str(site), str(unit))] = float(soc)
        units: list[Battery] = []
        source: dict[int, str] = {}
        for i, (cfg, s) in enumerate(zip(self.config.units, self.config.unit_sites, strict=True)):
            b = Battery(cfg)
            key = (self.config.sites[s], self.uid(i))
            if key in soc_of:
                b.set_soc(soc_of[key])
                source[i] = "store"
            else:
                source[i] = "config start_soc"
            units.append(b)
        return units, source

    def reserve(self, site: str) -> tuple[float, float]:
        """Frequency-response reserve of a site: (power MW each way, energy MWh each way)."""
        total = self.config.power_mw
        if self.fr.contracted_mw <= 0 or total <= 0:
            return 0.0, 0.0
        rating = sum(self.config.units[i].max_discharge_mw for i in self.site_units(site))
        mw = self.fr.contracted_mw * rating / total
        return mw, mw * self.fr.sustain_s / 3600.0

    def status(self, use_store_soc: bool = True) -> dict[str, Any]:
        """Per-unit and per-site SoC, available power and energy, and reserve."""
        units, source = self.load_units(use_store_soc)
        dt = self.step_s
        rows = []
        for i, b in enumerate(units):
            rows.append(
                {
                    "unit": self.uid(i),
                    "site": self.config.sites[self.config.unit_sites[i]],
                    "soc_frac": round(b.soc, 6),
                    "stored_mwh": round(b.stored_mwh, 6),
                    "energy_capacity_mwh": self.config.units[i].energy_mwh,
                    "available_up_mw": round(b.available_discharge_mw(dt), 6),
                    "available_down_mw": round(b.available_charge_mw(dt), 6),
                    "available_up_mwh": round(b.available_discharge_energy_mwh, 6),
                    "available_down_mwh": round(b.available_charge_energy_mwh, 6),
                    "soc_source": source[i],
                }
            )
        sites = []
        for site in self.config.sites:
            idx = self.site_units(site)
            res_mw, res_mwh = self.reserve(site)
            cap = sum(self.config.units[i].energy_mwh for i in idx)
            stored = sum(units[i].stored_mwh for i in idx)
            sites.append(
                {
                    "site": site,
                    "units": len(idx),
                    "soc_frac": round(stored / cap, 6) if cap > 0 else None,
                    "stored_mwh": round(stored, 6),
                    "available_up_mw": round(sum(rows[i]["available_up_mw"] for i in idx), 6),
                    "available_down_mw": round(sum(rows[i]["available_down_mw"] for i in idx), 6),
                    "available_up_mwh": round(sum(rows[i]["available_up_mwh"] for i in idx), 6),
                    "available_down_mwh": round(sum(rows[i]["available_down_mwh"] for i in idx), 6),
                    "reserved_mw": round(res_mw, 6),
                    "reserved_mwh": round(res_mwh, 6),
                }
            )
        cap = self.config.energy_mwh
        stored = sum(b.stored_mwh for b in units)

        def total(key: str) -> float:
            return round(sum(s[key] for s in sites), 6)

        return {
            "fleet": {
                "units": len(units),
                "soc_frac": round(stored / cap, 6) if cap > 0 else None,
                "stored_mwh": round(stored, 6),
                "energy_capacity_mwh": cap,
                "power_rating_mw": self.config.power_mw,
                "available_up_mw": total("available_up_mw"),
                "available_down_mw": total("available_down_mw"),
                "available_up_mwh": total("available_up_mwh"),
                "available_down_mwh": total("available_down_mwh"),
                "reserved_mw": total("reserved_mw"),
                "reserved_mwh": total("reserved_mwh"),
                "frequency_response_contract_mw": self.fr.contracted_mw,
                "availability_step_s": dt,
            },
            "sites": sites,
            "units": rows,
        }

    # -- plans ------------------------------------------------------------------
    def _simulate(
        self, units: list[Battery], idx: list[int], power_mw: float, duration_s: float
    ) -> Simulation:
        """Run the site's units at ``power_mw`` for ``duration_s``, split by headroom."""
        n_steps = max(1, math.ceil(duration_s / self.step_s - 1e-9))
        dt = duration_s / n_steps
        discharge = power_mw > 0
        want = abs(power_mw)
        steps: list[list[float]] = []
        delivered_mwh, shortfall = 0.0, 0.0
        for _ in range(n_steps):
            head = [
                units[i].available_discharge_mw(dt)
                if discharge
                else units[i].available_charge_mw(dt)
                for i in idx
            ]
            room = sum(head)
            frac = min(want / room, 1.0) if room > 0 else 0.0
            sign = 1.0 if discharge else -1.0
            got = [units[i].apply(sign * frac * h, dt) for i, h in zip(idx, head, strict=True)]
            steps.append(got)
            step_total = sum(got)
            delivered_mwh += step_total * dt / 3600.0
            shortfall = max(shortfall, want - abs(step_total))
        return Simulation(steps, delivered_mwh, shortfall, units)

    def plan(
        self, site: str, power_mw: float, duration_min: float, max_dispatch_mw: float | None
    ) -> dict[str, Any]:
        """Dry run of holding ``power_mw`` (positive = discharge) at ``site`` for ``duration_min``.

        Returns a dict with ``feasible``, the ``binding_limits`` (each with
        name, limit and requested value), the available power and energy,
        the per-unit split and the expected SoC after.
        """
        idx = self.site_units(site)
        units, _ = self.load_units()
        duration_s = duration_min * 60.0
        hours = duration_s / 3600.0
        discharge = power_mw >= 0
        res_mw, res_mwh = self.reserve(site)
        if discharge:
            power_limit = sum(units[i].available_discharge_mw(0.0) for i in idx)
            energy = sum(units[i].available_discharge_energy_mwh for i in idx)
        else:
            power_limit = sum(units[i].available_charge_mw(0.0) for i in idx)
            energy = sum(units[i].available_charge_energy_mwh for i in idx)
        power_avail = max(power_limit - res_mw, 0.0)
        energy_avail = max(energy - res_mwh, 0.0)
        want = abs(power_mw)
        limits: list[dict[str, Any]] = []

        def bind(name: str, limit: float, requested: float, unit: str, why: str) -> None:
            limits.append(
                {
                    "limit": name,
                    "available": round(limit, 6),
                    "requested": round(requested, 6),
                    "unit": unit,
                    "detail": why,
                }
            )

        if max_dispatch_mw is not None and want > max_dispatch_mw * (1 + _TOL):
            bind(
                "max_dispatch_mw",
                max_dispatch_mw,
                want,
                "MW",
                "above the server's configured maximum",
            )
        if want > power_avail * (1 + _TOL) + 1e-9:
            bind(
                "power",
                power_avail,
                want,
                "MW",
                f"{'discharge' if discharge else 'charge'} rating of the site's units"
                + (f" less {res_mw:.3f} MW reserved for frequency response" if res_mw else ""),
            )
        if want * hours > energy_avail * (1 + _TOL) + 1e-9:
            bind(
                "energy",
                energy_avail,
                want * hours,
                "MWh",
                ("energy above the minimum SoC" if discharge else "room below the maximum SoC")
                + (f" less {res_mwh:.3f} MWh reserved for frequency response" if res_mwh else ""),
            )
        before = [units[i].soc for i in idx]
        sim = self._simulate(units, idx, power_mw, duration_s)
        if not limits and sim.shortfall_mw > max(want * _TOL, 1e-9):
            bind(
                "soc_derating",
                want - sim.shortfall_mw,
                want,
                "MW",
                "power derates near the SoC bounds before the end of the period",
            )
        first = sim.steps[0] if sim.steps else [0.0] * len(idx)
        return {
            "site": site,
            "power_mw": power_mw,
            "duration_min": duration_min,
            "direction": "discharge" if discharge else "charge",
            "feasible": not limits,
            "binding_limits": limits,
            "available_power_mw": round(power_avail, 6),
            "available_energy_mwh": round(energy_avail, 6),
            "reserved_mw": round(res_mw, 6),
            "reserved_mwh": round(res_mwh, 6),
            "expected_energy_mwh": round(sim.delivered_mwh, 6),
            "units": [
                {
                    "unit": self.uid(i),
                    "power_mw": round(p, 6),
                    "soc_before": round(b0, 6),
                    "soc_after": round(units[i].soc, 6),
                }
                for i, p, b0 in zip(idx, first, before, strict=True)
            ],
            "site_soc_after": round(
                sum(units[i].stored_mwh for i in idx)
                / sum(self.config.units[i].energy_mwh for i in idx),
                6,
            ),
        }

    def execute(self, site: str, power_mw: float, duration_min: float) -> dict[str, Any]:
        """Run the dispatch on the unit models and write dispatch + SoC records.

        The caller checks feasibility first (:meth:`plan`). Records: one
        dispatch row per unit at the start (and whenever its power changes
        from one step to the next), a zero row per unit at the end, and a SoC
        row per unit at the end (the state the next plan starts from).
        """
        idx = self.site_units(site)
        units, _ = self.load_units()
        duration_s = duration_min * 60.0
        t0 = time.time_ns()
        before = {i: units[i].soc for i in idx}
        sim = self._simulate(units, idx, power_mw, duration_s)
        n_steps = len(sim.steps)
        dt_ns = round(duration_s * 1e9 / n_steps)
        t_end = t0 + round(duration_s * 1e9)
        recs: dict[str, list[Any]] = {
            k: [] for k in ("ts_ns", "site", "unit", "power_mw", "reason", "agent")
        }

        def add(ts: int, i: int, p: float, reason: str) -> None:
            recs["ts_ns"].append(ts)
            recs["site"].append(site)
            recs["unit"].append(self.uid(i))
            recs["power_mw"].append(p)
            recs["reason"].append(reason)
            recs["agent"].append(MCP_AGENT)

        for k, i in enumerate(idx):
            last = None
            for s, step in enumerate(sim.steps):
                if last is None or abs(step[k] - last) > 1e-9:
                    add(t0 + s * dt_ns, i, step[k], "operator dispatch (mcp)")
                    last = step[k]
            add(t_end, i, 0.0, "operator dispatch end (mcp)")
        self.store.write_dispatch(recs)
        self.store.write_soc(
            {
                "ts_ns": [t_end] * len(idx),
                "site": [site] * len(idx),
                "unit": [self.uid(i) for i in idx],
                "soc_frac": [units[i].soc for i in idx],
                "energy_mwh": [units[i].stored_mwh for i in idx],
            }
        )
        return {
            "executed": True,
            "site": site,
            "power_mw": power_mw,
            "duration_min": duration_min,
            "start_ts_ns": t0,
            "end_ts_ns": t_end,
            "delivered_mwh": round(sim.delivered_mwh, 6),
            "dispatch_records": len(recs["ts_ns"]),
            "units": [
                {
                    "unit": self.uid(i),
                    "power_mw": round(sim.steps[0][k], 6),
                    "soc_before": round(before[i], 6),
                    "soc_after": round(units[i].soc, 6),
                }
                for k, i in enumerate(idx)
            ],
        }
