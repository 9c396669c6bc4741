"""Store records as InfluxDB line protocol.

One point per record; the record's key columns are tags and its timestamp is
the point's time (nanoseconds), so writing the same record twice overwrites
the same point: writes are idempotent, as the store contract requires.

Measurements and their tags (the rest are fields):

* ``telemetry``: tag ``site``; fields the signals (missing ones omitted) and
  ``event=1i``, present on every point, so an event with every signal
  missing is still a point and ``count(event)`` counts events.
* ``forecast``: tags ``site``, ``target``, ``horizon_steps``; time = issue time.
* ``dispatch``: tags ``site``, ``unit``, ``agent`` (omitted when empty).
* ``soc``: tags ``site``, ``unit``.

Example:
    >>> import numpy as np
    >>> from vpp.io import Telemetry
    >>> tel = Telemetry(np.array([5]), np.array(["a b"], dtype=object),
    ...                 np.array([[1.5, np.nan]]), ["load_mw", "solar_mw"])
    >>> telemetry_lines(tel)
    ['telemetry,site=a\\\\ b load_mw=1.5,event=1i 5']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from vpp.io.records import column_values, normalise_records
from vpp.io.store import (
    DISPATCH_COLUMNS,
    DISPATCH_REQUIRED,
    FORECAST_COLUMNS,
    FORECAST_REQUIRED,
    SOC_COLUMNS,
    SOC_REQUIRED,
    Records,
)
from vpp.io.telemetry import Telemetry

__all__ = [
    "MEASUREMENT_TAGS",
    "dispatch_lines",
    "escape_tag",
    "field_string",
    "forecast_lines",
    "soc_lines",
    "telemetry_lines",
]

#: Tags of each measurement, in the order written (the series key).
MEASUREMENT_TAGS: dict[str, tuple[str, ...]] = {
    "telemetry": ("site",),
    "forecast": ("site", "target", "horizon_steps"),
    "dispatch": ("site", "unit", "agent"),
    "soc": ("site", "unit"),
}

_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "\\\\"})
_INT_FIELDS = frozenset({"target_ts_ns"})
_STRING_FIELDS = frozenset({"reason", "model"})


def escape_tag(value: str) -> str:
    """Escape a tag key or value (commas, equals signs, spaces, backslashes)."""
    return value.translate(_TAG_ESCAPES)


def field_string(value: str) -> str:
    """Quote a string field value."""
    text = value.replace("\\", "\\\\").replace('"', '\\"')
    # Line protocol ends a point at a newline, even inside a string field.
    return '"' + text.replace("\n", "\\n").replace("\r", "\\r") + '"'


def telemetry_lines(telemetry: Telemetry) -> list[str]:
    """One point per event; missing signals are omitted."""
    n = len(telemetry)
    if n == 0:
        return []
    names = [escape_tag(s) for s in telemetry.signals]
    finite = np.isfinite(telemetry.values)
    tags = _site_tags(telemetry.sites)
    ts = telemetry.ts_ns.tolist()
    if finite.all():
        # Common case: every field present; one join per row, no per-field checks.
        rows = telemetry.values.tolist()
        return [
            f"telemetry,site={tag} "
            + ",".join([f"{k}={v!r}" for k, v in zip(names, row, strict=True)])
            + f",event=1i {t}"
            for tag, row, t in zip(tags, rows, ts, strict=True)
        ]
    out: list[str] = []
    for tag, row, ok, t in zip(tags, telemetry.values.tolist(), finite.tolist(), ts, strict=True):
        fields = "".join([f"{k}={v!r}," for k, v, f in zip(names, row, ok, strict=True) if f])
        out.append(f"telemetry,site={tag} {fields}event=1i {t}")
    return out


def forecast_lines(records: Records) -> list[str]:
    """Points of the ``forecast`` measurement (see the module doc)."""
    df = normalise_records(records, "forecast", FORECAST_COLUMNS, FORECAST_REQUIRED)
    return _record_lines("forecast", df, FORECAST_COLUMNS)


def dispatch_lines(records: Records) -> list[str]:
    """Points of the ``dispatch`` measurement."""
    df = normalise_records(records, "dispatch", DISPATCH_COLUMNS, DISPATCH_REQUIRED)
    return _record_lines("dispatch", df, DISPATCH_COLUMNS)


def soc_lines(records: Records) -> list[str]:
    """Points of the ``soc`` measurement."""
    df = normalise_records(records, "soc", SOC_COLUMNS, SOC_REQUIRED)
    return _record_lines("soc", df, SOC_COLUMNS)


def _site_tags(sites: np.ndarray) -> list[str]:
    # Few distinct sites per batch: escape each once.
    cache: dict[str, str] = {}
    out = []
    for s in sites.tolist():
        tag = cache.get(s)
        if tag is None:
            tag = cache[s] = escape_tag(str(s))
        out.append(tag)
    return out


def _record_lines(measurement: str, df: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    if len(df) == 0:
        return []
    tag_names = MEASUREMENT_TAGS[measurement]
    field_names = [c for c in columns if c not in tag_names and c != "ts_ns" and c in df.columns]
    # The same conversion and checks as the SQLite store (missing key columns raise).
    tag_cols = [
        [escape_tag(str(v)) for v in column_values(df, c, measurement)]
        if c in df.columns or c == "agent"
        else [""] * len(df)
        for c in tag_names
    ]
    field_cols = [_field_column(name, column_values(df, name, measurement)) for name in field_names]
    ts = df["ts_ns"].to_numpy(dtype=np.int64).tolist()
    out: list[str] = []
    for i, t in enumerate(ts):
        # An empty tag value is no tag (InfluxDB drops it): "" agent reads back as "".
        tags = "".join(
            f",{name}={col[i]}" for name, col in zip(tag_names, tag_cols, strict=True) if col[i]
        )
        fields = ",".join(
            f"{name}={col[i]}"
            for name, col in zip(field_names, field_cols, strict=True)
            if col[i] is not None
        )
        if fields:
            out.append(f"{measurement}{tags} {fields} {t}")
    return out


def _field_column(name: str, values: list[Any]) -> list[str | None]:
    """Field values as line-protocol text, ``None`` where missing."""
    if name in _STRING_FIELDS:
        return [None if v is None else field_string(str(v)) for v in values]
    if name in _INT_FIELDS:
        return [None if v is None else f"{int(v)}i" for v in values]
    return [None if v is None or not math.isfinite(v) else repr(float(v)) for v in values]
