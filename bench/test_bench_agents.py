"""Agents: one event decided for a fleet of 100 units, against the same logic
in numpy, and the batch path.

The numpy baseline implements the frequency response, restore-to-band and
headroom allocation of the core (no planning); ``extra_info`` records that
it agrees with the core on the same events. Run: ``make bench``.
"""

from __future__ import annotations

import numpy as np
import pytest

from vpp.agents import (
    AgentSet,
    ArbitrageConfig,
    BatteryConfig,
    FleetConfig,
    FrequencyResponseConfig,
)

pytestmark = pytest.mark.benchmark

MIN_NS = 60_000_000_000
N_UNITS = 100
UNIT = BatteryConfig(energy_mwh=20.0, max_charge_mw=10.0, max_discharge_mw=10.0)
FR = FrequencyResponseConfig(contracted_mw=400.0)


class NumpyAgents:
    """The core's per-event logic for one site, in numpy (no planning)."""

    def __init__(self, n: int, b: BatteryConfig, fr: FrequencyResponseConfig) -> None:
        self.e = np.full(n, b.start_soc * b.energy_mwh)
        self.lo = np.full(n, b.soc_min * b.energy_mwh)
        self.hi = np.full(n, b.soc_max * b.energy_mwh)
        self.pc = np.full(n, b.max_charge_mw)
        self.pd = np.full(n, b.max_discharge_mw)
        self.eta_c, self.eta_d = b.charge_efficiency, b.discharge_efficiency
        self.fr = fr
        c, sustain_h = fr.contracted_mw, fr.sustain_s / 3600.0
        self.band = (
            self.lo.sum() + c * sustain_h / self.eta_d,
            self.hi.sum() - c * sustain_h * self.eta_c,
        )
        self.arb_lim = (self.pc.sum() - c, self.pd.sum() - c)
        self.last_ts: int | None = None
        self.last_fr = 0.0
        self.baseline = 0.0

    def droop(self, f: float) -> float:
        c = self.fr
        dev = c.nominal_hz - f
        a = abs(dev)
        if a <= c.deadband_hz + 1e-9:
            m = 0.0
        elif a <= c.knee_hz:
            m = c.knee_fraction * (a - c.deadband_hz) / (c.knee_hz - c.deadband_hz)
        elif a < c.full_hz:
            m = c.knee_fraction + (1 - c.knee_fraction) * (a - c.knee_hz) / (c.full_hz - c.knee_hz)
        else:
            m = 1.0
        return float(np.copysign(m, dev))

    def decide(self, ts: int, f: float, price: float) -> float:
        dt = 60.0 if self.last_ts is None else (ts - self.last_ts) * 1e-9
        self.last_ts = ts
        dt_h = dt / 3600.0
        in_event = abs(f - self.fr.nominal_hz) >= self.fr.event_threshold_hz
        fr = self.droop(f) * self.fr.contracted_mw
        if in_event:
            arb = self.baseline
        else:
            e_now = self.e.sum()
            delta = (min(max(e_now, self.band[0]), self.band[1]) - e_now) * min(
                dt / ArbitrageConfig().tracking_tau_s, 1.0
            )
            arb = -delta / self.eta_c / dt_h if delta > 0 else -delta * self.eta_d / dt_h
            arb = min(max(arb, -self.arb_lim[0]), self.arb_lim[1])
            self.baseline = arb
        total = fr + arb
        if total > 0:
            head = np.minimum(self.pd, (self.e - self.lo) * self.eta_d / dt_h)
        else:
            head = np.minimum(self.pc, (self.hi - self.e) / self.eta_c / dt_h)
        frac = min(abs(total) / head.sum(), 1.0) if head.sum() > 0 else 0.0
        p = np.sign(total) * frac * head
        self.e -= np.where(p > 0, p * dt_h / self.eta_d, p * dt_h * self.eta_c)
        np.clip(self.e, self.lo, self.hi, out=self.e)
        return float(p.sum())


def _events(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ts = (np.arange(n, dtype=np.int64) + 1) * MIN_NS
    f = 50.0 + np.cumsum(rng.normal(0, 0.02, n)).clip(-0.6, 0.6)
    p = 60.0 + 40.0 * np.sin(2 * np.pi * np.arange(n) / 1440.0) + rng.normal(0, 5, n)
    return ts, f, p


def _warm(arbitrage: bool) -> AgentSet:
    agents = AgentSet(FleetConfig.uniform(N_UNITS, UNIT), FR, ArbitrageConfig(enabled=arbitrage))
    ts, f, p = _events(3 * 1440)
    agents.run(ts, f, p)
    return agents


def _bench_decide(benchmark, agents) -> None:  # type: ignore[no-untyped-def]
    t0 = 3 * 1440 * MIN_NS
    clock = iter(range(1, 10**9))
    freqs = np.array([50.0, 49.93, 50.04, 49.7, 50.01])

    def one() -> float:
        k = next(clock)
        return agents.decide(t0 + k * MIN_NS, 0, float(freqs[k % 5]), 55.0)

    benchmark.pedantic(one, rounds=20_000, iterations=1, warmup_rounds=200)
    benchmark.extra_info["per"] = "event"
    benchmark.extra_info["units"] = N_UNITS


def test_decide_all_agents_100_units(benchmark) -> None:  # type: ignore[no-untyped-def]
    agents = _warm(arbitrage=True)
    assert agents.counters["plans"] > 0
    _bench_decide(benchmark, agents)


def test_decide_fr_only_100_units(benchmark) -> None:  # type: ignore[no-untyped-def]
    _bench_decide(benchmark, _warm(arbitrage=False))


def test_numpy_baseline_fr_only_100_units(benchmark) -> None:  # type: ignore[no-untyped-def]
    ts, f, p = _events(2000)
    core = AgentSet(FleetConfig.uniform(N_UNITS, UNIT), FR, ArbitrageConfig(enabled=False))
    base = NumpyAgents(N_UNITS, UNIT, FR)
    want = core.run(ts, f, p)["total_mw"]
    got = np.array([base.decide(int(t), a, b) for t, a, b in zip(ts, f, p, strict=True)])
    agrees = bool(np.allclose(got, want, rtol=1e-9, atol=1e-6))
    benchmark.extra_info["agrees_with_core"] = agrees
    clock = iter(range(1, 10**9))
    t0 = int(ts[-1])
    benchmark.pedantic(
        lambda: base.decide(t0 + next(clock) * MIN_NS, 49.93, 55.0), rounds=2000, iterations=1
    )
    benchmark.extra_info["per"] = "event"
    assert agrees


def test_run_batch_year_100_units(benchmark) -> None:  # type: ignore[no-untyped-def]
    n = 365 * 1440
    ts, f, p = _events(n)

    def run() -> dict:
        agents = AgentSet(FleetConfig.uniform(N_UNITS, UNIT), FR, ArbitrageConfig())
        return agents.run(ts, f, p)

    out = benchmark.pedantic(run, rounds=3, iterations=1)
    assert out["total_mw"].shape == (n,)
    benchmark.extra_info["events_per_call"] = n
    benchmark.extra_info["events_per_s"] = n / benchmark.stats.stats.median
