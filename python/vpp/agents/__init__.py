"""Battery fleet agents: frequency response and arbitrage, judged against the
physics (the twin's closed loop) and the optimum (a perfect-foresight oracle).

The per-event logic runs in the Rust core (:class:`AgentSet`): one call per
event decides the frequency response (droop with deadband and knee, default
GB Dynamic Containment) and the trading power (rolling-horizon dynamic
program on a price forecast) for every battery of a site, splitting the
set-point across units by headroom. Power is positive for discharge.

Example:
    >>> from vpp.agents import AgentSet, FleetConfig, FrequencyResponseConfig
    >>> fleet = FleetConfig.uniform(10)
    >>> agents = AgentSet(fleet, FrequencyResponseConfig(contracted_mw=5.0))
    >>> round(agents.decide(60_000_000_000, 0, 49.5, 80.0), 6)  # low frequency: discharge
    5.0
    >>> agents.last_decision["reason"]
    'frequency_response'
"""

from vpp._core import AGENT_REASONS, AgentSet, Battery, droop_response
from vpp.agents.config import (
    ArbitrageConfig,
    BatteryConfig,
    FleetConfig,
    FrequencyResponseConfig,
)
from vpp.agents.oracle import OracleLimits, OracleResult, oracle_dp, oracle_lp, schedule_profit
from vpp.agents.settings import AgentSetup, fleet_from_settings, fleet_meta

#: Names of the ``reason`` codes in :meth:`AgentSet.run` output, by code.
REASONS: tuple[str, ...] = tuple(AGENT_REASONS)

__all__ = [
    "REASONS",
    "AgentSet",
    "AgentSetup",
    "ArbitrageConfig",
    "Battery",
    "BatteryConfig",
    "FleetConfig",
    "FrequencyResponseConfig",
    "OracleLimits",
    "OracleResult",
    "droop_response",
    "fleet_from_settings",
    "fleet_meta",
    "oracle_dp",
    "oracle_lp",
    "schedule_profit",
]
