"""Aggregate swing equation of one synchronous area, with governor and AGC.

The model (all powers in MW, Δf in Hz, S the system base, f0 nominal)::

    M · dΔf/dt   = u − D·Δf + P_gov + P_agc          M = 2·H·S / f0
    T_g · dP_gov/dt = −K·Δf − P_gov                   K = share·S / (R·f0)
    dP_agc/dt    = −(β / T_agc)·Δf                    β = D + K

``u`` is the power imbalance (generation minus demand: imbalance noise, the
negative of tripped generation, plus battery injection). This is the
classic single-area load-frequency model (Kundur 1994, §11.1; Machowski,
Bialek & Bumby, *Power System Dynamics*, 2nd ed., ch. 9): the inertia
equation ``2H/f0 · df/dt = ΔP_pu − …`` multiplied through by S; the
governor is a droop R (a steady-state change of ``1/R`` per unit power for
1 per unit frequency) behind a first-order lag T_g; the secondary control is
an integral controller on the area control error ``β·Δf`` with β the
network's natural frequency characteristic, so that it restores Δf to zero
with time constant ≈ T_agc.

Consequences the tests check:

* just after a loss of ΔP at nominal frequency, ``dΔf/dt = −ΔP·f0 / (2·H·S)``;
* without AGC, Δf settles at ``−ΔP / (D + K)``;
* the nadir lies below that (the governor lags the inertial response).

The model is linear, so it is advanced exactly by the matrix exponential of
the augmented system (zero-order hold on ``u``), at the fine step and, for
seconds with nothing to resolve inside them, at 1 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vpp.twin.config import TwinConfig

__all__ = ["FrequencyModel", "expm"]


def expm(a: np.ndarray) -> np.ndarray:
    """Matrix exponential by scaling and squaring with a Taylor series.

    Enough for the small, well-conditioned matrices here (norm ≲ 10 after
    multiplying by the step); accurate to ~1e-15 relative.
    """
    norm = float(np.abs(a).sum(axis=1).max())
    squarings = max(0, math.ceil(math.log2(norm / 0.25))) if norm > 0.25 else 0
    scaled = a / (2.0**squarings)
    out = np.eye(a.shape[0])
    term = np.eye(a.shape[0])
    for k in range(1, 20):
        term = term @ scaled / k
        out = out + term
    for _ in range(squarings):
        out = out @ out
    return out


@dataclass(frozen=True)
class FrequencyModel:
    """Continuous matrices and gains of the frequency model of a config.

    Attributes:
        m_mws_per_hz: M = 2HS/f0 (MW·s/Hz).
        d_mw_per_hz: load damping D (MW/Hz).
        k_mw_per_hz: governor gain K (MW/Hz).
        a: 3×3 state matrix; b: input vector (per MW of imbalance).
    """

    m_mws_per_hz: float
    d_mw_per_hz: float
    k_mw_per_hz: float
    a: np.ndarray
    b: np.ndarray

    @classmethod
    def from_config(cls, cfg: TwinConfig) -> FrequencyModel:
        """Build the model from a :class:`TwinConfig`."""
        s, f0 = cfg.system_mw, cfg.nominal_hz
        m = 2.0 * cfg.inertia_h_s * s / f0
        d = cfg.damping_per_hz * s
        k = cfg.governor_share * s / (cfg.droop * f0)
        tg = cfg.governor_lag_s
        agc = 0.0 if cfg.agc_time_s is None else (d + k) / cfg.agc_time_s
        a = np.array(
            [
                [-d / m, 1.0 / m, 1.0 / m],
                [-k / tg, -1.0 / tg, 0.0],
                [-agc, 0.0, 0.0],
            ]
        )
        b = np.array([1.0 / m, 0.0, 0.0])
        return cls(m, d, k, a, b)

    @property
    def steady_state_hz_per_mw(self) -> float:
        """Δf per MW of sustained surplus once the governor settles, without AGC."""
        return 1.0 / (self.d_mw_per_hz + self.k_mw_per_hz)

    def discretize(self, step_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Exact zero-order-hold discretisation ``(Ad, Bd)`` for a step in seconds."""
        aug = np.zeros((4, 4))
        aug[:3, :3] = self.a
        aug[:3, 3] = self.b
        e = expm(aug * step_s)
        return np.ascontiguousarray(e[:3, :3]), np.ascontiguousarray(e[:3, 3])
