"""Compiled inner loops of the twin (numba): AR(1) filters, the normal CDF and
the swing-equation integrator. Everything else is vectorised numpy.

The loops are sequential by nature (each step depends on the previous one),
which is why they are compiled rather than vectorised.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["ar1_filter", "integrate_frequency", "norm_cdf"]

_SQRT1_2 = 1.0 / math.sqrt(2.0)


@njit(cache=True)
def ar1_filter(innov: np.ndarray, phi: float, state: np.ndarray) -> np.ndarray:
    """Unit-variance AR(1) over the rows of ``innov`` (n, m); ``state`` (m,) is carried.

    ``x[t] = phi·x[t-1] + sqrt(1-phi²)·e[t]`` keeps a stationary variance of 1
    when ``e`` is standard normal. ``state`` holds ``x[-1]`` on entry and the
    last row on exit.
    """
    n, m = innov.shape
    out = np.empty((n, m))
    scale = math.sqrt(max(0.0, 1.0 - phi * phi))
    for i in range(n):
        for j in range(m):
            state[j] = phi * state[j] + scale * innov[i, j]
            out[i, j] = state[j]
    return out


@njit(cache=True)
def norm_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF, elementwise (any shape)."""
    flat = z.ravel()
    out = np.empty(flat.size)
    for i in range(flat.size):
        out[i] = 0.5 * math.erfc(-flat[i] * _SQRT1_2)
    return out.reshape(z.shape)


@njit(cache=True)
def integrate_frequency(
    x: np.ndarray,
    aux: np.ndarray,
    ptr: np.ndarray,
    innov: np.ndarray,
    phi_imb: float,
    std_imb_mw: float,
    ad_fine: np.ndarray,
    bd_fine: np.ndarray,
    ad_sec: np.ndarray,
    bd_sec: np.ndarray,
    substeps: int,
    fine_start: int,
    battery_mw: float,
    trip_idx: np.ndarray,
    trip_mw: np.ndarray,
    sample_every_s: int,
    samples: np.ndarray,
    trace: np.ndarray,
) -> None:
    """Integrate the linear frequency model over ``innov.size`` seconds, in place.

    State ``x = [Δf (Hz), governor power (MW), secondary-control power (MW)]``
    advances exactly for a power imbalance held constant over each fine step
    (``x ← Ad·x + Bd·u``). The imbalance ``u`` (MW, positive = surplus) is
    the AR(1) noise (``aux[0]``, updated once a second from ``innov``) plus
    the running sum of trips (``aux[1]``, minus the MW lost) plus
    ``battery_mw``. A second without a trip is advanced in one step of the
    1 s matrices (exact, so identical to ``substeps`` fine steps) unless the
    fine trace is recorded.

    Args:
        x, aux: state carried between calls (modified).
        ptr: ``ptr[0]`` index of the next trip to apply (modified).
        innov: standard normal innovations, one per second.
        fine_start: absolute fine-step index of the first step.
        trip_idx, trip_mw: sorted absolute fine-step indices of trips and MW lost.
        samples: receives Δf at the start of every ``sample_every_s`` seconds.
        trace: if non-empty, receives Δf after every fine step.
    """
    n_sec = innov.size
    n_trips = trip_idx.size
    record = trace.size > 0
    scale = math.sqrt(max(0.0, 1.0 - phi_imb * phi_imb)) * std_imb_mw
    x0 = x[0]
    x1 = x[1]
    x2 = x[2]
    imb = aux[0]
    tripped = aux[1]
    p = ptr[0]
    for s in range(n_sec):
        if s % sample_every_s == 0:
            samples[s // sample_every_s] = x0
        imb = phi_imb * imb + scale * innov[s]
        k0 = fine_start + s * substeps
        if record or (p < n_trips and trip_idx[p] < k0 + substeps):
            for j in range(substeps):
                while p < n_trips and trip_idx[p] <= k0 + j:
                    tripped -= trip_mw[p]
                    p += 1
                u = imb + tripped + battery_mw
                y0 = ad_fine[0, 0] * x0 + ad_fine[0, 1] * x1 + ad_fine[0, 2] * x2 + bd_fine[0] * u
                y1 = ad_fine[1, 0] * x0 + ad_fine[1, 1] * x1 + ad_fine[1, 2] * x2 + bd_fine[1] * u
                y2 = ad_fine[2, 0] * x0 + ad_fine[2, 1] * x1 + ad_fine[2, 2] * x2 + bd_fine[2] * u
                x0, x1, x2 = y0, y1, y2
                if record:
                    trace[s * substeps + j] = x0
        else:
            u = imb + tripped + battery_mw
            y0 = ad_sec[0, 0] * x0 + ad_sec[0, 1] * x1 + ad_sec[0, 2] * x2 + bd_sec[0] * u
            y1 = ad_sec[1, 0] * x0 + ad_sec[1, 1] * x1 + ad_sec[1, 2] * x2 + bd_sec[1] * u
            y2 = ad_sec[2, 0] * x0 + ad_sec[2, 1] * x1 + ad_sec[2, 2] * x2 + bd_sec[2] * u
            x0, x1, x2 = y0, y1, y2
    x[0] = x0
    x[1] = x1
    x[2] = x2
    aux[0] = imb
    aux[1] = tripped
    ptr[0] = p
