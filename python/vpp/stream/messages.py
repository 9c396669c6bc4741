"""Telemetry events as Kafka messages: encoding, and batch decoding with validation.

One message per event, key = site id (UTF-8), value = a JSON object::

    {"ts_ns": 1700000000000000000, "site": "grid", "load_mw": 812.5, "solar_mw": null, ...}

* ``ts_ns``: int64 UTC nanoseconds (or ``timestamp``: an ISO 8601 string,
  naive meaning UTC);
* ``site``: optional, defaults to the message key, then to ``"grid"``; when
  both are given they must agree (the key decides the partition, and a site's
  feature state lives with its partition);
* any canonical signals (:data:`vpp.schema.SIGNALS`), numbers or ``null``
  (missing); at least one must be present;
* ``units``: optional ``"MW"`` (default) or ``"kW"`` (power / 1000, price x 1000).

:func:`decode_batch` parses a whole poll into columns in Rust without a
Python object per message (:func:`decode_batch_py` is the same with orjson);
only messages outside the usual shape are re-read one by one with the full
checks, which find and name the fault. A message is
rejected (with a reason) when it is not JSON, not an object, has unknown
fields, lacks a timestamp, has a non-numeric value or unknown units, or is not
later than its site's previous event.

Example:
    >>> vals = [b'{"ts_ns": 2, "site": "a", "load_mw": 1.5}', b'{"ts_ns": 1, "site": "a"}', b"x"]
    >>> d = decode_batch(vals, [b"a", b"a", None], {})
    >>> d.index.tolist(), d.ts_ns.tolist(), [r.split(" (")[0] for _, r in d.rejects]
    ([0], [2], ['no signal field', 'not JSON'])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

from vpp import _core
from vpp.io import Telemetry
from vpp.schema import DEFAULT_SITE, POWER_SIGNALS, PRICE_SIGNALS, SIGNALS

__all__ = ["DecodedBatch", "decode_batch", "decode_batch_py", "encode_events"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FAST_KEYS = ("ts_ns", "site", *SIGNALS)
_FAST_GET = itemgetter(*_FAST_KEYS)
_ALLOWED = frozenset({"ts_ns", "timestamp", "site", "units", *SIGNALS})
_NUMBER_TYPES = frozenset({float, int, type(None)})
_POWER_IDX = [SIGNALS.index(s) for s in SIGNALS if s in POWER_SIGNALS]
_PRICE_IDX = [SIGNALS.index(s) for s in SIGNALS if s in PRICE_SIGNALS]
_SIGNAL_LIST = list(SIGNALS)
# kW messages: power / 1000, price * 1000, in the same operations as _check_doc.
_KW_DIV = [1000.0 if s in POWER_SIGNALS else 1.0 for s in SIGNALS]
_KW_MUL = [1000.0 if s in PRICE_SIGNALS else 1.0 for s in SIGNALS]
_rust_decode = getattr(_core, "_decode_events", None)


@dataclass
class DecodedBatch:
    """The valid events of a batch of messages, and why the others were rejected.

    Attributes:
        ts_ns: int64 timestamps of the valid events, in message order.
        sites: object array of their site ids.
        values: float64 ``(n_valid, len(SIGNALS))``, all canonical signals,
            NaN where missing, converted to MW.
        index: positions (in the input) of the valid messages.
        rejects: ``(position, reason)`` of each rejected message, in order.
    """

    ts_ns: np.ndarray
    sites: np.ndarray
    values: np.ndarray
    index: np.ndarray
    rejects: list[tuple[int, str]]

    def telemetry(self) -> Telemetry:
        """The valid events as a :class:`vpp.io.Telemetry` with every canonical signal."""
        return Telemetry(self.ts_ns, self.sites, self.values, list(SIGNALS))


def encode_events(telemetry: Telemetry) -> tuple[list[bytes], list[bytes]]:
    """Encode events as ``(keys, values)`` message lists (see the module doc).

    Missing values (NaN, ±inf) become ``null``; only the batch's signals are written.
    """
    names = list(telemetry.signals)
    values = np.where(np.isfinite(telemetry.values), telemetry.values, np.nan).tolist()
    sites = [str(s) for s in telemetry.sites.tolist()]
    dumps = orjson.dumps
    payload = [
        dumps({"ts_ns": t, "site": s, **dict(zip(names, row, strict=True))})
        for t, s, row in zip(telemetry.ts_ns.tolist(), sites, values, strict=True)
    ]
    key_cache: dict[str, bytes] = {}
    keys = [key_cache.get(s) or key_cache.setdefault(s, s.encode()) for s in sites]
    return keys, payload


def decode_batch(
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None],
    last_ts: dict[str, int],
    default_site: str = DEFAULT_SITE,
) -> DecodedBatch:
    """Decode and validate a batch of message values, in order.

    Messages in the usual shape are parsed straight into columns in Rust
    (``vpp._core``); the rest, and any whose site disagrees with its key, go
    through the full per-message checks, which name the fault.

    Args:
        values: message values (``None`` for a tombstone).
        keys: message keys, same length.
        last_ts: site → timestamp of its last accepted event; updated in place
            with the events accepted here (it is the out-of-order reference).
        default_site: site of a message with neither ``site`` nor a key.

    Returns:
        The valid events and the rejected positions with reasons.
    """
    if _rust_decode is None:
        return decode_batch_py(values, keys, last_ts, default_site)
    values = values if isinstance(values, list) else list(values)
    ts, codes, names, vals, status = _rust_decode(values, _SIGNAL_LIST, _KW_DIV, _KW_MUL)
    check = status.astype(bool)
    sites = np.array([*names, None], dtype=object)[codes]  # code -1 (no site) -> None
    encoded = [name.encode() for name in names]
    codes_list = codes.tolist()
    unprintable = {c for c, name in enumerate(names) if not name.isprintable()}
    mismatched = {
        (key, code)
        for key, code in set(zip(keys, codes_list, strict=True))
        if code >= 0 and ((key is not None and key != encoded[code]) or code in unprintable)
    }
    if mismatched:
        for i, pair in enumerate(zip(keys, codes_list, strict=True)):
            if pair in mismatched:
                check[i] = True
    for i in np.flatnonzero((codes < 0) & ~check).tolist():
        key = keys[i]
        if key is None:
            sites[i] = default_site
        else:
            try:
                sites[i] = key.decode() or default_site
            except UnicodeDecodeError:
                check[i] = True
            if not check[i] and not sites[i].isprintable():
                check[i] = True
    rejects: list[tuple[int, str]] = []
    valid = ~check
    # Sites of re-checked messages may not match their code: the per-event loop decides.
    codes_ok = not check.any() and len(codes) > 0 and int(codes.min()) >= 0
    for i in np.flatnonzero(check).tolist():
        checked = _check_doc(_safe_loads(values[i]), keys[i], default_site)
        if isinstance(checked, str):
            rejects.append((i, checked))
            continue
        ts[i], sites[i], vals[i] = checked
        valid[i] = True
    idx = np.flatnonzero(valid)
    if not (codes_ok and _all_in_order(ts, codes, names, last_ts)):
        index = idx.tolist()
        ts_list = ts[idx].tolist()
        site_list = sites[idx].tolist()
        keep = _in_order(ts_list, site_list, index, last_ts, rejects)
        if len(keep) != len(index):
            idx = idx[np.asarray(keep, dtype=np.intp)]
    rejects.sort()
    return DecodedBatch(
        ts_ns=ts[idx],
        sites=sites[idx],
        values=np.ascontiguousarray(vals[idx]),
        index=idx.astype(np.int64),
        rejects=rejects,
    )


def decode_batch_py(
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None],
    last_ts: dict[str, int],
    default_site: str = DEFAULT_SITE,
) -> DecodedBatch:
    """:func:`decode_batch` in Python with orjson (the reference; and the path
    when the Rust extension is older than this module)."""
    loads = orjson.loads
    try:
        docs: list[Any] = [loads(v) for v in values]  # type: ignore[arg-type]
    except orjson.JSONDecodeError:
        docs = [_safe_loads(v) for v in values]
    fast = _fast_columns(docs, keys)
    rejects: list[tuple[int, str]] = []
    if fast is not None:
        ts_list, site_list, vals = fast
        index = list(range(len(docs)))
    else:
        ts_list, site_list, rows, index = [], [], [], []
        for i, (doc, key) in enumerate(zip(docs, keys, strict=True)):
            checked = _check_doc(doc, key, default_site)
            if isinstance(checked, str):
                rejects.append((i, checked))
                continue
            ts_list.append(checked[0])
            site_list.append(checked[1])
            rows.append(checked[2])
            index.append(i)
        vals = np.array(rows, dtype=np.float64).reshape(len(rows), len(SIGNALS))
    keep = _in_order(ts_list, site_list, index, last_ts, rejects)
    if len(keep) != len(index):
        pos = np.asarray(keep, dtype=np.intp)
        index = [index[k] for k in keep]
        ts_list = [ts_list[k] for k in keep]
        site_list = [site_list[k] for k in keep]
        vals = vals[pos]
    rejects.sort()
    return DecodedBatch(
        ts_ns=np.array(ts_list, dtype=np.int64),
        sites=np.array(site_list, dtype=object),
        values=np.ascontiguousarray(vals, dtype=np.float64),
        index=np.array(index, dtype=np.int64),
        rejects=rejects,
    )


class _Bad:
    """A message that is not JSON (kept apart from any JSON value)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _safe_loads(v: bytes | None) -> Any:
    if v is None:
        return _Bad("empty message (no value)")
    try:
        return orjson.loads(v)
    except orjson.JSONDecodeError as exc:
        return _Bad(f"not JSON ({_short(str(exc), 80)[1:-1]})")


def _fast_columns(
    docs: list[Any], keys: Sequence[bytes | None]
) -> tuple[list[int], list[str], np.ndarray] | None:
    """Columns of a batch of well-formed full messages, or None to check one by one."""
    if not docs or set(map(type, docs)) != {dict} or set(map(len, docs)) != {len(_FAST_KEYS)}:
        return None
    try:
        rows = list(map(_FAST_GET, docs))
    except KeyError:
        return None
    cols = list(zip(*rows, strict=True))
    ts_list, site_list = list(cols[0]), list(cols[1])
    if set(map(type, ts_list)) != {int} or set(map(type, site_list)) != {str}:
        return None
    if min(ts_list) < _INT64_MIN or max(ts_list) > _INT64_MAX:
        return None
    if not set(map(type, chain.from_iterable(cols[2:]))) <= _NUMBER_TYPES:
        return None
    for key, site in set(zip(keys, site_list, strict=True)):
        if not site or (key is not None and key != site.encode()):
            return None
    try:
        vals = np.array(cols[2:], dtype=np.float64).T
    except OverflowError:
        return None
    if not np.isfinite(vals[~np.isnan(vals)]).all():
        return None  # an integer too large for float64 became inf
    return ts_list, site_list, vals


def _check_doc(
    doc: Any, key: bytes | None, default_site: str
) -> tuple[int, str, list[float]] | str:
    """``(ts_ns, site, values)`` of one message, or the reason it is rejected."""
    if isinstance(doc, _Bad):
        return doc.reason
    if type(doc) is not dict:
        return f"not a JSON object (got {type(doc).__name__})"
    unknown = doc.keys() - _ALLOWED
    if unknown:
        return f"unknown field(s) {sorted(unknown)[:5]}"
    ts = _timestamp(doc)
    if isinstance(ts, str):
        return ts
    site, problem = _site(doc, key, default_site)
    if problem is not None:
        return problem
    units = doc.get("units", "MW")
    if units not in ("MW", "kW"):
        return f"unknown units {_short(units)}; expected 'MW' or 'kW'"
    if not any(s in doc for s in SIGNALS):
        return "no signal field"
    row: list[float] = []
    for name in SIGNALS:
        v = doc.get(name)
        if v is None:
            row.append(math.nan)
            continue
        if type(v) not in (float, int):
            return f"non-numeric value for {name}: {_short(v)}"
        try:
            fv = float(v)
        except OverflowError:
            fv = math.inf
        if not math.isfinite(fv):
            return f"value out of range for {name}: {_short(v)}"
        row.append(fv)
    if units == "kW":
        for j in _POWER_IDX:
            row[j] /= 1000.0
        for j in _PRICE_IDX:
            row[j] *= 1000.0
    return ts, site, row


def _timestamp(doc: dict[str, Any]) -> int | str:
    if "ts_ns" in doc:
        t = doc["ts_ns"]
        if type(t) is not int:
            return f"ts_ns must be integer nanoseconds, got {_short(t)}"
        if not _INT64_MIN <= t <= _INT64_MAX:
            return f"ts_ns out of int64 range: {_short(t)}"
        return t
    if "timestamp" in doc:
        text = doc["timestamp"]
        if type(text) is not str:
            return f"timestamp must be an ISO 8601 string, got {_short(text)}"
        import pandas as pd

        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError):
            return f"unparseable timestamp {_short(text)}"
        if stamp is pd.NaT:
            return f"unparseable timestamp {_short(text)}"
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        return int(stamp.value)
    return "missing timestamp (ts_ns or timestamp)"


def _site(doc: dict[str, Any], key: bytes | None, default_site: str) -> tuple[str, str | None]:
    """``(site, None)``, or ``("", reason)`` when the site is unusable."""
    site = doc.get("site")
    key_text = None
    if key is not None:
        try:
            key_text = key.decode()
        except UnicodeDecodeError:
            return "", "message key is not UTF-8"
    if site is None:
        site = key_text or default_site
        if not site.isprintable():
            return "", f"site contains control characters: {_short(site)}"
        return site, None
    if type(site) is not str or not site:
        return "", f"site must be a non-empty string, got {_short(site)}"
    if not site.isprintable():
        # Line protocol (InfluxDB tags) cannot carry newlines or other controls.
        return "", f"site contains control characters: {_short(site)}"
    if key_text is not None and key_text != site:
        return "", f"site {_short(site)} does not match the message key {_short(key_text)}"
    return site, None


def _all_in_order(
    ts: np.ndarray, codes: np.ndarray, names: list[str], last_ts: dict[str, int]
) -> bool:
    """Whether every event is later than its site's last one (sites by code:
    ``names[codes[i]]``, all codes valid); if so, ``last_ts`` is advanced, else
    it is left alone for the per-event :func:`_in_order`. Vectorised per site.
    """
    order = np.argsort(codes, kind="stable")
    c, t = codes[order], ts[order]
    same = c[1:] == c[:-1]
    if not bool(np.all(t[1:][same] > t[:-1][same])):
        return False
    starts = np.flatnonzero(np.r_[True, ~same])
    ends = np.r_[starts[1:] - 1, len(c) - 1]
    firsts = t[starts].tolist()
    lasts = t[ends].tolist()
    group_names = [names[k] for k in c[starts].tolist()]
    for name, first in zip(group_names, firsts, strict=True):
        prev = last_ts.get(name)
        if prev is not None and first <= prev:
            return False
    last_ts.update(zip(group_names, lasts, strict=True))
    return True


def _in_order(
    ts_list: list[int],
    site_list: list[str],
    index: list[int],
    last_ts: dict[str, int],
    rejects: list[tuple[int, str]],
) -> list[int]:
    """Positions (into the lists) of events later than their site's last one."""
    keep: list[int] = []
    get = last_ts.get
    for k, (site, t) in enumerate(zip(site_list, ts_list, strict=True)):
        prev = get(site)
        if prev is None or t > prev:
            last_ts[site] = t
            keep.append(k)
        else:
            rejects.append((index[k], f"out of order for site {site!r}: ts_ns {t} <= last {prev}"))
    return keep


def _short(v: object, limit: int = 40) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."
