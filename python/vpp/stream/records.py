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
    out: list[tuple[bytes, bytes]] = []
    sites = df["site"].astype(str).to_numpy()
    uniq, inverse = np.unique(sites, return_inverse=True)
    for k, site in enumerate(uniq.tolist()):
        rows = np.flatnonzero(inverse == k)
        part = df.iloc[rows] if len(uniq) > 1 else df
        cols: dict[str, object] = {}
        for name in part.columns:
            s = part[name]
            if s.dtype.kind in "iuf":
                cols[name] = s.to_numpy()
            else:
                cols[name] = [None if pd.isna(v) else str(v) for v in s.tolist()]
        out.append((site.encode(), orjson.dumps(cols, option=orjson.OPT_SERIALIZE_NUMPY)))
    return out


def decode_records(value: bytes) -> pd.DataFrame:
    """Inverse of :func:`encode_records` for one message value (null numbers → NaN)."""
    cols = orjson.loads(value)
    df = pd.DataFrame(cols)
    for name, col in df.items():
        if col.dtype == object and all(v is None or isinstance(v, float) for v in col):
            df[name] = col.astype(np.float64)
    return df
