"""Frequency-event metrics from a sampled frequency trace.

RoCoF (rate of change of frequency) is a finite difference over a window;
ENTSO-E recommends measuring it over 500 ms to be robust to noise and
phase jumps ("Frequency Stability Evaluation Criteria for the Synchronous
Zone of Continental Europe", 2016; "Rate of Change of Frequency (RoCoF)
withstand capability", 2018), which :func:`frequency_response` uses for its
maximum. The nadir is the lowest frequency after a loss of generation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vpp.errors import ParameterError

__all__ = ["FrequencyResponse", "frequency_response", "nadir_hz", "rocof_hz_per_s"]


def _trace(trace: npt.ArrayLike) -> np.ndarray:
    arr = np.asarray(trace, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 2:
        raise ParameterError("trace must be a 1-D array of at least 2 samples")
    return arr


def rocof_hz_per_s(trace: npt.ArrayLike, dt_s: float, window_s: float | None = None) -> np.ndarray:
    """RoCoF (Hz/s) at each sample: ``(f[k + w] - f[k]) / (w·dt)``.

    Args:
        trace: frequency samples (Hz), equally spaced.
        dt_s: sample spacing (s).
        window_s: measurement window (s), rounded to whole samples; default
            one sample.

    Returns:
        Array of ``len(trace) - w`` values; entry ``k`` covers samples k..k+w.

    Example:
        >>> rocof_hz_per_s([50.0, 49.9, 49.7], 0.5).round(6).tolist()
        [-0.2, -0.4]
    """
    f = _trace(trace)
    if not (math.isfinite(dt_s) and dt_s > 0):
        raise ParameterError(f"dt_s must be > 0, got {dt_s}")
    w = 1 if window_s is None else max(1, round(window_s / dt_s))
    if w >= f.size:
        raise ParameterError(f"window_s={window_s} is longer than the trace")
    return (f[w:] - f[:-w]) / (w * dt_s)


def nadir_hz(trace: npt.ArrayLike) -> float:
    """Lowest frequency of the trace (Hz), ignoring NaN.

    Example:
        >>> nadir_hz([50.0, 49.6, 49.8])
        49.6
    """
    return float(np.nanmin(_trace(trace)))


@dataclass(frozen=True)
class FrequencyResponse:
    """Metrics of one frequency event (a trace from the event onwards).

    Attributes:
        nadir_hz: lowest frequency.
        time_to_nadir_s: time from the event to the nadir.
        initial_rocof_hz_per_s: RoCoF over the first sample interval.
        max_rocof_hz_per_s: largest |RoCoF| over ``window_s``, with its sign.
        settled_hz: mean frequency over the final ``settle_s`` of the trace.
    """

    nadir_hz: float
    time_to_nadir_s: float
    initial_rocof_hz_per_s: float
    max_rocof_hz_per_s: float
    settled_hz: float


def frequency_response(
    trace: npt.ArrayLike,
    dt_s: float,
    event_s: float = 0.0,
    window_s: float = 0.5,
    settle_s: float = 10.0,
) -> FrequencyResponse:
    """Summarise a frequency event.

    Args:
        trace: frequency samples (Hz), equally spaced, starting at time 0.
        dt_s: sample spacing (s).
        event_s: time of the event within the trace (s); metrics use the
            trace from there on.
        window_s: RoCoF measurement window for the maximum (ENTSO-E: 0.5 s).
        settle_s: length of the final stretch averaged for ``settled_hz``.

    Raises:
        ParameterError: a bad trace, step or window.
    """
    f = _trace(trace)
    k0 = round(event_s / dt_s)
    if not 0 <= k0 < f.size - 1:
        raise ParameterError(f"event_s={event_s} is outside the trace")
    after = f[k0:]
    k_nadir = int(np.nanargmin(after))
    first = rocof_hz_per_s(after[:2], dt_s)[0]
    w = min(window_s, (after.size - 1) * dt_s)
    windowed = rocof_hz_per_s(after, dt_s, w)
    k_max = int(np.nanargmax(np.abs(windowed)))
    n_settle = max(1, min(after.size, round(settle_s / dt_s)))
    return FrequencyResponse(
        nadir_hz=float(after[k_nadir]),
        time_to_nadir_s=k_nadir * dt_s,
        initial_rocof_hz_per_s=float(first),
        max_rocof_hz_per_s=float(windowed[k_max]),
        settled_hz=float(np.nanmean(after[-n_settle:])),
    )
