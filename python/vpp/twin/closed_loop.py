"""Closed-loop twin: battery power decided from each observation feeds back into
the power balance before the next one.

Timing: :meth:`GridTwin.reset` returns the observation at ``start``; each
:meth:`GridTwin.step` holds the given battery power over the next output
step (zero-order hold), integrates the swing equation at the fine step and
returns the observation at the end of that step. An agent that decides from
the observation it has just received therefore acts without polling delay,
one output step at a time (e.g. every second for frequency response).

Battery power is positive when the fleet injects (discharges) into the grid:
it adds to the generation side of the imbalance, so discharging raises the
frequency. With zero battery power the closed loop reproduces
:func:`vpp.twin.simulate` exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vpp.errors import ParameterError
from vpp.schema import GRID_SIGNALS as SIGNALS
from vpp.twin.batch import TwinResult, to_frame
from vpp.twin.config import NS_PER_S, TwinConfig
from vpp.twin.engine import TwinEngine
from vpp.twin.frequency import FrequencyModel

__all__ = ["GridTwin", "TwinObservation"]

_PER_SITE = ("load_mw", "solar_mw", "wind_mw", "temperature_c")


@dataclass(frozen=True)
class TwinObservation:
    """The telemetry of every site at one output timestamp.

    Attributes:
        ts_ns: UTC nanoseconds.
        sites: site ids, in the row order of ``values``.
        values: float64 (n_sites, 6), columns in :data:`vpp.schema.GRID_SIGNALS`
            order (frequency and price are the same for every site).

    ``obs["load_mw"]`` returns one signal's column (one value per site).
    """

    ts_ns: int
    sites: tuple[str, ...]
    values: np.ndarray

    signals = SIGNALS

    def __getitem__(self, signal: str) -> np.ndarray:
        try:
            return self.values[:, SIGNALS.index(signal)]
        except ValueError:
            raise KeyError(f"unknown signal {signal!r}; signals are {list(SIGNALS)}") from None

    @property
    def frequency_hz(self) -> float:
        """The area's frequency (Hz)."""
        return float(self.values[0, SIGNALS.index("frequency_hz")])

    @property
    def price_per_mwh(self) -> float:
        """The area's price (EUR/MWh)."""
        return float(self.values[0, SIGNALS.index("price_per_mwh")])

    def as_dict(self) -> dict[str, Any]:
        """``{"ts_ns", "sites", <signal>: array per site}``."""
        out: dict[str, Any] = {"ts_ns": self.ts_ns, "sites": self.sites}
        for i, name in enumerate(SIGNALS):
            out[name] = self.values[:, i].copy()
        return out


class GridTwin:
    """The twin as an environment: ``reset()``, then ``step(battery_power_mw)``.

    Args:
        config: a :class:`TwinConfig`, or its fields as keyword arguments.

    Example:
        >>> twin = GridTwin(days=1 / 24, resolution="1s", trips=[(60, 1800.0)])
        >>> obs = twin.reset()
        >>> while not twin.done:
        ...     low = obs.frequency_hz < 49.9
        ...     obs = twin.step(500.0 if low else 0.0)  # a crude fast response
        >>> twin.step_index == twin.n_steps - 1
        True
    """

    def __init__(self, config: TwinConfig | None = None, **kwargs: Any) -> None:
        if config is not None and kwargs:
            raise TypeError("pass either a config or keyword fields, not both")
        self.config = config if config is not None else TwinConfig(**kwargs)
        self._eng = TwinEngine(self.config)
        self._keep = self.config.keeps_trace
        self._fine_per_step = self._eng.resolution_s * self._eng.substeps
        self._trace = np.empty(self.config.n_fine + 1 if self._keep else 0)
        self._sample = np.empty(1)
        self.reset()

    # -- read-only facts ----------------------------------------------------
    @property
    def sites(self) -> tuple[str, ...]:
        """Site ids, in observation row order."""
        return self._eng.site_names

    @property
    def n_steps(self) -> int:
        """Number of observations in the horizon (steps possible: ``n_steps - 1``)."""
        return self._eng.n_steps

    @property
    def resolution_s(self) -> int:
        """Output step (s)."""
        return self._eng.resolution_s

    @property
    def model(self) -> FrequencyModel:
        """The frequency model's gains and matrices."""
        return self._eng.model

    @property
    def step_index(self) -> int:
        """Index of the current observation (0 after reset)."""
        return self._i

    @property
    def time_ns(self) -> int:
        """UTC nanoseconds of the current observation."""
        return self._eng.start_ns + self._i * self._eng.resolution_s * NS_PER_S

    @property
    def done(self) -> bool:
        """True once the last observation of the horizon has been returned."""
        return self._i >= self._eng.n_steps - 1

    @property
    def observation(self) -> TwinObservation:
        """The current observation."""
        return self._obs

    @property
    def frequency_hz(self) -> float:
        """Frequency (Hz) now."""
        return self.config.nominal_hz + float(self._eng.x[0])

    @property
    def frequency_trace(self) -> np.ndarray | None:
        """Fine frequency trace (Hz) from ``start`` to now, or None if not kept."""
        if not self._keep:
            return None
        return self._trace[: 1 + self._i * self._fine_per_step] + self.config.nominal_hz

    # -- stepping -----------------------------------------------------------
    def reset(self) -> TwinObservation:
        """Go back to ``start`` (same seed, same noise) and return the first observation."""
        self._eng.reset()
        self._i = 0
        if self._keep:
            self._trace[0] = 0.0
        self._obs = self._observe()
        return self._obs

    def step(self, battery_power_mw: float | npt.ArrayLike = 0.0) -> TwinObservation:
        """Hold ``battery_power_mw`` over the next output step and return its end.

        Args:
            battery_power_mw: net battery injection (MW, positive =
                discharging into the grid), a scalar or one value per site
                (summed: the sites share one balancing area).

        Raises:
            RuntimeError: the horizon is over (see :attr:`done`).
            ParameterError: the power is not finite.
        """
        if self.done:
            raise RuntimeError("the twin's horizon is over; call reset()")
        power = float(np.sum(np.asarray(battery_power_mw, dtype=np.float64)))
        if not np.isfinite(power):
            raise ParameterError(f"battery_power_mw must be finite, got {battery_power_mw!r}")
        i, res, fps = self._i, self._eng.resolution_s, self._fine_per_step
        trace = self._trace[1 + i * fps : 1 + (i + 1) * fps] if self._keep else self._trace
        self._eng.integrate(i * res, res, power, self._sample, trace)
        self._i += 1
        self._obs = self._observe()
        return self._obs

    def _observe(self) -> TwinObservation:
        eng = self._eng
        day, row = divmod(self._i, eng.steps_per_day)
        blk = eng.block(day)
        m = eng.n_sites
        values = np.empty((m, len(SIGNALS)))
        for name in _PER_SITE:
            values[:, SIGNALS.index(name)] = getattr(blk, name)[row]
        values[:, SIGNALS.index("frequency_hz")] = self.frequency_hz
        values[:, SIGNALS.index("price_per_mwh")] = blk.price_per_mwh[row]
        return TwinObservation(int(blk.ts_ns[row]), eng.site_names, values)

    def run(
        self,
        controller: Callable[[TwinObservation], float | npt.ArrayLike] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[TwinResult, np.ndarray]:
        """Run the whole horizon from ``reset()`` with a controller in the loop.

        Args:
            controller: maps each observation to the battery power (MW) held
                until the next one; None means no battery.
            progress: called with the number of steps just taken.

        Returns:
            The telemetry result (as :func:`vpp.twin.simulate`) and the
            battery power applied after each observation, shape (n_steps,)
            (the last entry is 0: nothing follows the last observation).
        """
        obs = self.reset()
        n, m = self.n_steps, len(self.sites)
        ts = np.empty(n, dtype=np.int64)
        values = np.empty((n, m, len(SIGNALS)))
        battery = np.zeros(n)
        for i in range(n):
            ts[i] = obs.ts_ns
            values[i] = obs.values
            if i == n - 1:
                break
            battery[i] = float(np.sum(controller(obs))) if controller is not None else 0.0
            obs = self.step(battery[i])
            if progress is not None:
                progress(1)
        cols = {name: values[:, :, k] for k, name in enumerate(SIGNALS)}
        cols["frequency_hz"] = values[:, 0, SIGNALS.index("frequency_hz")]
        cols["price_per_mwh"] = values[:, 0, SIGNALS.index("price_per_mwh")]
        frame = to_frame(ts, self.sites, cols)
        result = TwinResult(
            frame, self.frequency_trace, self.config.fine_step_s, self._eng.start_ns, self.config
        )
        return result, battery
