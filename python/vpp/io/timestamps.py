"""Timestamp parsing shared by the file readers and :class:`~vpp.io.Telemetry`.

Inside vpp every timestamp is int64 nanoseconds since the Unix epoch, UTC.
Inputs may be datetimes, ISO 8601 strings (with or without a UTC offset; a
naive time is taken as UTC) or epoch numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from vpp.errors import InputFormatError

__all__ = ["EpochUnit", "RowRef", "detect_epoch_unit", "to_ns"]

EpochUnit = Literal["s", "ms", "us", "ns", "auto"]

_NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}

# Epoch magnitude limits: the largest absolute value read as each unit. 1e11 s
# is the year 5138 and 1e11 ms is 1973, so a present-day epoch in any unit
# falls clearly in one band (seconds ~1.7e9, ms ~1.7e12, us ~1.7e15, ns ~1.7e18).
_EPOCH_BANDS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))


@dataclass(frozen=True)
class RowRef:
    """How error messages refer to a row: ``f"{label} {index + base}"``.

    A CSV reader uses ``RowRef("line", 2)`` (the header is line 1); in-memory
    frames use the default 0-based ``row``.
    """

    label: str = "row"
    base: int = 0

    def __call__(self, index: int) -> str:
        return f"{self.label} {index + self.base}"


def detect_epoch_unit(values: np.ndarray) -> str:
    """Return the epoch unit (``s``, ``ms``, ``us`` or ``ns``) of numbers by magnitude.

    The largest absolute value decides: below 1e11 seconds, below 1e14
    milliseconds, below 1e17 microseconds, otherwise nanoseconds.
    """
    if values.size == 0:
        return "ns"
    top = float(np.nanmax(np.abs(values.astype(np.float64))))
    for limit, unit in _EPOCH_BANDS:
        if top < limit:
            return unit
    return "ns"


def to_ns(
    col: pd.Series,
    column: str = "timestamp",
    epoch_unit: EpochUnit = "ns",
    row: RowRef | None = None,
) -> np.ndarray:
    """Convert a column of timestamps to int64 UTC nanoseconds.

    Args:
        col: datetimes (naive meaning UTC), ISO 8601 strings, or epoch numbers
            (numbers may also arrive as strings).
        column: the column's name, for error messages.
        epoch_unit: unit of numeric timestamps; ``"auto"`` detects it by
            magnitude (:func:`detect_epoch_unit`). Fractional (float) epochs
            are rounded to the microsecond, the precision float64 holds.
        row: how error messages name rows.

    Raises:
        InputFormatError: a missing or unparseable timestamp, naming the first
            such row and its text.
    """
    row = row or RowRef()
    if isinstance(col.dtype, pd.DatetimeTZDtype) or col.dtype.kind == "M":
        dt = pd.to_datetime(col, utc=True)
        _raise_on_missing(dt.isna().to_numpy(), column, row)
        return dt.dt.as_unit("ns").astype("int64").to_numpy()
    if col.dtype.kind in "iufb":
        return _numeric_to_ns(col.to_numpy(), column, epoch_unit, row)

    text = col.astype("string").str.strip()
    empty = (text.isna() | (text == "")).to_numpy(dtype=bool)
    _raise_on_missing(empty, column, row)
    if len(text) and _is_number(str(text.iloc[0])):
        # Epoch numbers that arrived as text (e.g. a stray bad cell made the
        # column text): a cell that is not a number is then an error.
        numbers = pd.to_numeric(text, errors="coerce")
        bad = numbers.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputFormatError(
                f"cannot parse timestamp {text.iloc[i]!r} in column {column!r} at {row(i)}: "
                "the column holds epoch numbers"
            )
        return _numeric_to_ns(numbers.to_numpy(), column, epoch_unit, row)
    dt = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = dt.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputFormatError(
            f"cannot parse timestamp {text.iloc[i]!r} in column {column!r} at {row(i)}: "
            "expected ISO 8601 (e.g. 2024-12-01T00:30:00+00:00; no offset means UTC) "
            "or an epoch number"
        )
    return dt.dt.as_unit("ns").astype("int64").to_numpy()


def _numeric_to_ns(values: np.ndarray, column: str, unit: EpochUnit, row: RowRef) -> np.ndarray:
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        _raise_on_missing(~finite, column, row)
    if unit == "auto":
        unit = detect_epoch_unit(values)  # type: ignore[assignment]
    factor = _NS_PER_UNIT[unit]
    if values.dtype.kind == "f":
        # A float64 epoch of today carries about 0.25 us of precision whatever
        # its unit, so round to whole microseconds: 1700000000.1 s must become
        # ...100000 us exactly, not 24 ns off.
        us = np.rint(values * (factor / 1000.0))
        if np.any(np.abs(us) > 9.2e15):
            raise InputFormatError(f"epoch timestamps in column {column!r} overflow int64 ns")
        return us.astype(np.int64) * 1000
    ints = values.astype(np.int64)
    if factor != 1 and np.any(np.abs(ints) > np.iinfo(np.int64).max // factor):
        raise InputFormatError(f"epoch timestamps in column {column!r} overflow int64 ns")
    return ints * factor


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _raise_on_missing(missing: np.ndarray, column: str, row: RowRef) -> None:
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise InputFormatError(f"missing timestamp in column {column!r} at {row(i)}")
