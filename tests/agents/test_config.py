"""Bad parameters give ParameterError naming the parameter."""

from __future__ import annotations

import math

import pytest

from vpp.agents import (
    AgentSet,
    ArbitrageConfig,
    BatteryConfig,
    FleetConfig,
    FrequencyResponseConfig,
)
from vpp.errors import ParameterError


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"energy_mwh": -1.0}, "energy_mwh"),
        ({"energy_mwh": 0.0}, "energy_mwh"),
        ({"max_charge_mw": -0.5}, "max_charge_mw"),
        ({"max_discharge_mw": -2.0}, "max_discharge_mw"),
        ({"charge_efficiency": 0.0}, "charge_efficiency"),
        ({"charge_efficiency": 1.01}, "charge_efficiency"),
        ({"discharge_efficiency": -0.3}, "discharge_efficiency"),
        ({"discharge_efficiency": math.nan}, "discharge_efficiency"),
        ({"soc_min": 0.8, "soc_max": 0.2}, "soc_min"),
        ({"soc_max": 1.5}, "soc_max"),
        ({"start_soc": 0.95}, "start_soc"),
        ({"degradation_cost_per_mwh": -1.0}, "degradation_cost_per_mwh"),
        ({"derate_band": 0.9}, "derate_band"),
    ],
)
def test_battery_errors_name_the_parameter(kwargs: dict, name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        BatteryConfig(**kwargs)


def test_round_trip_is_split_evenly() -> None:
    b = BatteryConfig.from_round_trip(5.0, 10.0, 0.81)
    assert b.charge_efficiency == pytest.approx(0.9)
    assert b.discharge_efficiency == pytest.approx(0.9)
    assert b.max_charge_mw == b.max_discharge_mw == 5.0
    for bad in (0.0, 1.2, -0.5):
        with pytest.raises(ParameterError, match="round_trip_efficiency"):
            BatteryConfig.from_round_trip(5.0, 10.0, bad)


def test_fleet_errors() -> None:
    with pytest.raises(ParameterError, match="unit_sites"):
        FleetConfig(units=(BatteryConfig(),) * 2, unit_sites=(0, 3), sites=("a", "b"))
    with pytest.raises(ParameterError, match="unit_sites"):
        FleetConfig(units=(BatteryConfig(),) * 2, unit_sites=(0,))
    with pytest.raises(ParameterError, match="units"):
        FleetConfig(units=())
    with pytest.raises(ParameterError, match="site"):
        FleetConfig().site_index("nowhere")
    f = FleetConfig.uniform(5, sites=("a", "b"))
    assert f.unit_sites == (0, 1, 0, 1, 0)
    assert f.site_index("b") == 1


@pytest.mark.parametrize(
    ("fr", "name"),
    [
        (FrequencyResponseConfig(contracted_mw=-1.0), "contracted_mw"),
        # More power than the 1 MW unit has.
        (FrequencyResponseConfig(contracted_mw=5.0), "contracted_mw"),
        # 1 MW for 4 h each way needs more than the 1.6 MWh usable.
        (FrequencyResponseConfig(contracted_mw=1.0, sustain_s=4 * 3600.0), "contracted_mw"),
        (FrequencyResponseConfig(knee_hz=0.6), "full_hz"),
        (FrequencyResponseConfig(deadband_hz=-0.01), "deadband_hz"),
    ],
)
def test_contract_errors(fr: FrequencyResponseConfig, name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        AgentSet(FleetConfig(), fr)


@pytest.mark.parametrize(
    ("arb", "name"),
    [
        (ArbitrageConfig(plan_step_s=7000.0), "plan_step_s"),
        (ArbitrageConfig(soc_levels=1), "soc_levels"),
        (ArbitrageConfig(horizon_steps=0), "horizon_steps"),
        (ArbitrageConfig(tracking_tau_s=0.0), "tracking_tau_s"),
    ],
)
def test_arbitrage_errors(arb: ArbitrageConfig, name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        AgentSet(FleetConfig(), None, arb)
