"""``run_backtest``: a bounded ``vpp backtest`` in a child process.

The backtest runs as ``python -m vpp.cli.main backtest ... --json`` so that a
long or crashing run cannot take the server down, a timeout can stop it, and
the summary is exactly what the CLI prints.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from vpp.errors import VppError

__all__ = ["run_backtest_subprocess"]


def _last_json_object(text: str) -> dict[str, Any]:
    start = text.find("{")
    if start < 0:
        raise VppError("vpp backtest printed no JSON summary")
    value = json.loads(text[start:])
    if not isinstance(value, dict):
        raise VppError("vpp backtest printed JSON that is not an object")
    return value


def run_backtest_subprocess(
    source: str,
    days: float,
    horizon_steps: int,
    seed: int,
    frame: pd.DataFrame | None,
    timeout_s: float = 120.0,
) -> dict[str, Any]:
    """Run ``vpp backtest`` on the twin or on ``frame``; return its JSON summary.

    Raises:
        VppError: the command is not available, fails, times out, or prints
            no JSON object (the message carries the command's last error line).
    """
    with tempfile.TemporaryDirectory(prefix="vpp-mcp-bt-") as tmp:
        cmd = [sys.executable, "-m", "vpp.cli.main", "backtest"]
        if source == "twin":
            cmd += ["--twin", "--days", repr(float(days)), "--seed", str(seed)]
        else:
            if frame is None or frame.empty:
                raise VppError("no telemetry in the store for that range")
            if len(frame) < 200:
                raise VppError(f"only {len(frame)} events in the range; a backtest needs ≥ 200")
            path = Path(tmp) / "telemetry.csv"
            out = frame.drop(columns=["ts_ns"]).copy()
            out.insert(0, "timestamp", pd.to_datetime(frame["ts_ns"], unit="ns", utc=True))
            out.dropna(axis=1, how="all").to_csv(path, index=False)
            cmd += ["--input", str(path)]
        cmd += ["--horizon", str(horizon_steps), "--json", "--quiet"]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, cwd=tmp, check=False
            )
        except subprocess.TimeoutExpired:
            raise VppError(f"backtest stopped after {timeout_s:.0f} s; try fewer days") from None
    if proc.returncode != 0:
        err = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        last = err[-1] if err else f"exit code {proc.returncode}"
        if "invalid choice" in proc.stderr and "backtest" in proc.stderr:
            raise VppError("backtests are not available: this vpp has no `backtest` command yet")
        raise VppError(f"vpp backtest failed: {last}")
    summary = _last_json_object(proc.stdout)
    summary.setdefault("backtest_source", source)
    return summary
