"""Print the README's benchmark table from a pytest-benchmark JSON file.

Usage: ``python -m bench.summarize bench-results.json`` (``make test`` and
``make bench`` write that file). Every ratio is computed from medians measured
in the same run, never against figures from another run.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _median_us(benches: dict[str, dict[str, Any]], name: str) -> float | None:
    b = benches.get(name)
    return None if b is None else b["stats"]["median"] * 1e6


def rows(data: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, measured, baseline in the same run, target) rows."""
    benches = {b["name"]: b for b in data["benchmarks"]}
    extra = {name: b.get("extra_info", {}) for name, b in benches.items()}
    med = lambda name: _median_us(benches, name)  # noqa: E731
    out: list[tuple[str, str, str, str]] = []

    def add(what: str, measured: str, baseline: str, target: str) -> None:
        out.append((what, measured, baseline, target))

    push, pandas, ring = (
        med("test_push_single_event"),
        med("test_pandas_prototype_baseline"),
        med("test_numpy_ring_baseline"),
    )
    if push and pandas and ring:
        add(
            "features, one event from Python (`FeatureEngine.push`)",
            f"{push:.2f} µs",
            f"pandas prototype {pandas:,.0f} µs ({pandas / push:,.0f}×), numpy ring {ring:.1f} µs "
            f"({ring / push:,.0f}×)",
            "≤ 2 µs, ≥ 5,000× pandas",
        )
    if "test_process_batch" in extra:
        add(
            "features, batch (`FeatureEngine.process`, 200k events)",
            f"{extra['test_process_batch']['events_per_s'] / 1e6:.2f} M events/s",
            f"= {1e6 / extra['test_process_batch']['events_per_s']:.3f} µs/event",
            "≥ 2 M events/s",
        )
    pp, xgb, pdx = (
        med("test_pipeline_push_single_event"),
        med("test_xgboost_inplace_predict_one_row"),
        med("test_pandas_prototype_plus_xgboost"),
    )
    if pp and xgb and pdx:
        add(
            "features + forecast, one event (`Pipeline.push`, 300 trees)",
            f"{pp:.2f} µs",
            f"XGBoost inplace_predict 1 row {xgb:.0f} µs ({xgb / pp:,.0f}×); pandas + XGBoost "
            f"{pdx:,.0f} µs ({pdx / pp:,.0f}×)",
            "≤ 5 µs, ≥ 50×, ≥ 5,000×",
        )
    if "test_pipeline_process_batch" in extra:
        add(
            "features + forecast, batch (`Pipeline.process`)",
            f"{extra['test_pipeline_process_batch']['events_per_s'] / 1e3:,.0f} k events/s",
            "",
            "≥ 400 k events/s",
        )
    if {
        "test_process_decide_features_forecast_agents",
        "test_process_features_forecast",
    } <= extra.keys():
        e = extra["test_process_decide_features_forecast_agents"]
        plain = extra["test_process_features_forecast"]
        add(
            f"features + forecast + agents ({e.get('units', '?')} units), one call per batch",
            f"{e['events_per_s'] / 1e3:,.0f} k events/s",
            f"features + forecast alone {plain['events_per_s'] / 1e3:,.0f} k events/s",
            "one native call per batch",
        )
    dec, dnp = med("test_decide_all_agents_100_units"), med("test_numpy_baseline_fr_only_100_units")
    if dec and dnp:
        add(
            "agents, one event, 100 units (`AgentSet.decide`)",
            f"{dec:.2f} µs",
            f"same logic in numpy {dnp:.1f} µs ({dnp / dec:.1f}×)",
            "≤ 5 µs",
        )
    if "test_twin_year_1min_one_site" in extra:
        e = extra["test_twin_year_1min_one_site"]
        add(
            "twin, 1 year at 1 min, 1 site (525,600 rows)",
            f"{e['median_s']:.2f} s",
            f"per-step Python loop {e['baseline_year_s']:.0f} s ({e['speedup']:,.0f}×)",
            "≤ 5 s",
        )
    if "test_consume_path_against_passthrough" in extra:
        e = extra["test_consume_path_against_passthrough"]
        per_poll = e.get("passthrough_commit_per_poll_events_per_s")
        same = ""
        if per_poll:
            best = max(per_poll)
            same = (
                f"; committing per poll {best / 1e3:,.0f} k "
                f"(ratio {e['vpp_events_per_s'] / best:.2f})"
            )
        add(
            "`vpp consume` on Kafka (features + forecast + produce, InfluxDB off)",
            f"{e['vpp_events_per_s'] / 1e3:,.1f} k events/s",
            f"confluent-kafka passthrough, fastest variant "
            f"{e['passthrough_events_per_s'] / 1e3:,.0f} k (ratio {e['ratio_to_passthrough']:.2f})"
            f"{same}",
            "≥ 100 k events/s, ≥ 0.5",
        )
    if "test_get_grid_state_http" in extra:
        e = extra["test_get_grid_state_http"]
        add(
            "MCP `get_grid_state`, 200 concurrent over HTTP + token",
            f"{e['calls_per_s']:.0f} calls/s, p99 {e['p99_ms']:,.0f} ms",
            f"in-memory transport {e['in_memory_calls_per_s']:.0f} calls/s",
            "report",
        )
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else "bench-results.json"
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    print("| what | median / rate | baseline (same run) | target |")
    print("|---|---|---|---|")
    for r in rows(data):
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
