"""Features + forecast + agents in one native call, side by side with features +
forecast alone, and the whole batch processor (records included).

Twin telemetry, 3 sites x 10 days at 1 min (43,200 events), the shipped
default model and a fleet of 99 units (33 per site, 20 MW / 40 MWh each) with
frequency response contracted and the trader on. Each test records in
``extra_info`` its events per second and that its forecasts agree with the
plain pipeline's; the last one records the cost of the agents per event and
of the per-unit records (``units=True``) on top of the decisions.
Timings are recorded, not asserted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vpp import twin
from vpp.agents import fleet_from_settings
from vpp.config import AgentSettings, BatterySettings
from vpp.io import Telemetry
from vpp.pipeline import Pipeline
from vpp.runtime.agent_stage import AgentStage
from vpp.runtime.processor import BatchProcessor

pytestmark = pytest.mark.benchmark

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "default"
BATTERY = BatterySettings(units_per_site=33, power_mw=20.0, energy_mwh=40.0)
AGENTS = AgentSettings(contracted_mw=600.0)
MEDIANS: dict[str, float] = {}


@pytest.fixture(scope="module")
def stream() -> Telemetry:
    return Telemetry.from_frame(twin.generate(days=10, resolution="1min", sites=3, seed=0))


@pytest.fixture(scope="module")
def plain_forecasts(stream: Telemetry) -> np.ndarray:
    return Pipeline(None, MODEL_DIR).process(stream.ts_ns, stream.values, stream.sites)[1]


def _record(benchmark: Any, name: str, n: int, agree: bool) -> None:
    median = benchmark.stats.stats.median
    MEDIANS[name] = median
    benchmark.extra_info.update(
        {"events": n, "events_per_s": round(n / median), "forecasts_agree": agree}
    )


def test_process_features_forecast(benchmark, stream, plain_forecasts) -> None:  # type: ignore[no-untyped-def]
    def run() -> np.ndarray:
        p = Pipeline(None, MODEL_DIR)
        return p.process(stream.ts_ns, stream.values, stream.sites)[1]

    preds = benchmark.pedantic(run, rounds=5, iterations=1)
    _record(benchmark, "plain", len(stream), bool(np.array_equal(preds, plain_forecasts)))


def test_process_decide_features_forecast_agents(benchmark, stream, plain_forecasts) -> None:  # type: ignore[no-untyped-def]
    setup = fleet_from_settings(BATTERY, AGENTS, stream.site_ids(), default_dt_s=60.0)

    def run() -> tuple[np.ndarray, dict[str, np.ndarray]]:
        p = Pipeline(None, MODEL_DIR)
        p.attach_agents(setup.new_agents(), stream.site_ids())
        _, preds, decisions = p.process_decide(stream.ts_ns, stream.values, stream.sites)
        return preds, decisions

    preds, decisions = benchmark.pedantic(run, rounds=5, iterations=1)
    _record(benchmark, "decide", len(stream), bool(np.array_equal(preds, plain_forecasts)))
    benchmark.extra_info["units"] = setup.agents.n_units
    benchmark.extra_info["decided"] = int((decisions["reason"] != 255).sum())


def test_process_decide_with_unit_records(benchmark, stream, plain_forecasts) -> None:  # type: ignore[no-untyped-def]
    setup = fleet_from_settings(BATTERY, AGENTS, stream.site_ids(), default_dt_s=60.0)

    def run() -> tuple[np.ndarray, dict[str, np.ndarray]]:
        p = Pipeline(None, MODEL_DIR)
        p.attach_agents(setup.new_agents(), stream.site_ids())
        _, preds, _, units = p.process_decide(stream.ts_ns, stream.values, stream.sites, units=True)
        return preds, units

    preds, units = benchmark.pedantic(run, rounds=5, iterations=1)
    _record(benchmark, "decide_units", len(stream), bool(np.array_equal(preds, plain_forecasts)))
    benchmark.extra_info["dispatch_records"] = len(units["dispatch_event"])
    benchmark.extra_info["soc_records"] = len(units["soc_event"])


def test_batch_processor_with_records(benchmark, stream) -> None:  # type: ignore[no-untyped-def]
    def run() -> int:
        stage = AgentStage(BATTERY, AGENTS, sites=stream.site_ids(), default_dt_s=60.0)
        proc = BatchProcessor.for_signals(stream.signals, model=MODEL_DIR, agents=stage)
        n = 0
        for batch in stream.batches(4096):
            out = proc.process(batch)
            n += len(out.dispatch) + len(out.soc)
        return n

    n_records = benchmark.pedantic(run, rounds=3, iterations=1)
    _record(benchmark, "processor", len(stream), True)
    benchmark.extra_info["records"] = n_records


def test_agent_cost_per_event(benchmark, stream) -> None:  # type: ignore[no-untyped-def]
    benchmark(lambda: None)
    n = len(stream)
    if {"plain", "decide"} <= MEDIANS.keys():
        extra = (MEDIANS["decide"] - MEDIANS["plain"]) / n
        benchmark.extra_info["agents_us_per_event"] = round(extra * 1e6, 3)
    if {"decide", "decide_units"} <= MEDIANS.keys():
        extra = (MEDIANS["decide_units"] - MEDIANS["decide"]) / n
        benchmark.extra_info["unit_records_us_per_event"] = round(extra * 1e6, 3)
    if {"plain", "processor"} <= MEDIANS.keys():
        extra = (MEDIANS["processor"] - MEDIANS["plain"]) / n
        benchmark.extra_info["agents_and_records_us_per_event"] = round(extra * 1e6, 3)
