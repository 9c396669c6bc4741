"""Frequency physics: RoCoF, nadir, droop offset, AGC, and an ODE-solver oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from vpp.twin import TwinConfig, frequency_response, nadir_hz, rocof_hz_per_s, simulate

TRIP_AT_S = 600.0


def trip_run(trip_mw: float = 1800.0, **kw: object) -> tuple[TwinConfig, np.ndarray, float]:
    """One hour at 1 s, no imbalance noise, one trip at 600 s; returns the fine trace."""
    base: dict[str, object] = dict(
        days=1 / 24,
        resolution="1s",
        seed=0,
        imbalance_std_pu=0.0,
        agc_time_s=None,
        trips=[(TRIP_AT_S, trip_mw)],
    )
    base.update(kw)
    cfg = TwinConfig(**base)  # type: ignore[arg-type]
    res = simulate(cfg)
    assert res.frequency_trace is not None
    return cfg, res.frequency_trace, res.trace_step_s


def expected_rocof(cfg: TwinConfig, trip_mw: float) -> float:
    return -trip_mw * cfg.nominal_hz / (2.0 * cfg.inertia_h_s * cfg.system_mw)


def expected_offset_hz(cfg: TwinConfig, trip_mw: float) -> float:
    """Steady state without AGC: load damping + droop governors absorb the loss."""
    damping_mw_per_hz = cfg.damping_per_hz * cfg.system_mw
    governor_mw_per_hz = cfg.governor_share * cfg.system_mw / (cfg.droop * cfg.nominal_hz)
    return -trip_mw / (damping_mw_per_hz + governor_mw_per_hz)


CASES = [
    dict(),
    dict(inertia_h_s=2.0),
    dict(inertia_h_s=6.5, system_mw=300_000.0, governor_share=0.1),
    dict(droop=0.05, damping_per_hz=0.02, governor_lag_s=8.0),
    dict(fine_step_s=0.05),
    dict(nominal_hz=60.0, inertia_h_s=5.0),
]


@pytest.mark.parametrize("kw", CASES, ids=[str(c) for c in CASES])
@pytest.mark.parametrize("trip_mw", [1000.0, 1800.0])
def test_trip_rocof_nadir_and_droop_offset(kw: dict[str, float], trip_mw: float) -> None:
    cfg, trace, dt = trip_run(trip_mw, **kw)
    f0 = cfg.nominal_hz
    k = round(TRIP_AT_S / dt)
    assert np.all(trace[: k + 1] == f0)  # at rest before the trip

    # Initial RoCoF: swing equation at nominal frequency, first fine step.
    initial = rocof_hz_per_s(trace[k : k + 2], dt)[0]
    assert initial == pytest.approx(expected_rocof(cfg, trip_mw), rel=0.05)

    offset = expected_offset_hz(cfg, trip_mw)
    nadir = nadir_hz(trace)
    assert nadir < f0
    assert nadir < f0 + offset - 1e-3  # the lagging governor lets it overshoot
    # Settles at the droop-determined offset (last 5 minutes of the hour).
    tail = trace[-round(300 / dt) :]
    assert tail.mean() == pytest.approx(f0 + offset, abs=0.01 * abs(offset))
    assert np.ptp(tail) < 0.01 * abs(offset)

    fr = frequency_response(trace, dt, event_s=TRIP_AT_S)
    assert fr.nadir_hz == nadir
    assert fr.initial_rocof_hz_per_s == pytest.approx(initial)
    assert 0.5 < fr.time_to_nadir_s < 30.0
    # Over ENTSO-E's 500 ms window the RoCoF is a little smaller than the initial.
    rocof0 = expected_rocof(cfg, trip_mw)
    assert rocof0 * 1.05 < fr.max_rocof_hz_per_s < rocof0 * 0.85


def test_trace_matches_an_independent_ode_solver() -> None:
    """The exact discretisation agrees with RK45 on the equations written out here."""
    cfg, trace, dt = trip_run(1500.0, agc_time_s=200.0)
    s, f0, h = cfg.system_mw, cfg.nominal_hz, cfg.inertia_h_s
    m = 2 * h * s / f0
    d = cfg.damping_per_hz * s
    kg = cfg.governor_share * s / (cfg.droop * f0)
    tg = cfg.governor_lag_s
    beta = d + kg

    def rhs(_t: float, y: np.ndarray) -> list[float]:
        df, p_gov, p_agc = y
        return [
            (-1500.0 - d * df + p_gov + p_agc) / m,
            (-kg * df - p_gov) / tg,
            -beta / 200.0 * df,
        ]

    t_eval = np.arange(0, 3000.0 + 1e-9, dt)
    sol = solve_ivp(rhs, (0, 3000.0), [0.0, 0.0, 0.0], t_eval=t_eval, rtol=1e-10, atol=1e-12)
    k = round(TRIP_AT_S / dt)
    ours = trace[k : k + t_eval.size] - f0
    assert np.max(np.abs(ours - sol.y[0])) < 1e-6


def test_secondary_control_restores_nominal() -> None:
    cfg, trace, _ = trip_run(1800.0, agc_time_s=300.0)
    assert nadir_hz(trace) < 49.5
    assert abs(trace[-1] - cfg.nominal_hz) < 0.01  # 50 minutes ≈ 10 time constants


def test_load_trip_raises_frequency() -> None:
    cfg, trace, _ = trip_run(-1000.0)
    assert trace.max() > cfg.nominal_hz + 0.1
    assert trace[-1] == pytest.approx(cfg.nominal_hz + expected_offset_hz(cfg, -1000.0), rel=0.01)


def test_trip_time_as_timestamp_equals_offset_seconds() -> None:
    _, a, _ = trip_run(1000.0)
    _, b, _ = trip_run(1000.0, trips=[("2025-01-01T00:10:00Z", 1000.0)])
    np.testing.assert_array_equal(a, b)


def test_output_frequency_samples_the_fine_trace() -> None:
    cfg = TwinConfig(days=1 / 24, resolution="1min", seed=3, trips=[(900.5, 1200.0)])
    res = simulate(cfg)
    assert res.frequency_trace is not None
    per_step = round(60 / res.trace_step_s)
    np.testing.assert_array_equal(
        res.frame["frequency_hz"].to_numpy(), res.frequency_trace[:-1:per_step]
    )


def test_noise_keeps_frequency_in_normal_operating_band() -> None:
    df = simulate(TwinConfig(days=7, resolution="1s", seed=9, keep_trace=False)).frame
    f = df["frequency_hz"].to_numpy()
    assert 0.02 < f.std() < 0.1  # a few hundredths of a hertz, as on real grids
    assert abs(f.mean() - 50.0) < 0.01  # AGC keeps the mean at nominal
    assert np.mean(np.abs(f - 50.0) > 0.2) < 0.01  # GB operational limit ±0.2 Hz
    # Frequency is autocorrelated over seconds (inertia), not white noise.
    d = f - f.mean()
    assert np.dot(d[:-1], d[1:]) / np.dot(d, d) > 0.9


@settings(max_examples=30, deadline=None)
@given(
    h=st.floats(2.0, 8.0),
    system_mw=st.floats(1_000.0, 400_000.0),
    damping=st.floats(0.0, 0.02),
    droop=st.floats(0.03, 0.1),
    share=st.floats(0.05, 0.5),
    lag_s=st.floats(2.0, 10.0),
    trip_pu=st.floats(0.005, 0.08),
)
def test_trip_physics_over_random_parameters(
    h: float,
    system_mw: float,
    damping: float,
    droop: float,
    share: float,
    lag_s: float,
    trip_pu: float,
) -> None:
    trip_mw = trip_pu * system_mw
    cfg, trace, dt = trip_run(
        trip_mw,
        inertia_h_s=h,
        system_mw=system_mw,
        damping_per_hz=damping,
        droop=droop,
        governor_share=share,
        governor_lag_s=lag_s,
    )
    k = round(TRIP_AT_S / dt)
    initial = (trace[k + 1] - trace[k]) / dt
    assert initial == pytest.approx(expected_rocof(cfg, trip_mw), rel=0.05)
    # Heavily damped corners approach the offset without overshoot.
    assert nadir_hz(trace) <= trace[-1] + 1e-9
    assert nadir_hz(trace) < cfg.nominal_hz
    assert trace[-1] == pytest.approx(
        cfg.nominal_hz + expected_offset_hz(cfg, trip_mw), abs=1e-3 * trip_pu
    )
