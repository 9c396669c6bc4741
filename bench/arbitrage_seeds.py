"""Arbitrage capture across twin years: seeds, scoring and forecasters.

Run ``python -m bench.arbitrage_seeds [--seeds 1 2 3 4]`` (about 25 s per
cell, 7 minutes for the default grid). For each seed it runs
:func:`vpp.agents.report.year_report` with the fundamental and the built-in
forecasters, cold (scored from the first minute) and after 28 unscored days
of history, and prints the README's Markdown table: capture ratio of the
fundamental forecaster, then the built-in's, and their means.
"""

from __future__ import annotations

import argparse

from vpp.agents.report import year_report

HISTORY_DAYS = (0.0, 28.0)
FORECASTERS = ("fundamental", "profile")


def capture_grid(seeds: list[int], days: float = 365.0) -> dict[tuple[int, float, str], float]:
    """Capture ratio per (seed, history days, forecaster)."""
    out = {}
    for seed in seeds:
        for history in HISTORY_DAYS:
            for fc in FORECASTERS:
                arb = year_report(days, seed, fc, history)["arbitrage"]
                out[(seed, history, fc)] = float(arb["capture_ratio"])  # type: ignore[index]
    return out


def markdown(grid: dict[tuple[int, float, str], float], seeds: list[int]) -> str:
    """The table: one row per seed and a mean, ``fundamental / built-in``."""

    def cell(values: list[tuple[float, float]]) -> str:
        f = sum(v[0] for v in values) / len(values)
        p = sum(v[1] for v in values) / len(values)
        return f"{100 * f:.1f}% / {100 * p:.1f}%"

    lines = [
        "| seed | cold start (scored from the first minute) | after 28 unscored days of history |",
        "|---|---|---|",
    ]
    for label, group in [*((str(s), [s]) for s in seeds), ("mean", seeds)]:
        cells = [
            cell([(grid[(s, h, "fundamental")], grid[(s, h, "profile")]) for s in group])
            for h in HISTORY_DAYS
        ]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    ap = argparse.ArgumentParser(prog="python -m bench.arbitrage_seeds")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--days", type=float, default=365.0)
    a = ap.parse_args(argv)
    print(markdown(capture_grid(a.seeds, a.days), a.seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
