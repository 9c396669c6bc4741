"""Perfect-foresight arbitrage: the best schedule over known prices.

Two solvers of the same problem, which must agree (tested within 0.5%):

* :func:`oracle_lp` - a linear program (scipy's HiGHS) over charge power
  ``c_t``, discharge power ``d_t`` and stored energy ``e_t``. Exact, for
  series up to some tens of thousands of steps.
* :func:`oracle_dp` - dynamic programming over discretised stored energy
  (numba), linear in the series length, for long series.

Problem: maximise ``Σ_t dt·[p_t·(d_t − c_t) − w·(c_t + d_t)]`` subject to
``e_t = e_{t−1} + dt·(η_c·c_t − d_t/η_d)``, ``lo ≤ e_t ≤ hi``,
``0 ≤ c_t ≤ C``, ``0 ≤ d_t ≤ D`` and ``c_t/C + d_t/D ≤ 1`` (within a step the
battery may charge part of the time and discharge the rest, which pays only
when prices are negative enough to burn energy). ``w`` is the degradation
cost per MWh of throughput; the end state has no value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from vpp.agents.config import BatteryConfig, FrequencyResponseConfig
from vpp.errors import ParameterError

__all__ = ["OracleLimits", "OracleResult", "oracle_dp", "oracle_lp", "schedule_profit"]


@dataclass(frozen=True)
class OracleLimits:
    """The battery as the optimiser sees it (after any frequency reserve).

    Attributes:
        lo_mwh: Lowest stored energy.
        hi_mwh: Highest stored energy.
        e0_mwh: Stored energy at start.
        charge_mw: Charge power limit.
        discharge_mw: Discharge power limit.
        charge_efficiency: Grid-to-store efficiency.
        discharge_efficiency: Store-to-grid efficiency.
        degradation_cost_per_mwh: Wear cost per MWh of throughput.
    """

    lo_mwh: float
    hi_mwh: float
    e0_mwh: float
    charge_mw: float
    discharge_mw: float
    charge_efficiency: float
    discharge_efficiency: float
    degradation_cost_per_mwh: float

    @classmethod
    def from_battery(
        cls,
        battery: BatteryConfig,
        n_units: int = 1,
        frequency_response: FrequencyResponseConfig | None = None,
    ) -> OracleLimits:
        """Limits of ``n_units`` identical batteries, less the FR reserve.

        The reserve follows the agents: ``contracted_mw`` each way in power,
        and the energy to sustain it for ``sustain_s`` at each end of the band.
        """
        c = frequency_response.contracted_mw if frequency_response else 0.0
        sustain_h = frequency_response.sustain_s / 3600.0 if frequency_response else 0.0
        e = battery.energy_mwh * n_units
        lo = battery.soc_min * e + c * sustain_h / battery.discharge_efficiency
        hi = battery.soc_max * e - c * sustain_h * battery.charge_efficiency
        if lo > hi:
            raise ParameterError(
                "invalid parameter: contracted_mw: the reserve leaves no energy band"
            )
        return cls(
            lo_mwh=lo,
            hi_mwh=hi,
            e0_mwh=min(max(battery.start_soc * e, lo), hi),
            charge_mw=max(battery.max_charge_mw * n_units - c, 0.0),
            discharge_mw=max(battery.max_discharge_mw * n_units - c, 0.0),
            charge_efficiency=battery.charge_efficiency,
            discharge_efficiency=battery.discharge_efficiency,
            degradation_cost_per_mwh=battery.degradation_cost_per_mwh,
        )


@dataclass(frozen=True)
class OracleResult:
    """An optimal schedule.

    Attributes:
        profit: Revenue minus energy cost minus degradation.
        power_mw: Net grid power per step (positive = discharge).
        stored_mwh: Stored energy after each step.
        throughput_mwh: Σ (c + d)·dt.
    """

    profit: float
    power_mw: np.ndarray
    stored_mwh: np.ndarray
    throughput_mwh: float


def _prices(prices: npt.ArrayLike) -> np.ndarray:
    p = np.ascontiguousarray(prices, dtype=np.float64)
    if p.ndim != 1:
        raise ParameterError("invalid parameter: prices: must be 1-D")
    if not np.all(np.isfinite(p)):
        raise ParameterError("invalid parameter: prices: the oracle needs finite prices")
    return p


def schedule_profit(
    prices: npt.ArrayLike, power_mw: npt.ArrayLike, dt_h: float, degradation_cost_per_mwh: float
) -> float:
    """Profit of a net-power schedule: Σ dt·(p·P − w·|P|)."""
    p = np.asarray(prices, dtype=np.float64)
    q = np.asarray(power_mw, dtype=np.float64)
    return float(dt_h * (np.dot(p, q) - degradation_cost_per_mwh * np.abs(q).sum()))


def oracle_lp(prices: npt.ArrayLike, dt_h: float, lim: OracleLimits) -> OracleResult:
    """Solve the perfect-foresight problem exactly as a linear program (HiGHS).

    Args:
        prices: Price per MWh of each step.
        dt_h: Step length, hours.
        lim: Battery limits.

    Returns:
        The optimal schedule.

    Raises:
        ParameterError: On non-finite prices.
        RuntimeError: If HiGHS fails.
    """
    from scipy import sparse
    from scipy.optimize import linprog

    p = _prices(prices)
    n = p.size
    if n == 0:
        return OracleResult(0.0, np.zeros(0), np.zeros(0), 0.0)
    w = lim.degradation_cost_per_mwh
    # x = [c (n), d (n), e (n)]; minimise cost.
    cost = np.concatenate([(p + w) * dt_h, (w - p) * dt_h, np.zeros(n)])
    eye = sparse.identity(n, format="csr")
    shift = sparse.eye(n, k=-1, format="csr")
    a_eq = sparse.hstack(
        [
            -lim.charge_efficiency * dt_h * eye,
            (dt_h / lim.discharge_efficiency) * eye,
            eye - shift,
        ],
        format="csr",
    )
    b_eq = np.zeros(n)
    b_eq[0] = lim.e0_mwh
    bounds = [(0.0, lim.charge_mw)] * n + [(0.0, lim.discharge_mw)] * n
    bounds += [(lim.lo_mwh, lim.hi_mwh)] * n
    a_ub = None
    b_ub = None
    if lim.charge_mw > 0 and lim.discharge_mw > 0:
        a_ub = sparse.hstack(
            [eye / lim.charge_mw, eye / lim.discharge_mw, sparse.csr_matrix((n, n))],
            format="csr",
        )
        b_ub = np.ones(n)
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"HiGHS failed: {res.message}")
    c, d, e = res.x[:n], res.x[n : 2 * n], res.x[2 * n :]
    return OracleResult(float(-res.fun), d - c, e, float((c + d).sum() * dt_h))


@numba.njit(cache=True)
def _step_value(
    delta: float,
    price: float,
    dt_h: float,
    cmax: float,
    dmax: float,
    eta_c: float,
    eta_d: float,
    w: float,
) -> tuple[float, float, float]:
    """Best (value, c, d) that move the store by ``delta`` in one step.

    A linear objective over the segment of (c, d) pairs that move the store
    by ``delta`` peaks at an end: pure charge/discharge, or the time-sharing
    limit ``c/C + d/D = 1``. Returns (-inf, 0, 0) when infeasible.
    """
    best = -math.inf
    bc = 0.0
    bd = 0.0
    r = delta / dt_h  # store rate, MWh/h
    if r >= 0.0:
        c = r / eta_c
        if c <= cmax * (1.0 + 1e-9):
            best = -(price + w) * c * dt_h
            bc = c
    else:
        d = -r * eta_d
        if d <= dmax * (1.0 + 1e-9):
            best = (price - w) * d * dt_h
            bd = d
    if cmax > 0.0 and dmax > 0.0:
        c = (r + dmax / eta_d) / (eta_c + dmax / (cmax * eta_d))
        d = dmax * (1.0 - c / cmax)
        if 0.0 <= c <= cmax and 0.0 <= d <= dmax:
            v = (price * (d - c) - w * (c + d)) * dt_h
            if v > best:
                best = v
                bc = c
                bd = d
    return best, bc, bd


@numba.njit(cache=True)
def _replay_kernel(
    p: np.ndarray,
    stored: np.ndarray,
    dt_h: float,
    cmax: float,
    dmax: float,
    eta_c: float,
    eta_d: float,
    w: float,
) -> tuple[float, float, np.ndarray]:
    n = p.size
    power = np.empty(n)
    profit = 0.0
    thr = 0.0
    for t in range(n):
        v, c, d = _step_value(stored[t + 1] - stored[t], p[t], dt_h, cmax, dmax, eta_c, eta_d, w)
        profit += v
        thr += (c + d) * dt_h
        power[t] = d - c
    return profit, thr, power


@numba.njit(cache=True)
def _dp(
    p: np.ndarray,
    dt_h: float,
    lo: float,
    delta: float,
    levels: int,
    kc: int,
    kd: int,
    cmax: float,
    dmax: float,
    eta_c: float,
    eta_d: float,
    w: float,
    i0: int,
) -> tuple[float, np.ndarray]:
    n = p.size
    value = np.zeros(levels)
    nxt = np.zeros(levels)
    choice = np.empty((n, levels), dtype=np.int32)
    # Value of each move depends only on the level difference and the price.
    moves = np.arange(-kd, kc + 1)
    for t in range(n - 1, -1, -1):
        mv = np.empty(moves.size)
        for m in range(moves.size):
            mv[m] = _step_value(moves[m] * delta, p[t], dt_h, cmax, dmax, eta_c, eta_d, w)[0]
        for i in range(levels):
            best = value[i] + mv[kd]
            arg = i
            j_lo = max(i - kd, 0)
            j_hi = min(i + kc, levels - 1)
            for j in range(j_lo, j_hi + 1):
                v = mv[j - i + kd] + value[j]
                if v > best + 1e-12:
                    best = v
                    arg = j
            nxt[i] = best
            choice[t, i] = arg
        value, nxt = nxt, value
    path = np.empty(n + 1, dtype=np.int32)
    path[0] = i0
    for t in range(n):
        path[t + 1] = choice[t, path[t]]
    return value[i0], path


def oracle_dp(
    prices: npt.ArrayLike, dt_h: float, lim: OracleLimits, levels: int = 201
) -> OracleResult:
    """Solve the perfect-foresight problem by DP over stored-energy levels.

    The level spacing is chosen so that full-power steps in both directions
    are (close to) whole numbers of levels, with at least ``levels`` levels
    over the band, so little of the rated power is lost to rounding. Memory
    is ``len(prices) × levels`` int32 (up to 4× more levels than asked).

    Args:
        prices: Price per MWh of each step.
        dt_h: Step length, hours.
        lim: Battery limits.
        levels: Minimum number of stored-energy levels.

    Returns:
        The (near-)optimal schedule; its profit is recomputed from the
        schedule, so it is exactly achievable.

    Raises:
        ParameterError: On non-finite prices or fewer than 2 levels.
    """
    p = _prices(prices)
    if levels < 2:
        raise ParameterError(f"invalid parameter: levels: must be ≥ 2, got {levels}")
    n = p.size
    span = lim.hi_mwh - lim.lo_mwh
    if n == 0 or span <= 0:
        return OracleResult(0.0, np.zeros(n), np.full(n, lim.e0_mwh), 0.0)
    up = lim.charge_mw * dt_h * lim.charge_efficiency
    down = lim.discharge_mw * dt_h / lim.discharge_efficiency
    step = max(up, down)
    if step <= 0:
        return OracleResult(0.0, np.zeros(n), np.full(n, lim.e0_mwh), 0.0)
    # Spacing: the larger full-power move is a whole number k of levels, the
    # band has at least `levels` levels, and k is chosen (up to 4× the
    # minimum) so that the smaller move loses the least to rounding down.
    k0 = max(1, math.ceil((levels - 1) * step / span))
    small = min(up, down)
    ratio = small / step
    k = k0
    if ratio > 0:
        best_loss = math.inf
        for cand in range(k0, 4 * k0 + 1):
            x = ratio * cand
            loss = (x - math.floor(x + 1e-12)) / x
            if loss < best_loss - 1e-12:
                best_loss, k = loss, cand
            if loss < 1e-4:
                break
    delta = step / k
    n_levels = math.floor(span / delta + 1e-9) + 1
    kc = math.floor(up / delta + 1e-9)
    kd = math.floor(down / delta + 1e-9)
    # Round the start down: the DP never starts with energy it does not have.
    i0 = int(min(max(math.floor((lim.e0_mwh - lim.lo_mwh) / delta + 1e-9), 0), n_levels - 1))
    _, path = _dp(
        p,
        dt_h,
        lim.lo_mwh,
        delta,
        n_levels,
        kc,
        kd,
        lim.charge_mw,
        lim.discharge_mw,
        lim.charge_efficiency,
        lim.discharge_efficiency,
        lim.degradation_cost_per_mwh,
        i0,
    )
    stored = lim.lo_mwh + path.astype(np.float64) * delta
    return _replay(p, dt_h, lim, stored)


def _replay(p: np.ndarray, dt_h: float, lim: OracleLimits, stored: np.ndarray) -> OracleResult:
    """Profit, net power and throughput of a stored-energy path."""
    profit, thr, power = _replay_kernel(
        p,
        stored,
        dt_h,
        lim.charge_mw,
        lim.discharge_mw,
        lim.charge_efficiency,
        lim.discharge_efficiency,
        lim.degradation_cost_per_mwh,
    )
    return OracleResult(float(profit), power, stored[1:].copy(), float(thr))
