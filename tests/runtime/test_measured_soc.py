"""Batteries' measured state of charge (``battery_soc_frac``) from telemetry:
through CSV, Kafka messages and the store into the agents, never into the
features."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vpp import twin
from vpp.config import AgentSettings, BatterySettings
from vpp.features import FeatureSpec
from vpp.io import Telemetry, open_store, read_telemetry
from vpp.runtime.agent_stage import AgentStage
from vpp.runtime.processor import BatchProcessor
from vpp.schema import BATTERY_SOC, GRID_SIGNALS, SIGNALS
from vpp.stream.messages import decode_batch

BATTERY = BatterySettings(units_per_site=2, power_mw=5.0, energy_mwh=10.0)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Two sites, a day at 1 min; site_00's batteries report their SoC twice."""
    df = twin.generate(days=1, resolution="1min", sites=2, seed=9)
    df[BATTERY_SOC] = np.nan
    a = np.flatnonzero(df["site"].to_numpy() == "site_00")
    df.loc[a[400], BATTERY_SOC] = 0.8
    df.loc[a[-1], BATTERY_SOC] = 0.37  # the site's last event
    return df


def _run(tel: Telemetry, model: str | None) -> tuple[BatchProcessor, pd.DataFrame]:
    stage = AgentStage(BATTERY, AgentSettings(contracted_mw=2.0), sites=tel.site_ids())
    proc = BatchProcessor.for_signals(tel.signals, model=model, agents=stage)
    soc = [proc.process(b).soc for b in tel.batches(700)]
    return proc, pd.concat(soc, ignore_index=True)


@pytest.mark.parametrize("model", ["default", None], ids=["one native call", "agents alone"])
def test_a_reading_becomes_the_sites_state_and_features_ignore_it(
    frame: pd.DataFrame, model: str | None
) -> None:
    tel = Telemetry.from_frame(frame)
    assert BATTERY_SOC in tel.signals
    proc, soc = _run(tel, model)
    assert BATTERY_SOC not in proc.engine.signals  # the features never see it
    agents = proc.describe()["agents"]
    assert agents["soc_readings"] == 2 and agents["path"] == (
        "pipeline" if model else "agents alone"
    )
    last = soc[soc["ts_ns"] == soc["ts_ns"].max()]
    by_site = {s: g["soc_frac"].to_numpy() for s, g in last.groupby("site")}
    # site_00's units start their last step from the measurement: after it
    # they are at most one minute at full power away from it ...
    one_step = BATTERY.power_mw / 60.0 / BATTERY.energy_mwh
    assert np.abs(by_site["site_00"] - 0.37).max() <= one_step + 1e-12
    # ... and site_01 (no readings) runs on its own model, as without any.
    _, plain = _run(Telemetry.from_frame(frame.drop(columns=[BATTERY_SOC])), model)
    other = plain[(plain["site"] == "site_01") & (plain["ts_ns"] == plain["ts_ns"].max())]
    np.testing.assert_allclose(by_site["site_01"], other["soc_frac"].to_numpy(), atol=1e-12)
    mid = soc[soc["site"] == "site_00"]
    assert not np.allclose(
        mid["soc_frac"].to_numpy(), plain[plain["site"] == "site_00"]["soc_frac"].to_numpy()
    )


def test_both_agent_paths_read_the_measurement_alike(frame: pd.DataFrame) -> None:
    tel = Telemetry.from_frame(frame)
    (_, fused), (_, alone) = _run(tel, "default"), _run(tel, None)
    np.testing.assert_allclose(fused["soc_frac"], alone["soc_frac"], atol=1e-12)


def test_a_reading_out_of_bounds_is_clamped(frame: pd.DataFrame) -> None:
    df = frame.copy()
    df.loc[df[BATTERY_SOC] == 0.37, BATTERY_SOC] = 1.5
    _, soc = _run(Telemetry.from_frame(df), None)
    last = soc[(soc["ts_ns"] == soc["ts_ns"].max()) & (soc["site"] == "site_00")]
    # Clamped to the top of the band, then one step of trading at most.
    one_step = BATTERY.power_mw / 60.0 / BATTERY.energy_mwh
    got = last["soc_frac"].to_numpy()
    assert (got <= BATTERY.soc_max + 1e-12).all()
    assert (got >= BATTERY.soc_max - one_step - 1e-12).all()


def test_csv_and_kafka_messages_carry_the_reading(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = tmp_path / "t.csv"
    df = frame.rename(columns={BATTERY_SOC: "Battery_SOC_Frac"})
    df.to_csv(path, index=False)
    tel = read_telemetry(path)
    col = tel.values[:, list(tel.signals).index(BATTERY_SOC)]
    assert sorted(col[np.isfinite(col)]) == [0.37, 0.8]
    assert BATTERY_SOC not in FeatureSpec.default(tel.signals).signals
    msg = b'{"ts_ns": 5, "site": "a", "load_mw": 10.0, "battery_soc_frac": 0.55}'
    dec = decode_batch([msg], [b"a"], {})
    assert not dec.rejects
    assert dec.telemetry().values[0, SIGNALS.index(BATTERY_SOC)] == 0.55


def test_a_store_from_before_the_signal_reads_and_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with open_store(str(path)) as store:  # type: ignore[attr-defined]
        store.write_telemetry(
            Telemetry(
                np.array([1, 2]), np.array(["a", "a"], dtype=object), np.ones((2, 1)), ["load_mw"]
            )
        )
    # As a vpp from before battery_soc_frac left it.
    con = sqlite3.connect(path)
    con.execute(f"ALTER TABLE telemetry DROP COLUMN {BATTERY_SOC}")
    con.commit()
    con.close()
    with open_store(str(path), read_only=True) as store:  # type: ignore[attr-defined]
        old = store.telemetry_range()
    assert list(old["load_mw"]) == [1.0, 1.0] and old[BATTERY_SOC].isna().all()
    with open_store(str(path)) as store:  # type: ignore[attr-defined]
        store.write_telemetry(
            Telemetry(
                np.array([3]),
                np.array(["a"], dtype=object),
                np.array([[2.0, 0.4]]),
                ["load_mw", BATTERY_SOC],
            )
        )
        got = store.telemetry_range()
    assert got[BATTERY_SOC].tolist()[-1] == 0.4 and len(got) == 3
    assert set(GRID_SIGNALS) < set(got.columns)
