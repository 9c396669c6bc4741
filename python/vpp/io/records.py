"""Conversion of store records between DataFrames and database rows.

Shared by the store implementations so that every store accepts the same
record inputs (a DataFrame or a mapping of columns; ``ts_ns`` as int64 ns or a
``timestamp`` datetime column) and returns the same frame dtypes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from vpp.errors import InputFormatError
from vpp.io.store import Records
from vpp.io.timestamps import to_ns

__all__ = ["as_frame", "column_values", "normalise_records", "records_frame"]

# Column kinds drive conversion on write and dtypes on read; columns not listed
# are REAL. Key text columns must not be missing; ``agent`` missing becomes "".
_INT, _REAL, _TEXT, _KEY_TEXT = "int", "real", "text", "key_text"
KINDS: dict[str, str] = {
    "ts_ns": _INT,
    "target_ts_ns": _INT,
    "horizon_steps": _INT,
    "site": _KEY_TEXT,
    "unit": _KEY_TEXT,
    "target": _KEY_TEXT,
    "agent": _TEXT,
    "reason": _TEXT,
    "model": _TEXT,
}


def as_frame(records: Records) -> pd.DataFrame:
    """Return records (a DataFrame or a mapping of equal-length columns) as a DataFrame."""
    if isinstance(records, pd.DataFrame):
        return records
    try:
        return pd.DataFrame(dict(records))
    except (TypeError, ValueError) as exc:
        raise InputFormatError(
            f"records must be a DataFrame or columns of equal length: {exc}"
        ) from None


def normalise_records(
    records: Records, table: str, columns: Sequence[str], required: Sequence[str]
) -> pd.DataFrame:
    """Return the records as a frame with an int64 ``ts_ns`` and all required columns."""
    df = as_frame(records)
    if "ts_ns" not in df.columns and "timestamp" in df.columns:
        df = df.assign(ts_ns=to_ns(df["timestamp"], column="timestamp"))
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputFormatError(
            f"{table} records lack column(s) {missing}; got {list(df.columns)}; "
            f"columns are {list(columns)}"
        )
    if df["ts_ns"].dtype.kind != "i":
        df = df.assign(ts_ns=to_ns(df["ts_ns"], column="ts_ns"))
    return df


def column_values(df: pd.DataFrame, col: str, table: str) -> list[Any]:
    """Return one column as Python values SQLite can bind (missing → None)."""
    kind = KINDS.get(col, _REAL)
    if col == "agent" and col not in df.columns:
        return [""] * len(df)
    s = df[col]
    if kind == _REAL:
        try:
            arr = pd.to_numeric(s).to_numpy(dtype=np.float64, na_value=np.nan)
        except (ValueError, TypeError) as exc:
            raise InputFormatError(f"{table}.{col} must be numeric: {exc}") from None
        return np.where(np.isfinite(arr), arr, np.nan).tolist()
    missing = pd.isna(s).to_numpy(dtype=bool)
    if kind == _INT:
        if s.dtype.kind == "M" or isinstance(s.dtype, pd.DatetimeTZDtype):
            if missing.any() and col != "target_ts_ns":
                _raise_missing(table, col, missing)
            out: list[Any] = [None] * len(s)
            ok = ~missing
            ns = to_ns(s[ok], column=col) if ok.any() else np.empty(0, np.int64)
            for i, v in zip(np.flatnonzero(ok).tolist(), ns.tolist(), strict=True):
                out[i] = v
            return out
        if missing.any():
            if col != "target_ts_ns":
                _raise_missing(table, col, missing)
            return [None if m else int(v) for v, m in zip(s.tolist(), missing, strict=True)]
        return s.to_numpy(dtype=np.int64).tolist()
    if kind == _KEY_TEXT and missing.any():
        _raise_missing(table, col, missing)
    fill = "" if col == "agent" else None
    return [fill if m else str(v) for v, m in zip(s.tolist(), missing, strict=True)]


def _raise_missing(table: str, col: str, missing: np.ndarray) -> None:
    row = int(np.flatnonzero(missing)[0])
    raise InputFormatError(f"{table}.{col} is missing at row {row}; it is part of the key")


def records_frame(rows: list[tuple[Any, ...]], columns: Sequence[str]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=list(columns))
    for col in columns:
        kind = KINDS.get(col, _REAL)
        if kind == _REAL:
            df[col] = df[col].astype(np.float64)
        elif kind == _INT:
            df[col] = df[col].astype("Int64" if df[col].isna().any() else np.int64)
        else:
            df[col] = df[col].astype(object)
    return df
