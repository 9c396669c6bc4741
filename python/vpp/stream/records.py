"""Forecast and dispatch records on their output topics.

Records go out as one message per site and batch, key = site id, value = a
JSON object of equal-length columns (the store's record columns, see
:mod:`vpp.io.store`), so a batch of thousands of records costs a handful of
messages. Readers rebuild a DataFrame with :func:`decode_records`.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"ts_ns": [1, 2], "site": ["a", "b"], "point": [0.5, None]})
    >>> msgs = encode_records(df)
    >>> [k for k, _ in msgs], decode_records(msgs[1][1]).to_dict("list")
    ([b'a', b'b'], {'ts_ns': [2], 'site': ['b'], 'point': [nan]})
"""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd

__all__ = ["decode_records", "encode_records"]


def encode_records(df: pd.DataFrame) -> list[tuple[bytes, bytes]]:
    """Split records by site into ``(key, value)`` messages of columns."""
    if df is None or len(df) == 0:
        return []
    cols: dict[str, np.ndarray] = {}
    for name in df.columns:
        s = df[name]
        if s.dtype.kind in "iuf":
            cols[name] = s.to_numpy()
        else:
            arr = s.to_numpy(dtype=object)
            if s.isna().any():  # None, not NaN, in text columns
                arr = np.where(s.isna().to_numpy(), None, arr)
            cols[name] = arr
    sites = cols["site"]
    uniq, inverse = np.unique(sites.astype(str), return_inverse=True)
    groups = (
        [np.arange(len(df))]
        if len(uniq) == 1
        else [np.flatnonzero(inverse == k) for k in range(len(uniq))]
    )
    dumps, opt = orjson.dumps, orjson.OPT_SERIALIZE_NUMPY
    out: list[tuple[bytes, bytes]] = []
    for site, rows in zip(uniq.tolist(), groups, strict=True):
        part = {
            name: (arr[rows] if arr.dtype != object else arr[rows].tolist())
            for name, arr in cols.items()
        }
        out.append((site.encode(), dumps(part, option=opt)))
    return out


def decode_records(value: bytes) -> pd.DataFrame:
    """Inverse of :func:`encode_records` for one message value (null numbers → NaN)."""
    cols = orjson.loads(value)
    df = pd.DataFrame(cols)
    for name, col in df.items():
        if col.dtype == object and all(v is None or isinstance(v, float) for v in col):
            df[name] = col.astype(np.float64)
    return df
