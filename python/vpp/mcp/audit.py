"""A hash-chained, append-only audit log in JSON lines.

Every control action of the MCP server (and its result) becomes one line::

    {"seq": 3, "ts": "2026-11-25T17:40:02.123456Z", "who": "stdio",
     "action": "dispatch_battery", "what": {...}, "result": {...},
     "prev_hash": "<hash of line 2>", "hash": "<sha256 of this entry>"}

``hash`` is the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8)
of the entry without ``hash`` but with ``prev_hash``; the first line's
``prev_hash`` is 64 zeros. Editing a line breaks its hash, removing or
reordering lines breaks the chain (``prev_hash`` and ``seq``), and dropping
lines from the end is caught when the expected head (the last hash, which the
server also keeps in the store's metadata) is given to :func:`verify_audit_log`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "GENESIS_HASH",
    "AuditLog",
    "AuditReport",
    "canonical_json",
    "plain",
    "verify_audit_log",
]

#: ``prev_hash`` of the first entry.
GENESIS_HASH = "0" * 64


def plain(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, NaN/inf become None, tuples lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return plain(value.item())
    return value


def canonical_json(obj: Any) -> str:
    """Canonical JSON text of ``obj``: sorted keys, no whitespace, no NaN."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def _last_line(f: Any) -> bytes:
    """The last non-empty line of a binary file opened for reading."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    if end == 0:
        return b""
    chunk = 4096
    pos = end
    data = b""
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        f.seek(pos)
        data = f.read(step) + data
        stripped = data.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1]
    return data.rstrip(b"\n")


class AuditLog:
    """Appends hash-chained entries to a JSON-lines file.

    Safe across threads and processes: each append holds an exclusive
    ``flock`` on the file while it reads the last entry and writes the next,
    and fsyncs before returning.

    Args:
        path: the log file (created with its directory if missing).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)

    def append(
        self, who: str, action: str, what: dict[str, Any], result: dict[str, Any]
    ) -> dict[str, Any]:
        """Append one entry and return it (with ``seq``, ``ts``, ``prev_hash``, ``hash``)."""
        with open(self.path, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                last = _last_line(f)
                if last:
                    prev = json.loads(last)
                    prev_hash, seq = str(prev["hash"]), int(prev["seq"]) + 1
                else:
                    prev_hash, seq = GENESIS_HASH, 1
                entry: dict[str, Any] = {
                    "seq": seq,
                    "ts": datetime.now(UTC)
                    .isoformat(timespec="microseconds")
                    .replace("+00:00", "Z"),
                    "who": who,
                    "action": action,
                    "what": plain(what),
                    "result": plain(result),
                    "prev_hash": prev_hash,
                }
                entry["hash"] = _entry_hash(entry)
                f.seek(0, os.SEEK_END)
                f.write(canonical_json(entry).encode("utf-8") + b"\n")
                f.flush()
                os.fsync(f.fileno())
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return entry

    def head(self) -> str:
        """Hash of the last entry (``GENESIS_HASH`` for an empty log)."""
        with open(self.path, "rb") as f:
            last = _last_line(f)
        return str(json.loads(last)["hash"]) if last else GENESIS_HASH


@dataclass
class AuditReport:
    """Outcome of :func:`verify_audit_log`.

    Attributes:
        ok: the whole chain verifies (and ends at the expected head, if given).
        entries: number of entries read.
        head: hash of the last entry read.
        problems: one line per problem found, naming the line number.
    """

    ok: bool
    entries: int
    head: str
    problems: list[str] = field(default_factory=list)


def verify_audit_log(path: str | os.PathLike[str], expected_head: str | None = None) -> AuditReport:
    """Check every entry's hash and the chain of ``prev_hash`` and ``seq``.

    Args:
        path: the JSON-lines audit log.
        expected_head: the hash the last entry must have (detects lines
            dropped from the end); ``None`` skips that check.

    Returns:
        An :class:`AuditReport`; ``ok`` is False on any edited, removed,
        inserted or reordered line, or an unreadable line.
    """
    problems: list[str] = []
    prev_hash, expected_seq, n, head = GENESIS_HASH, 1, 0, GENESIS_HASH
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                problems.append(f"line {lineno}: empty line")
                continue
            n += 1
            try:
                entry = json.loads(line)
                stored = entry["hash"]
            except (ValueError, KeyError, TypeError):
                problems.append(f"line {lineno}: not a JSON audit entry")
                continue
            if _entry_hash(entry) != stored:
                problems.append(f"line {lineno}: content does not match its hash (edited)")
            if entry.get("prev_hash") != prev_hash:
                problems.append(
                    f"line {lineno}: prev_hash does not match the previous entry "
                    "(a line was removed, inserted or reordered)"
                )
            if entry.get("seq") != expected_seq:
                problems.append(f"line {lineno}: seq {entry.get('seq')}, expected {expected_seq}")
            prev_hash = str(stored)
            head = prev_hash
            seq = entry.get("seq")
            expected_seq = (seq + 1) if isinstance(seq, int) else expected_seq + 1
    if expected_head is not None and head != expected_head:
        problems.append(
            f"the last entry's hash {head[:12]}… is not the expected head "
            f"{expected_head[:12]}… (lines missing at the end)"
        )
    return AuditReport(ok=not problems, entries=n, head=head, problems=problems)
