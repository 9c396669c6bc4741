"""The hash-chained audit log detects edited, removed, inserted and reordered lines."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from pathlib import Path

from vpp.mcp.audit import GENESIS_HASH, AuditLog, canonical_json, verify_audit_log


def _log(path: Path, n: int = 5) -> AuditLog:
    log = AuditLog(path)
    for i in range(n):
        log.append(
            who="stdio",
            action="dispatch_battery",
            what={"site": "grid", "power_mw": 1.0 + i, "duration_min": 15.0},
            result={"status": "executed", "delivered_mwh": 0.25 * (1 + i)},
        )
    return log


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_chain_verifies_and_hash_is_sha256_of_canonical_entry(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = _log(path)
    report = verify_audit_log(path, expected_head=log.head())
    assert report.ok and report.entries == 5 and report.problems == []
    entries = [json.loads(x) for x in _lines(path)]
    assert entries[0]["prev_hash"] == GENESIS_HASH
    for prev, cur in itertools.pairwise(entries):
        assert cur["prev_hash"] == prev["hash"] and cur["seq"] == prev["seq"] + 1
    body = {k: v for k, v in entries[2].items() if k != "hash"}
    assert entries[2]["hash"] == hashlib.sha256(canonical_json(body).encode()).hexdigest()
    assert entries[0]["ts"].endswith("Z")


def test_edited_line_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path)
    lines = _lines(path)
    lines[2] = lines[2].replace('"power_mw":3.0', '"power_mw":30.0')
    assert '"power_mw":30.0' in lines[2]
    path.write_text("".join(lines))
    report = verify_audit_log(path)
    assert not report.ok
    assert any(p.startswith("line 3:") and "edited" in p for p in report.problems)


def test_edit_with_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path)
    lines = _lines(path)
    e = json.loads(lines[1])
    e["result"]["status"] = "refused"
    e["hash"] = hashlib.sha256(
        canonical_json({k: v for k, v in e.items() if k != "hash"}).encode()
    ).hexdigest()
    lines[1] = canonical_json(e) + "\n"
    path.write_text("".join(lines))
    report = verify_audit_log(path)
    assert not report.ok and any(p.startswith("line 3:") for p in report.problems)


def test_removed_reordered_and_truncated_lines_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = _log(path)
    head = log.head()
    original = _lines(path)

    path.write_text("".join(original[:2] + original[3:]))  # line 3 removed
    assert not verify_audit_log(path).ok

    swapped = list(original)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    path.write_text("".join(swapped))
    report = verify_audit_log(path)
    assert not report.ok and any("reordered" in p for p in report.problems)

    path.write_text("".join(original[:-1]))  # last line dropped: only the head shows it
    assert verify_audit_log(path).ok
    report = verify_audit_log(path, expected_head=head)
    assert not report.ok and "lines missing at the end" in report.problems[-1]

    path.write_text("".join(original[:2]) + "not json\n" + "".join(original[2:]))
    assert not verify_audit_log(path).ok


def test_appends_from_threads_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)

    def work(k: int) -> None:
        for i in range(20):
            log.append(f"t{k}", "dispatch_battery", {"i": i}, {"status": "executed"})

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = verify_audit_log(path, expected_head=log.head())
    assert report.ok and report.entries == 80


def test_nan_values_are_logged_as_null(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path).append("stdio", "x", {"v": float("nan")}, {"r": float("inf")})
    (entry,) = [json.loads(x) for x in _lines(path)]
    assert entry["what"]["v"] is None and entry["result"]["r"] is None
    assert verify_audit_log(path).ok
