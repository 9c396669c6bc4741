"""Read a user's telemetry file (CSV or Parquet) into the vpp schema.

Column resolution, in this order:

* ``columns`` maps canonical names to the file's column names
  (``--columns load_mw="Electricity Load",solar_mw="Solar PV Output (kW)"``).
  Besides the canonical signals, the keys ``timestamp`` and ``site`` may be
  mapped too.
* Canonical names that are not mapped are matched as-is, ignoring case and
  surrounding spaces.
* The time column is ``timestamp``, ``datetime``, ``time``, ``ts`` or ``date``
  (first found, ignoring case) unless mapped. It may hold ISO 8601 text, with
  or without an offset (a naive time is taken as UTC), or epoch numbers whose
  unit (s, ms, us or ns) is detected by magnitude: below 1e11 seconds, below
  1e14 milliseconds, below 1e17 microseconds, else nanoseconds.
* A ``site`` column is optional; without one every row belongs to ``site``
  (default ``"grid"``).

CSV files are comma-separated; a file whose header splits only on ``;``, tab
or ``|`` is read with that delimiter (decimal points must still be ``.``).

Units: with ``units="kW"`` the power signals (``load_mw``, ``solar_mw``,
``wind_mw``) are divided by 1000 and prices (per kWh) multiplied by 1000, so
the result is always in MW and per MWh. Frequency and temperature are unit-free
here. Empty cells are missing values (NaN); any other cell that is not a number
is an error naming the column and the first bad line.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from vpp.errors import InputFormatError
from vpp.io.telemetry import Telemetry
from vpp.io.timestamps import RowRef, to_ns
from vpp.schema import DEFAULT_SITE, POWER_SIGNALS, PRICE_SIGNALS, SIGNALS, UNITS

__all__ = ["MAPPABLE", "TIME_COLUMN_NAMES", "parse_columns_option", "read_telemetry"]

#: Names that ``--columns`` accepts on the left of ``=``.
MAPPABLE: tuple[str, ...] = ("timestamp", "site", *SIGNALS)

#: Column names taken as the time column when ``timestamp`` is not mapped.
TIME_COLUMN_NAMES: tuple[str, ...] = ("timestamp", "datetime", "time", "ts", "date")

_PARQUET_SUFFIXES = {".parquet", ".pq"}


def parse_columns_option(text: str | None) -> dict[str, str]:
    """Parse ``CANONICAL=SOURCE,...`` into a mapping.

    Sources may be quoted with ``"`` or ``'`` (needed when they contain a
    comma); quotes that the shell did not remove are stripped.

    Example:
        >>> parse_columns_option('load_mw="Electricity Load",solar_mw=Solar PV Output (kW)')
        {'load_mw': 'Electricity Load', 'solar_mw': 'Solar PV Output (kW)'}

    Raises:
        InputFormatError: an item without ``=``, an unknown canonical name
            (the message lists the accepted ones), a name given twice, an
            empty source or an unbalanced quote.
    """
    mapping: dict[str, str] = {}
    if not text:
        return mapping
    for item in _split_outside_quotes(text, ","):
        if not item.strip():
            continue
        key, sep, source = item.partition("=")
        if not sep:
            raise InputFormatError(
                f"--columns item {item.strip()!r} is not CANONICAL=SOURCE "
                f'(e.g. load_mw="Electricity Load")'
            )
        key = _unquote(key.strip())
        source = _unquote(source.strip())
        if key not in MAPPABLE:
            hint = difflib.get_close_matches(key, MAPPABLE, n=1)
            maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise InputFormatError(
                f"--columns: {key!r} is not a canonical name{maybe}; "
                f"expected one of {list(MAPPABLE)}"
            )
        if key in mapping:
            raise InputFormatError(f"--columns: {key!r} is mapped twice")
        if not source:
            raise InputFormatError(f"--columns: empty source column for {key!r}")
        mapping[key] = source
    return mapping


def read_telemetry(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    units: str = "MW",
    site: str | None = None,
) -> Telemetry:
    """Read a CSV or Parquet telemetry file.

    Args:
        path: a ``.csv`` (optionally compressed, e.g. ``.csv.gz``) or
            ``.parquet``/``.pq`` file.
        columns: canonical name → the file's column name (see the module doc).
        units: ``"MW"`` or ``"kW"`` (case-insensitive): the unit of the file's
            power columns; prices are per MWh or per kWh accordingly.
        site: without a ``site`` column, the site id of every row (default
            ``"grid"``); with one, keep only that site's rows.

    Returns:
        The events in MW / per MWh, sorted stably by time.

    Raises:
        FileNotFoundError: the file does not exist.
        InputFormatError: bad units, a mapping to a column the file lacks, no
            column that maps to a canonical signal, or a bad timestamp or value
            (each message names the columns or the line).
    """
    unit = _check_units(units)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"telemetry file not found: {path}")
    mapping = dict(columns or {})
    bad_keys = [k for k in mapping if k not in MAPPABLE]
    if bad_keys:
        raise InputFormatError(
            f"unknown canonical name(s) {bad_keys} in the column mapping; "
            f"expected any of {list(MAPPABLE)}"
        )
    is_parquet = path.suffix.lower() in _PARQUET_SUFFIXES
    found, sep = _read_header(path, is_parquet)
    row = RowRef("row", 0) if is_parquet else RowRef("line", 2)

    sources = _resolve_columns(found, mapping, path)
    time_src = sources.pop("timestamp")
    site_src = sources.pop("site", None)
    df = _read_frame(path, is_parquet, [time_src, *sources.values()], site_src, sep)

    ts = to_ns(df[time_src], column=time_src, epoch_unit="auto", row=row)
    if site_src is not None:
        site_col = df[site_src].astype("string").str.strip()
        missing = (site_col.isna() | (site_col == "")).to_numpy(dtype=bool)
        if missing.any():
            raise InputFormatError(
                f"missing site id in column {site_src!r} at {row(int(np.flatnonzero(missing)[0]))}"
            )
        sites = site_col.to_numpy(dtype=object)
    else:
        sites = np.full(len(df), site or DEFAULT_SITE, dtype=object)

    signals = [s for s in SIGNALS if s in sources]
    values = np.empty((len(df), len(signals)), dtype=np.float64)
    for j, name in enumerate(signals):
        values[:, j] = _numeric(df[sources[name]], sources[name], row)
        if unit == "kW" and name in POWER_SIGNALS:
            values[:, j] /= 1000.0
        elif unit == "kW" and name in PRICE_SIGNALS:
            values[:, j] *= 1000.0

    frame = pd.DataFrame({"ts_ns": ts, "site": sites})
    for j, name in enumerate(signals):
        frame[name] = values[:, j]
    if site_src is not None and site is not None:
        keep = frame["site"] == site
        if not keep.any():
            raise InputFormatError(
                f"no rows for site {site!r} in {path}; sites found: "
                f"{sorted(frame['site'].unique().tolist())[:20]}"
            )
        frame = frame[keep]
    return Telemetry.from_frame(frame)


def _check_units(units: str) -> str:
    for u in UNITS:
        if str(units).strip().lower() == u.lower():
            return u
    raise InputFormatError(f"unknown units {units!r}; expected one of {list(UNITS)}")


def _read_header(path: Path, is_parquet: bool) -> tuple[list[str], str]:
    """Return the column names and the CSV delimiter."""
    try:
        if is_parquet:
            import pyarrow.parquet as pq

            return [str(c) for c in pq.read_schema(path).names], ","
        cols = [str(c) for c in pd.read_csv(path, nrows=0, skipinitialspace=True).columns]
        # Spreadsheets in many locales export ';'-separated files; a single
        # comma-split column that holds another delimiter gives it away.
        if len(cols) == 1:
            for sep in (";", "\t", "|"):
                if sep in cols[0]:
                    head = pd.read_csv(path, nrows=0, sep=sep, skipinitialspace=True)
                    return [str(c) for c in head.columns], sep
        return cols, ","
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        kind = "Parquet" if is_parquet else "CSV"
        raise InputFormatError(f"cannot read {path} as {kind}: {exc}") from None


def _read_frame(
    path: Path, is_parquet: bool, wanted: list[str], site_src: str | None, sep: str
) -> pd.DataFrame:
    cols = list(dict.fromkeys([*wanted, *([site_src] if site_src else [])]))
    try:
        if is_parquet:
            return pd.read_parquet(path, columns=cols)
        # Numeric columns are inferred (the fast path); a column with stray text
        # stays text and is checked cell by cell in _numeric. Site ids stay text
        # so that "007" is not read as 7.
        dtype = {site_src: str} if site_src else None
        return pd.read_csv(path, sep=sep, usecols=cols, dtype=dtype, skipinitialspace=True)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        kind = "Parquet" if is_parquet else "CSV"
        raise InputFormatError(f"cannot read {path} as {kind}: {exc}") from None


def _resolve_columns(found: list[str], mapping: dict[str, str], path: Path) -> dict[str, str]:
    """Return canonical name → file column for every name the file provides."""
    by_folded: dict[str, str] = {}
    for c in found:
        by_folded.setdefault(c.strip().lower(), c)

    resolved: dict[str, str] = {}
    for key, source in mapping.items():
        if source in found:
            resolved[key] = source
        elif source.strip().lower() in by_folded:
            resolved[key] = by_folded[source.strip().lower()]
        else:
            raise InputFormatError(
                f"--columns maps {key} to {source!r}, which is not a column of {path}; "
                f"columns found: {found}"
            )
    taken = set(resolved.values())
    for name in ("site", *SIGNALS):
        if name in resolved:
            continue
        col = by_folded.get(name)
        if col is not None and col not in taken:
            resolved[name] = col
    if "timestamp" not in resolved:
        for name in TIME_COLUMN_NAMES:
            col = by_folded.get(name)
            if col is not None:
                resolved["timestamp"] = col
                break
        else:
            raise InputFormatError(
                f"no time column in {path}: columns found: {found}; expected one of "
                f"{list(TIME_COLUMN_NAMES)} (any case) or a mapping "
                f'--columns timestamp="Your Time Column"'
            )
    if not any(s in resolved for s in SIGNALS):
        raise InputFormatError(
            f"no column of {path} maps to a canonical signal: columns found: {found}; "
            f"expected any of {list(SIGNALS)} (any case), or a mapping such as "
            f'--columns load_mw="<your load column>",solar_mw="<your solar column>"'
        )
    return resolved


def _numeric(col: pd.Series, name: str, row: RowRef) -> np.ndarray:
    """Return a column as float64; empty cells are NaN, other text is an error."""
    if col.dtype.kind in "fiub":
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    text = col.astype("string").str.strip()
    numbers = pd.to_numeric(text.replace("", pd.NA), errors="coerce")
    bad = (numbers.isna() & text.notna() & (text != "")).to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputFormatError(
            f"non-numeric value {text.iloc[i]!r} in column {name!r} at {row(i)} "
            f"({int(bad.sum())} bad cell(s) in that column; empty cells count as missing)"
        )
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes; a quote opens only at the start of a name.

    Quotes inside a name (``Owner's Load``) are kept literally.
    """
    parts: list[str] = []
    buf: list[str] = []
    quote: str | None = None
    at_start = True  # only whitespace since the last separator or '='
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            buf.append(ch)
        elif ch in "\"'" and at_start:
            quote = ch
            buf.append(ch)
        elif ch == sep:
            parts.append("".join(buf))
            buf = []
            at_start = True
        else:
            buf.append(ch)
            if ch == "=":
                at_start = True
            elif not ch.isspace():
                at_start = False
    if quote:
        raise InputFormatError(f"--columns: unbalanced {quote} quote in {text!r}")
    parts.append("".join(buf))
    return parts


def _unquote(s: str) -> str:
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1].strip()
    return s
