"""The hand-kept `_core.pyi` stays in step with the Rust bindings."""

from __future__ import annotations

import subprocess
import sys


def test_core_stub_matches_the_extension() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "vpp._core"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
