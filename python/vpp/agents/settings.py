"""The fleet and its agents from the operator's settings (``[battery]``, ``[agents]``).

:func:`fleet_from_settings` turns the configuration sections of
:mod:`vpp.config` into the objects the agents run on: ``units_per_site``
identical batteries at every site (round-trip efficiency split evenly between
charge and discharge), the frequency-response contract and the trader.
:func:`fleet_meta` writes the fleet in the JSON shape the MCP server reads
from the store's ``fleet_config`` metadata
(:func:`vpp.mcp.fleet.load_fleet_config`), so that ``vpp mcp`` sees the same
fleet as the pipeline that wrote the records.

Example:
    >>> from vpp.config import AgentSettings, BatterySettings
    >>> setup = fleet_from_settings(
    ...     BatterySettings(units_per_site=2), AgentSettings(contracted_mw=1.0), ["north", "south"]
    ... )
    >>> setup.fleet.unit_sites, setup.fleet.power_mw, setup.agents.n_units
    ((0, 0, 1, 1), 4.0, 4)
    >>> meta = fleet_meta(setup.fleet, setup.frequency_response)
    >>> meta["sites"], meta["frequency_response"]["contracted_mw"]
    (['north', 'south'], 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vpp._core import AgentSet
from vpp.agents.config import (
    ArbitrageConfig,
    BatteryConfig,
    FleetConfig,
    FrequencyResponseConfig,
)

__all__ = ["AgentSetup", "fleet_from_settings", "fleet_meta"]


@dataclass(frozen=True)
class AgentSetup:
    """A fleet, its contract and trader, and a fresh :class:`AgentSet` over them."""

    fleet: FleetConfig
    frequency_response: FrequencyResponseConfig
    arbitrage: ArbitrageConfig
    agents: AgentSet

    def new_agents(self) -> AgentSet:
        """Another fresh agent set over the same configuration."""
        return AgentSet(self.fleet, self.frequency_response, self.arbitrage)


def fleet_from_settings(
    battery: Any,
    agents: Any,
    sites: Sequence[str],
    default_dt_s: float = 60.0,
) -> AgentSetup:
    """Build the fleet and agents that the settings describe.

    Args:
        battery: a :class:`vpp.config.BatterySettings` (or an object with its
            fields): ``units_per_site`` units of ``power_mw`` / ``energy_mwh``
            at every site, round-trip ``efficiency`` split evenly.
        agents: a :class:`vpp.config.AgentSettings`: the frequency-response
            contract (for the whole fleet) and the trader.
        sites: site ids, in the order of the agents' site indices.
        default_dt_s: step assumed for a site's first event, s (the data's
            step, when known).

    Returns:
        The :class:`AgentSetup`.

    Raises:
        vpp.errors.ParameterError: an invalid battery, contract (e.g. more
            contracted power than the fleet has) or trader setting, or no site.
    """
    unit = BatteryConfig.from_round_trip(
        battery.power_mw,
        battery.energy_mwh,
        battery.efficiency,
        soc_min=battery.soc_min,
        soc_max=battery.soc_max,
        start_soc=battery.start_soc,
        derate_band=battery.derate_band,
        degradation_cost_per_mwh=battery.degradation_cost_per_mwh,
    )
    ids = tuple(str(s) for s in sites)
    n = int(battery.units_per_site)
    fleet = FleetConfig(
        units=(unit,) * (n * len(ids)),
        unit_sites=tuple(i for i in range(len(ids)) for _ in range(n)),
        sites=ids,
        default_dt_s=float(default_dt_s),
    )
    fr = FrequencyResponseConfig(
        contracted_mw=agents.contracted_mw,
        nominal_hz=agents.nominal_hz,
        deadband_hz=agents.deadband_hz,
        knee_hz=agents.knee_hz,
        knee_fraction=agents.knee_fraction,
        full_hz=agents.full_hz,
        sustain_s=agents.sustain_s,
    )
    arb = ArbitrageConfig(
        enabled=bool(agents.arbitrage),
        plan_step_s=agents.plan_step_s,
        horizon_steps=int(agents.horizon_steps),
    )
    return AgentSetup(fleet, fr, arb, AgentSet(fleet, fr, arb))


def fleet_meta(
    fleet: FleetConfig, frequency_response: FrequencyResponseConfig | None = None
) -> dict[str, Any]:
    """The fleet as the JSON object of the store's ``fleet_config`` metadata.

    The shape :func:`vpp.mcp.fleet.load_fleet_config` parses: ``units`` (one
    dict of :class:`BatteryConfig` fields each), ``unit_sites``, ``sites``,
    ``default_dt_s`` and, with a contract, ``frequency_response``.
    """
    out: dict[str, Any] = {
        "units": [u.to_dict() for u in fleet.units],
        "unit_sites": list(fleet.unit_sites),
        "sites": list(fleet.sites),
        "default_dt_s": fleet.default_dt_s,
    }
    if frequency_response is not None:
        out["frequency_response"] = frequency_response.to_dict()
    return out
