"""Parse the ``since`` argument of the MCP tools."""

from __future__ import annotations

import re

import pandas as pd

from vpp.errors import ParameterError

__all__ = ["parse_since"]

_UNITS_S = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d|w)\s*$", re.IGNORECASE)


def parse_since(text: str, latest_ns: int) -> int:
    """Return the UTC ns time that ``text`` names.

    Args:
        text: an ISO 8601 time (naive means UTC) or a look-back such as
            ``"30min"``, ``"6h"``, ``"2d"``, counted back from ``latest_ns``.
        latest_ns: the latest record's time.

    Raises:
        ParameterError: text that is neither.
    """
    m = _DURATION.match(text)
    if m:
        seconds = float(m.group(1)) * _UNITS_S[m.group(2).lower()]
        return latest_ns - int(seconds * 1e9)
    try:
        ts = pd.Timestamp(text.strip())
    except (ValueError, TypeError):
        raise ParameterError(
            f"since={text!r} is neither an ISO 8601 time (e.g. 2025-01-02T06:00:00Z) "
            "nor a look-back such as '30min', '6h' or '2d'"
        ) from None
    if ts is pd.NaT:
        raise ParameterError(f"since={text!r} is not a time")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value)
