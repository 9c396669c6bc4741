"""State snapshots as ``.npz`` bytes: named arrays plus a JSON header.

Used by the stateful Python stages whose state is mostly arrays (the live
price forecaster, the fleet's held readings); ``allow_pickle`` stays off, so
a snapshot read back can hold nothing but arrays and JSON.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from vpp.errors import SnapshotError

__all__ = ["pack", "unpack"]

_HEAD = "head"


def pack(arrays: Mapping[str, np.ndarray], head: Mapping[str, Any]) -> bytes:
    """The arrays and the JSON-able header as one blob."""
    buf = io.BytesIO()
    encoded = np.frombuffer(json.dumps(head).encode(), np.uint8)
    np.savez(buf, **{**arrays, _HEAD: encoded})  # type: ignore[arg-type]  # stub misreads **kwds
    return buf.getvalue()


def unpack(blob: bytes, what: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and header of :func:`pack`'s blob.

    Raises:
        SnapshotError: Bytes that are not such a blob (naming ``what``).
    """
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            head = json.loads(bytes(z[_HEAD]).decode())
            arrays = {k: z[k] for k in z.files if k != _HEAD}
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise SnapshotError(f"not a {what} snapshot: {exc}") from None
    return arrays, head
