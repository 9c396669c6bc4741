"""The perfect-foresight oracle: LP and DP agree, and nothing beats them."""

from __future__ import annotations

import numpy as np
import pytest

from vpp.agents import (
    BatteryConfig,
    FrequencyResponseConfig,
    OracleLimits,
    oracle_dp,
    oracle_lp,
    schedule_profit,
)
from vpp.errors import ParameterError


def _prices(n: int, seed: int, spikes: bool = False, negative: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h = np.arange(n)
    p = 60 + 30 * np.sin(2 * np.pi * h / 24) + 10 * np.sin(2 * np.pi * h / 168)
    p += rng.normal(0, 12, n)
    if spikes:
        p[rng.integers(0, n, n // 50)] += rng.uniform(200, 2000, n // 50)
    if negative:
        p[rng.integers(0, n, n // 20)] = rng.uniform(-300, -20, n // 20)
    return p


CASES = [
    ("plain", BatteryConfig(), None, {}),
    ("lossy", BatteryConfig.from_round_trip(1.0, 4.0, 0.82), None, {"spikes": True}),
    (
        "negative prices, fast",
        BatteryConfig(energy_mwh=1.0, max_charge_mw=2.0, max_discharge_mw=1.5),
        None,
        {"negative": True},
    ),
    (
        "with FR reserve",
        BatteryConfig(energy_mwh=4.0, max_charge_mw=2.0, max_discharge_mw=2.0),
        FrequencyResponseConfig(contracted_mw=0.5),
        {"spikes": True},
    ),
    ("costly wear", BatteryConfig(degradation_cost_per_mwh=40.0), None, {}),
]


@pytest.mark.parametrize(("name", "battery", "fr", "kw"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dt_h", [1.0, 0.25])
def test_lp_and_dp_agree_within_half_a_percent(name, battery, fr, kw, dt_h) -> None:  # type: ignore[no-untyped-def]
    lim = OracleLimits.from_battery(battery, frequency_response=fr)
    p = _prices(24 * 21, seed=len(name), **kw)
    lp = oracle_lp(p, dt_h, lim)
    dp = oracle_dp(p, dt_h, lim)
    assert lp.profit > 0
    # The DP's schedule is feasible, so it cannot beat the exact LP.
    assert dp.profit <= lp.profit * (1 + 1e-7) + 1e-6
    assert (lp.profit - dp.profit) / lp.profit < 0.005, (lp.profit, dp.profit)
    for res in (lp, dp):
        assert res.stored_mwh.min() >= lim.lo_mwh - 1e-6
        assert res.stored_mwh.max() <= lim.hi_mwh + 1e-6
        assert res.power_mw.max() <= lim.discharge_mw + 1e-6
        assert res.power_mw.min() >= -lim.charge_mw - 1e-6


def test_hand_solved_case() -> None:
    # Lossless 1 MW / 1 MWh from empty: buy at 10, sell at 50 → 40 per cycle.
    lim = OracleLimits(0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0)
    p = np.array([10.0, 50.0, 10.0, 50.0])
    for solve in (oracle_lp, oracle_dp):
        res = solve(p, 1.0, lim)
        assert res.profit == pytest.approx(80.0, abs=1e-6)
        np.testing.assert_allclose(res.power_mw, [-1, 1, -1, 1], atol=1e-6)
        assert schedule_profit(p, res.power_mw, 1.0, 0.0) == pytest.approx(80.0, abs=1e-6)


def test_random_feasible_schedules_never_beat_the_oracle() -> None:
    battery = BatteryConfig()
    lim = OracleLimits.from_battery(battery)
    p = _prices(24 * 7, seed=3)
    best = oracle_lp(p, 1.0, lim).profit
    rng = np.random.default_rng(0)
    from vpp.agents import Battery

    for _ in range(50):
        b = Battery(battery)
        power = np.array([b.apply(x, 3600.0) for x in rng.uniform(-1, 1, p.size)])
        assert schedule_profit(p, power, 1.0, battery.degradation_cost_per_mwh) <= best + 1e-6


def test_oracle_rejects_nan_prices() -> None:
    lim = OracleLimits.from_battery(BatteryConfig())
    with pytest.raises(ParameterError, match="prices"):
        oracle_lp([1.0, np.nan], 1.0, lim)
    with pytest.raises(ParameterError, match="prices"):
        oracle_dp([1.0, np.nan], 1.0, lim)
