"""The in-memory telemetry table every vpp command passes around.

A :class:`Telemetry` holds the columns the feature engine reads without any
conversion: int64 UTC nanoseconds, an object array of site ids and one
C-contiguous float64 matrix with a column per canonical signal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vpp.errors import InputFormatError
from vpp.io.timestamps import to_ns
from vpp.schema import DEFAULT_SITE, NET_LOAD, SIGNALS

__all__ = ["Telemetry"]

_RENEWABLES = ("solar_mw", "wind_mw")


@dataclass(eq=False)
class Telemetry:
    """A batch of telemetry events, ordered by time.

    Attributes:
        ts_ns: int64 UTC timestamps in nanoseconds since the epoch, shape ``(n,)``.
        sites: object array of ``str`` site ids, shape ``(n,)``.
        values: float64 matrix, shape ``(n, k)``, C-contiguous; NaN means missing.
        signals: the ``k`` canonical signal names of the columns of ``values``,
            in canonical order (:data:`vpp.schema.SIGNALS`).

    Constructing directly validates dtypes and shapes and puts the columns in
    canonical order but does not sort; :meth:`from_frame` sorts stably by time.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"timestamp": ["2024-01-01T00:15Z", "2024-01-01T00:00Z"],
        ...                    "load_mw": [2.0, 1.0]})
        >>> tel = Telemetry.from_frame(df)
        >>> len(tel), tel.signals, tel.column("load_mw").tolist()
        (2, ['load_mw'], [1.0, 2.0])
    """

    ts_ns: np.ndarray
    sites: np.ndarray
    values: np.ndarray
    signals: list[str]

    def __post_init__(self) -> None:
        ts = np.asarray(self.ts_ns)
        if ts.ndim != 1:
            raise InputFormatError(f"ts_ns must be 1-D, got shape {ts.shape}")
        if ts.dtype.kind == "M":
            ts = ts.astype("datetime64[ns]").view(np.int64)
        elif ts.dtype.kind not in "iu":
            raise InputFormatError(f"ts_ns must be int64 nanoseconds, got dtype {ts.dtype}")
        n = ts.shape[0]
        self.ts_ns = np.ascontiguousarray(ts, dtype=np.int64)

        sites = np.asarray(self.sites, dtype=object)
        if sites.ndim == 0:
            sites = np.full(n, str(sites.item()), dtype=object)
        if sites.shape != (n,):
            raise InputFormatError(f"sites has shape {sites.shape}, expected ({n},)")
        self.sites = sites

        signals = [str(s) for s in self.signals]
        unknown = [s for s in signals if s not in SIGNALS]
        if unknown:
            raise InputFormatError(
                f"unknown signal name(s) {unknown}; canonical signals are {list(SIGNALS)}"
            )
        if len(set(signals)) != len(signals):
            raise InputFormatError(f"duplicate signal names in {signals}")
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim == 1 and len(signals) == 1:
            values = values.reshape(-1, 1)
        if values.shape != (n, len(signals)):
            raise InputFormatError(
                f"values has shape {values.shape}, expected ({n}, {len(signals)}) "
                f"for signals {signals}"
            )
        order = sorted(range(len(signals)), key=lambda j: SIGNALS.index(signals[j]))
        if order != list(range(len(signals))):
            values = values[:, order]
            signals = [signals[j] for j in order]
        self.values = np.ascontiguousarray(values)
        self.signals = signals

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    def __repr__(self) -> str:
        span = ""
        if len(self):
            first = pd.Timestamp(int(self.ts_ns.min()), tz="UTC")
            last = pd.Timestamp(int(self.ts_ns.max()), tz="UTC")
            span = f", {first.isoformat()} .. {last.isoformat()}"
        return (
            f"Telemetry(n={len(self)}, sites={len(self.site_ids())}, signals={self.signals}{span})"
        )

    def slice(self, start: int, stop: int) -> Telemetry:
        """Events ``start:stop`` (views, no copy), e.g. to cut a stream into batches."""
        return Telemetry(
            self.ts_ns[start:stop], self.sites[start:stop], self.values[start:stop], self.signals
        )

    @classmethod
    def empty(cls, signals: Sequence[str] = SIGNALS) -> Telemetry:
        """Return a batch with no events and the given signal columns."""
        return cls(
            ts_ns=np.empty(0, dtype=np.int64),
            sites=np.empty(0, dtype=object),
            values=np.empty((0, len(signals))),
            signals=list(signals),
        )

    @classmethod
    def from_frame(cls, df: pd.DataFrame, site: str = DEFAULT_SITE) -> Telemetry:
        """Build a time-ordered batch from a DataFrame.

        Args:
            df: a frame with a ``timestamp`` column (datetime64 or ISO 8601
                strings, naive meaning UTC, or int64 nanoseconds since the
                epoch), or an int64 ``ts_ns`` column, or a DatetimeIndex; an optional
                ``site`` column, and any canonical signal columns. Other columns
                are ignored.
            site: site id for every row when ``df`` has no ``site`` column.

        Returns:
            The events sorted stably by time (rows with equal timestamps keep
            their order, so sites stay interleaved as given).

        Raises:
            InputFormatError: no time column, a missing (NaT) timestamp, no
                canonical signal column, or a non-numeric signal column.
        """
        if "timestamp" in df.columns:
            ts = to_ns(df["timestamp"], column="timestamp")
        elif "ts_ns" in df.columns:
            ts = to_ns(df["ts_ns"], column="ts_ns")
        elif isinstance(df.index, pd.DatetimeIndex):
            ts = to_ns(pd.Series(df.index), column="index")
        else:
            raise InputFormatError(
                f"no 'timestamp' or 'ts_ns' column; columns found: {list(df.columns)}"
            )
        if "site" in df.columns:
            site_col = df["site"]
            if site_col.isna().any():
                row = int(np.flatnonzero(site_col.isna().to_numpy())[0])
                raise InputFormatError(f"missing site id at row {row}")
            sites = site_col.astype(str).to_numpy(dtype=object)
        else:
            sites = np.full(len(df), str(site), dtype=object)
        signals = [s for s in SIGNALS if s in df.columns]
        if not signals:
            raise InputFormatError(
                f"no canonical signal column; columns found: {list(df.columns)}; "
                f"expected any of {list(SIGNALS)}"
            )
        values = np.empty((len(df), len(signals)), dtype=np.float64)
        for j, name in enumerate(signals):
            col = df[name]
            if col.dtype.kind not in "fiub":
                try:
                    col = pd.to_numeric(col)
                except (ValueError, TypeError) as exc:
                    raise InputFormatError(
                        f"signal column {name!r} is not numeric (dtype {col.dtype}): {exc}"
                    ) from None
            values[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        order = np.argsort(ts, kind="stable")
        if np.any(order != np.arange(len(order))):
            ts, sites, values = ts[order], sites[order], values[order]
        return cls(ts_ns=ts, sites=sites, values=values, signals=signals)

    def to_frame(self) -> pd.DataFrame:
        """Return a frame with ``timestamp`` (datetime64[ns, UTC]), ``site`` and the signals."""
        data: dict[str, Any] = {
            "timestamp": pd.to_datetime(self.ts_ns, unit="ns", utc=True),
            "site": self.sites.astype(str),
        }
        for j, name in enumerate(self.signals):
            data[name] = self.values[:, j]
        return pd.DataFrame(data)

    def column(self, name: str) -> np.ndarray:
        """Return one signal as a float64 array.

        ``net_load_mw`` is derived as ``load_mw - solar_mw - wind_mw``, absent
        renewables counting as 0. Canonical columns are views into ``values``.

        Raises:
            KeyError: the signal is not in this batch (the message lists those present).
        """
        if name in self.signals:
            return self.values[:, self.signals.index(name)]
        if name == NET_LOAD and "load_mw" in self.signals:
            net = self.column("load_mw").copy()
            for r in _RENEWABLES:
                if r in self.signals:
                    net -= self.column(r)
            return net
        raise KeyError(f"signal {name!r} not in this telemetry; present: {self.signals}")

    def select(self, signals: Sequence[str], fill_missing: bool = False) -> Telemetry:
        """Return a batch with only the given signals (in canonical order).

        Args:
            signals: canonical signal names.
            fill_missing: give absent signals an all-NaN column instead of raising.

        Raises:
            InputFormatError: a name is not canonical.
            KeyError: a signal is absent and ``fill_missing`` is false.
        """
        wanted = [s for s in SIGNALS if s in signals]
        unknown = [s for s in signals if s not in SIGNALS]
        if unknown:
            raise InputFormatError(
                f"unknown signal name(s) {unknown}; canonical signals are {list(SIGNALS)}"
            )
        absent = [s for s in wanted if s not in self.signals]
        if absent and not fill_missing:
            raise KeyError(f"signal(s) {absent} not in this telemetry; present: {self.signals}")
        values = np.full((len(self), len(wanted)), np.nan)
        for j, name in enumerate(wanted):
            if name in self.signals:
                values[:, j] = self.values[:, self.signals.index(name)]
        return Telemetry(ts_ns=self.ts_ns, sites=self.sites, values=values, signals=wanted)

    def batches(self, size: int) -> Iterator[Telemetry]:
        """Yield consecutive batches of at most ``size`` events, in order."""
        if size <= 0:
            raise InputFormatError(f"batch size must be positive, got {size}")
        for start in range(0, len(self), size):
            yield self.slice(start, start + size)

    @classmethod
    def concat(cls, parts: Sequence[Telemetry]) -> Telemetry:
        """Join batches end to end (no re-sorting); signals are their union, absent ones NaN."""
        if not parts:
            return cls.empty()
        signals = [s for s in SIGNALS if any(s in p.signals for p in parts)]
        return cls(
            ts_ns=np.concatenate([p.ts_ns for p in parts]),
            sites=np.concatenate([p.sites for p in parts]),
            values=np.concatenate([p.select(signals, fill_missing=True).values for p in parts]),
            signals=signals,
        )

    def site_ids(self) -> list[str]:
        """Return the distinct site ids, sorted."""
        return sorted({str(s) for s in self.sites})

    def for_site(self, site: str) -> Telemetry:
        """Return the events of one site (order kept)."""
        mask = self.sites == site
        return Telemetry(
            ts_ns=self.ts_ns[mask],
            sites=self.sites[mask],
            values=self.values[mask],
            signals=list(self.signals),
        )
