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
    """Split records by site into ``(key, value)`` messages of columns (sites in sorted order)."""
    if df is None or len(df) == 0:
        return []
    numeric: dict[str, np.ndarray] = {}
    text: dict[str, tuple[np.ndarray, list[object]]] = {}
    for name, s in df.items():
        if s.dtype.kind in "iuf":
            numeric[str(name)] = s.to_numpy()
        else:
            # Factorised text: a batch has a few distinct values (sites, the
            # target, the model id), so rows are small ints until the end;
            # code -1 (missing) becomes None, not NaN.
            codes, uniq = pd.factorize(s, use_na_sentinel=True)
            text[str(name)] = (codes, [*uniq.tolist(), None])
    site_codes, site_names = text["site"]
    present = list(range(len(site_names) - 1))
    if (site_codes < 0).any():  # a missing site keys its rows with b"", not dropped
        present.append(-1)
    keys = ["" if name is None else str(name) for name in site_names]
    order = sorted(present, key=keys.__getitem__)
    dumps, opt = orjson.dumps, orjson.OPT_SERIALIZE_NUMPY
    out: list[tuple[bytes, bytes]] = []
    for k in order:
        rows = None if len(present) == 1 else np.flatnonzero(site_codes == k)
        part: dict[str, object] = {}
        for name in df.columns:
            name = str(name)
            if name in numeric:
                part[name] = numeric[name] if rows is None else numeric[name][rows]
                continue
            codes, names = text[name]
            c = codes if rows is None else codes[rows]
            if len(names) == 2 and c.min() >= 0:  # one value, none missing
                part[name] = [names[0]] * len(c)
            else:
                part[name] = [names[j] for j in c.tolist()]
        out.append((keys[k].encode(), dumps(part, option=opt)))
    return out


def decode_records(value: bytes) -> pd.DataFrame:
    """Inverse of :func:`encode_records` for one message value (null numbers → NaN)."""
    cols = orjson.loads(value)
    df = pd.DataFrame(cols)
    for name, col in df.items():
        if col.dtype == object and all(v is None or isinstance(v, float) for v in col):
            df[name] = col.astype(np.float64)
    return df
