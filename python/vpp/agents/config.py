"""Typed configuration of the battery agents, with sourced defaults.

Sign convention everywhere in :mod:`vpp.agents`: positive power is discharge
(injection into the grid), negative is charge; powers are at the grid
connection.

Sources of the defaults (see ``/work/shared/FACTS.md``, "Grid standards"):

* Efficiency: 0.95 each way (round trip 0.9025) is a common optimiser default;
  the US utility fleet measured ~82% round trip (EIA, 2019) and 85-88% at the
  grid connection. Pass ``round_trip_efficiency`` to
  :meth:`BatteryConfig.from_round_trip` to split a measured figure evenly.
* Degradation: users plug in €0.03-0.10 per kWh of throughput, i.e. €30-100
  per MWh; the default €5/MWh is deliberately low so that the default trader
  still cycles on modest spreads; raise it for a conservative estimate.
* Frequency response: National Grid ESO Dynamic Containment (GB) - deadband
  ±0.015 Hz, 5% of contracted power at ±0.2 Hz, 100% at ±0.5 Hz, full
  response within 1 s, sustained for 15 min.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from vpp.errors import ParameterError

__all__ = [
    "ArbitrageConfig",
    "BatteryConfig",
    "FleetConfig",
    "FrequencyResponseConfig",
]


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ParameterError(f"invalid parameter: {name}: must be positive, got {value!r}")


@dataclass(frozen=True)
class BatteryConfig:
    """One battery (validated by the Rust core on construction).

    Attributes:
        energy_mwh: Energy capacity at SoC 1.0, MWh (> 0).
        max_charge_mw: Largest charging power, MW (≥ 0).
        max_discharge_mw: Largest discharging power, MW (≥ 0).
        charge_efficiency: Grid-to-store efficiency in (0, 1].
        discharge_efficiency: Store-to-grid efficiency in (0, 1].
        soc_min: Lowest SoC fraction (kept to protect the cells).
        soc_max: Highest SoC fraction, above ``soc_min``.
        derate_band: SoC width next to each bound over which the power towards
            that bound falls linearly to 0 (0 disables derating).
        degradation_cost_per_mwh: Wear cost per MWh of grid-side throughput.
        start_soc: SoC at start (from telemetry when known).
    """

    energy_mwh: float = 2.0
    max_charge_mw: float = 1.0
    max_discharge_mw: float = 1.0
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    soc_min: float = 0.1
    soc_max: float = 0.9
    derate_band: float = 0.0
    degradation_cost_per_mwh: float = 5.0
    start_soc: float = 0.5

    def __post_init__(self) -> None:
        # The core owns validation; building a throwaway unit runs it.
        from vpp._core import Battery

        Battery(self)

    @classmethod
    def from_round_trip(
        cls, power_mw: float, energy_mwh: float, round_trip_efficiency: float, **kwargs: Any
    ) -> BatteryConfig:
        """A battery from power, energy and round-trip efficiency split evenly.

        Args:
            power_mw: Charge and discharge power limit, MW.
            energy_mwh: Energy capacity, MWh.
            round_trip_efficiency: Round trip in (0, 1]; each way is its
                square root.
            **kwargs: Other fields of :class:`BatteryConfig`.

        Raises:
            ParameterError: If a value is out of range.
        """
        eta = round_trip_efficiency
        if not (isinstance(eta, int | float) and 0 < eta <= 1):
            raise ParameterError(
                f"invalid parameter: round_trip_efficiency: must be in (0, 1], got {eta!r}"
            )
        one_way = math.sqrt(eta)
        return cls(
            energy_mwh=energy_mwh,
            max_charge_mw=power_mw,
            max_discharge_mw=power_mw,
            charge_efficiency=one_way,
            discharge_efficiency=one_way,
            **kwargs,
        )

    def to_dict(self) -> dict[str, float]:
        """The fields as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class FrequencyResponseConfig:
    """Droop response and the contract it serves (default: GB Dynamic Containment).

    Attributes:
        contracted_mw: Contracted power of the whole fleet, MW (0 = no service);
            each site holds a share proportional to its discharge rating.
        nominal_hz: Nominal frequency.
        deadband_hz: No response while |Δf| ≤ this.
        knee_hz: |Δf| of the knee.
        knee_fraction: Response at the knee, fraction of contracted power.
        full_hz: |Δf| from which the full contracted power is due.
        sustain_s: Duration full response must be sustainable (DC: 15 min);
            the agents hold this much energy in reserve each way.
        tolerance_fraction: Shortfall (fraction of contracted power) still
            counted as compliant.
        event_threshold_hz: |Δf| from which an excursion is an event: the
            trader's baseline is frozen so it cannot offset the response.
    """

    contracted_mw: float = 0.0
    nominal_hz: float = 50.0
    deadband_hz: float = 0.015
    knee_hz: float = 0.2
    knee_fraction: float = 0.05
    full_hz: float = 0.5
    sustain_s: float = 900.0
    tolerance_fraction: float = 0.01
    event_threshold_hz: float = 0.2

    def to_dict(self) -> dict[str, float]:
        """The fields as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class ArbitrageConfig:
    """The rolling-horizon trader.

    Every ``plan_step_s`` the trader re-plans the next ``horizon_steps``
    steps by dynamic programming over ``soc_levels`` stored-energy levels
    against a price forecast, then tracks the planned SoC path. Without an
    external forecast it uses the built-in profile forecaster: the forecast
    for a step is the mean price of the same time-of-day step over the last
    ``profile_days`` days (a smoothed seasonal-naive forecast), plus the
    current price's deviation from that profile, fading with time constant
    ``deviation_tau_h``.

    Attributes:
        enabled: Trade at all (False: only restore SoC into the reserve band).
        plan_step_s: Plan step and re-planning interval, s (must divide a day).
        horizon_steps: Steps planned ahead (48 h by default).
        soc_levels: Stored-energy levels of the dynamic program.
        profile_days: Days the built-in forecaster averages.
        min_history_steps: Completed steps of price history before it plans.
        tracking_tau_s: Time constant of SoC corrections towards the plan.
        deviation_tau_h: Time constant (h) with which the current step's
            deviation from the profile fades out of the built-in forecast
            (0: profile only). Prices stray from their daily profile for
            hours (wind, cloud and temperature are persistent).
    """

    enabled: bool = True
    plan_step_s: float = 3600.0
    horizon_steps: int = 48
    soc_levels: int = 51
    profile_days: int = 14
    min_history_steps: int = 24
    tracking_tau_s: float = 900.0
    deviation_tau_h: float = 12.0

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class FleetConfig:
    """Batteries and the sites they sit at.

    Attributes:
        units: One :class:`BatteryConfig` per unit.
        unit_sites: Site index (into ``sites``) of each unit; default all 0.
        sites: Site ids, in the order site indices refer to.
        default_dt_s: Step assumed for a site's first event, s.
    """

    units: tuple[BatteryConfig, ...] = field(default_factory=lambda: (BatteryConfig(),))
    unit_sites: tuple[int, ...] = ()
    sites: tuple[str, ...] = ("grid",)
    default_dt_s: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", tuple(self.units))
        object.__setattr__(self, "sites", tuple(str(s) for s in self.sites))
        if not self.unit_sites:
            object.__setattr__(self, "unit_sites", (0,) * len(self.units))
        object.__setattr__(self, "unit_sites", tuple(int(s) for s in self.unit_sites))
        if not self.units:
            raise ParameterError("invalid parameter: units: the fleet has no battery")
        if len(self.unit_sites) != len(self.units):
            raise ParameterError(
                f"invalid parameter: unit_sites: {len(self.unit_sites)} entries for "
                f"{len(self.units)} units"
            )
        if not self.sites:
            raise ParameterError("invalid parameter: sites: at least one site is needed")
        for i, s in enumerate(self.unit_sites):
            if not 0 <= s < len(self.sites):
                raise ParameterError(
                    f"invalid parameter: unit_sites: unit {i} has site index {s}, "
                    f"but there are {len(self.sites)} sites"
                )
        _check_positive("default_dt_s", self.default_dt_s)

    @classmethod
    def uniform(
        cls,
        n_units: int,
        battery: BatteryConfig | None = None,
        sites: tuple[str, ...] | list[str] = ("grid",),
        default_dt_s: float = 60.0,
    ) -> FleetConfig:
        """``n_units`` identical units spread round-robin over ``sites``."""
        if n_units < 1:
            raise ParameterError(f"invalid parameter: n_units: must be ≥ 1, got {n_units}")
        b = battery or BatteryConfig()
        n_sites = len(sites)
        return cls(
            units=(b,) * n_units,
            unit_sites=tuple(i % max(n_sites, 1) for i in range(n_units)),
            sites=tuple(sites),
            default_dt_s=default_dt_s,
        )

    def site_index(self, site: str) -> int:
        """Index of a site id.

        Raises:
            ParameterError: If the fleet has no such site.
        """
        try:
            return self.sites.index(str(site))
        except ValueError:
            raise ParameterError(
                f"invalid parameter: site: {site!r} is not one of {list(self.sites)}"
            ) from None

    @property
    def power_mw(self) -> float:
        """Total discharge rating, MW."""
        return float(sum(u.max_discharge_mw for u in self.units))

    @property
    def energy_mwh(self) -> float:
        """Total energy capacity, MWh."""
        return float(sum(u.energy_mwh for u in self.units))
