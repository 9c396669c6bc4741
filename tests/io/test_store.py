"""The embedded SQLite store: record round trips, upserts, URLs and concurrency."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vpp.errors import InputFormatError, VppError
from vpp.io import Store, Telemetry, open_store
from vpp.io.store_sqlite import SqliteStore
from vpp.schema import SIGNALS

T0 = 1_717_372_800 * 10**9
STEP = 900 * 10**9


def make_telemetry(n: int, sites: int = 2, seed: int = 0, t0: int = T0) -> Telemetry:
    rng = np.random.default_rng(seed)
    values = rng.normal(50.0, 10.0, size=(n, len(SIGNALS)))
    values[rng.random(values.shape) < 0.05] = np.nan
    return Telemetry(
        ts_ns=t0 + (np.arange(n, dtype=np.int64) // sites) * STEP,
        sites=np.array([f"site{i % sites}" for i in range(n)], dtype=object),
        values=values,
        signals=list(SIGNALS),
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with open_store(tmp_path / "store.sqlite") as s:
        yield s


# -- telemetry ---------------------------------------------------------------
def test_telemetry_roundtrip_keeps_values_and_missing(store: Store) -> None:
    tel = make_telemetry(400, sites=4)
    assert store.write_telemetry(tel) == 400
    df = store.telemetry_range()
    assert list(df.columns) == ["ts_ns", "site", *SIGNALS]
    assert df["ts_ns"].dtype == np.int64
    back = Telemetry.from_frame(df)
    np.testing.assert_array_equal(back.ts_ns, tel.ts_ns)
    np.testing.assert_array_equal(back.sites, tel.sites)
    np.testing.assert_array_equal(back.values, tel.values)  # NaN positions equal too
    assert store.sites() == ["site0", "site1", "site2", "site3"]


def test_write_twice_is_idempotent_and_later_values_win(store: Store) -> None:
    tel = make_telemetry(300, sites=3)
    store.write_telemetry(tel)
    store.write_telemetry(tel)
    assert store.count("telemetry") == 300
    changed = Telemetry(tel.ts_ns, tel.sites, tel.values + 1.0, tel.signals)
    store.write_telemetry(changed)
    assert store.count("telemetry") == 300
    back = Telemetry.from_frame(store.telemetry_range())
    np.testing.assert_array_equal(back.values, tel.values + 1.0)


def test_partial_batches_merge_signals_of_the_same_event(store: Store) -> None:
    ts = np.array([T0, T0 + STEP])
    store.write_telemetry(Telemetry(ts, "a", [[10.0], [11.0]], ["load_mw"]))
    store.write_telemetry(Telemetry(ts, "a", [[1.0], [np.inf]], ["solar_mw"]))
    df = store.telemetry_range("a")
    assert df["load_mw"].tolist() == [10.0, 11.0]
    assert df["solar_mw"].iloc[0] == 1.0 and np.isnan(df["solar_mw"].iloc[1])  # inf = missing
    assert df["wind_mw"].isna().all()


def test_latest_telemetry_per_site(store: Store) -> None:
    assert store.latest_telemetry() == {}
    assert store.sites() == []
    tel = make_telemetry(100, sites=2)
    store.write_telemetry(tel)
    # An older event written afterwards must not become the latest.
    store.write_telemetry(Telemetry(np.array([T0 - STEP]), "site1", [[1.0]], ["load_mw"]))
    latest = store.latest_telemetry()
    assert sorted(latest) == ["site0", "site1"]
    for site in ("site0", "site1"):
        mine = tel.for_site(site)
        rec = latest[site]
        assert rec["ts_ns"] == mine.ts_ns[-1] and rec["site"] == site
        for j, name in enumerate(SIGNALS):
            expected = mine.values[-1, j]
            assert rec[name] is None if np.isnan(expected) else rec[name] == expected
    assert list(store.latest_telemetry("site0")) == ["site0"]
    assert store.latest_telemetry("nowhere") == {}


def test_telemetry_range_is_half_open_and_last_n(store: Store) -> None:
    store.write_telemetry(make_telemetry(40, sites=2))
    df = store.telemetry_range("site0", since_ns=T0 + 2 * STEP, until_ns=T0 + 5 * STEP)
    assert df["ts_ns"].tolist() == [T0 + k * STEP for k in (2, 3, 4)]
    last = store.telemetry_range("site1", last=3)
    assert last["ts_ns"].tolist() == [T0 + k * STEP for k in (17, 18, 19)]
    both = store.telemetry_range(since_ns=T0 + 19 * STEP)
    assert both["site"].tolist() == ["site0", "site1"]


# -- forecasts, dispatch, soc ------------------------------------------------------
def forecast_records(issue_ns: int, horizons: int = 4, shift: float = 0.0) -> pd.DataFrame:
    h = np.arange(1, horizons + 1)
    return pd.DataFrame(
        {
            "ts_ns": issue_ns,
            "site": "grid",
            "target": "net_load_mw",
            "horizon_steps": h,
            "target_ts_ns": issue_ns + h * STEP,
            "point": 100.0 + h + shift,
            "lower": 90.0 + h,
            "upper": 110.0 + h,
            "lower_q": 0.1,
            "upper_q": 0.9,
            "model": "xgb-abc123",
        }
    )


def test_forecasts_latest_and_range(store: Store) -> None:
    assert store.latest_forecast("grid").empty
    store.write_forecasts(forecast_records(T0))
    store.write_forecasts(forecast_records(T0 + STEP, shift=5.0))
    store.write_forecasts(forecast_records(T0 + STEP, shift=5.0))  # replay
    assert store.count("forecast") == 8
    latest = store.latest_forecast("grid")
    assert latest["ts_ns"].unique().tolist() == [T0 + STEP]
    assert latest["horizon_steps"].tolist() == [1, 2, 3, 4]
    assert latest["point"].tolist() == [106.0, 107.0, 108.0, 109.0]
    assert latest["model"].tolist() == ["xgb-abc123"] * 4
    one = store.latest_forecast("grid", horizon_steps=2)
    assert one[["ts_ns", "target_ts_ns"]].values.tolist() == [[T0 + STEP, T0 + 3 * STEP]]
    assert store.latest_forecast("grid", target="load_mw").empty
    rng = store.forecast_range(site="grid", until_ns=T0 + STEP)
    assert len(rng) == 4 and (rng["ts_ns"] == T0).all()


def test_forecast_optional_columns_and_missing_required(store: Store) -> None:
    minimal = {"ts_ns": [T0], "site": ["grid"], "target": ["load_mw"],
               "horizon_steps": [1], "point": [5.0]}  # fmt: skip
    assert store.write_forecasts(minimal) == 1
    row = store.latest_forecast("grid", target="load_mw").iloc[0]
    assert row["point"] == 5.0 and np.isnan(row["lower"]) and row["model"] is None
    with pytest.raises(InputFormatError, match=r"lack column\(s\) \['horizon_steps', 'point'\]"):
        store.write_forecasts({"ts_ns": [T0], "site": ["grid"], "target": ["load_mw"]})
    with pytest.raises(InputFormatError, match=r"forecast.site is missing at row 1"):
        store.write_forecasts({**minimal, "site": ["grid", None], **{
            k: v * 2 for k, v in minimal.items() if k != "site"}})  # fmt: skip


def test_dispatch_records_filters_and_idempotence(store: Store) -> None:
    records = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-06-03", periods=6, freq="15min", tz="UTC"),
            "site": "grid",
            "unit": ["bess1", "bess2"] * 3,
            "power_mw": [5.0, -2.5, 0.0, 1.0, 3.0, -4.0],
            "reason": ["arbitrage: price 120 > 95"] * 6,
            "agent": "arbitrage",
        }
    )
    assert store.write_dispatch(records) == 6
    store.write_dispatch(records)
    store.write_dispatch(records.drop(columns=["agent", "reason"]).iloc[:2])  # agent ""
    assert store.count("dispatch") == 8
    bess2 = store.dispatch_range(unit="bess2", agent="arbitrage")
    assert bess2["power_mw"].tolist() == [-2.5, 1.0, -4.0]
    assert bess2["ts_ns"].iloc[0] == T0 + STEP
    no_agent = store.dispatch_range(agent="")
    assert len(no_agent) == 2 and no_agent["reason"].isna().all()
    assert len(store.dispatch_range(since_ns=T0 + 4 * STEP)) == 2


def test_soc_latest_per_unit_even_when_written_out_of_order(store: Store) -> None:
    newer = {"ts_ns": [T0 + STEP] * 2, "site": "grid", "unit": ["b1", "b2"],
             "soc_frac": [0.6, 0.3], "energy_mwh": [6.0, 3.0]}  # fmt: skip
    older = {**newer, "ts_ns": [T0] * 2, "soc_frac": [0.5, 0.5]}
    store.write_soc(pd.DataFrame(newer))
    store.write_soc(pd.DataFrame(older))
    latest = store.soc_latest()
    assert latest[["unit", "soc_frac"]].values.tolist() == [["b1", 0.6], ["b2", 0.3]]
    assert (latest["ts_ns"] == T0 + STEP).all()
    assert store.soc_latest("elsewhere").empty
    assert store.soc_range(unit="b1")["soc_frac"].tolist() == [0.5, 0.6]
    assert store.count("soc") == 4


# -- dead letters and meta -------------------------------------------------------
def test_dead_letters_keep_payload_and_reason(store: Store) -> None:
    store.write_dead_letter("grid.telemetry", b"\xff\x00not json", "not JSON", received_ns=5)
    store.write_dead_letter("grid.telemetry", '{"site": "a"}', "missing timestamp")
    store.write_dead_letter("other", "x", "unknown units 'GW'")
    assert store.count("dead_letter") == 3
    newest = store.dead_letters(limit=2)
    assert [d["reason"] for d in newest] == ["unknown units 'GW'", "missing timestamp"]
    telemetry_only = store.dead_letters(source="grid.telemetry")
    assert telemetry_only[-1]["payload"] == b"\xff\x00not json"
    assert telemetry_only[-1]["received_ns"] == 5
    assert telemetry_only[0]["received_ns"] > 1_600_000_000 * 10**9  # defaults to now


def test_meta_roundtrip(store: Store) -> None:
    assert store.get_meta("model", "none") == "none"
    fleet = {"units": [{"name": "b1", "power_mw": 10.0, "energy_mwh": 20.0}]}
    store.set_meta("fleet", fleet)
    store.set_meta("model", "models/net_load.json")
    store.set_meta("model", "models/v2.json")
    assert store.get_meta("fleet") == fleet
    assert store.get_meta("model") == "models/v2.json"


def test_count_rejects_unknown_table(store: Store) -> None:
    with pytest.raises(VppError, match="unknown table 'meta'"):
        store.count("meta")


# -- URLs, files and modes -------------------------------------------------------
def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VPP_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///rel/a.db") as s:
        assert isinstance(s, SqliteStore)
    assert (tmp_path / "rel" / "a.db").is_file()
    absolute = tmp_path / "abs.db"
    with open_store(f"sqlite:///{absolute}") as s:  # sqlite:////abs/path
        s.set_meta("k", 1)
    with open_store(absolute) as s:
        assert s.get_meta("k") == 1
    with open_store() as s:  # the documented default
        assert s.path == os.path.join("vpp-data", "store.sqlite")
    monkeypatch.setenv("VPP_STORE", str(tmp_path / "env.db"))
    with open_store() as s:
        assert s.path == str(tmp_path / "env.db")
    with open_store("sqlite:///:memory:") as s:
        s.write_telemetry(make_telemetry(10))
        assert s.count("telemetry") == 10


def test_open_store_errors(tmp_path: Path) -> None:
    with pytest.raises(VppError, match="unknown store URL scheme 'postgres'"):
        open_store("postgres://db/vpp")
    with pytest.raises(VppError, match="store not found"):
        open_store(tmp_path / "missing.db", read_only=True)
    not_a_store = tmp_path / "other.db"
    sqlite3.connect(not_a_store).execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(VppError, match="not a vpp store"):
        open_store(not_a_store, read_only=True)


def test_unknown_store_scheme_is_a_clear_error() -> None:
    with pytest.raises(VppError, match="ftp"):
        open_store("ftp://127.0.0.1/db")


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with open_store(path) as s:
        s.set_meta("vpp.schema_version", 99)
    with pytest.raises(VppError, match="schema version 99"):
        open_store(path)


def test_wal_mode_and_read_only_reader(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with open_store(path) as writer:
        writer.write_telemetry(make_telemetry(10))
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        with open_store(path, read_only=True) as reader:
            assert reader.count("telemetry") == 10
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                reader.write_telemetry(make_telemetry(2, t0=T0 - 10 * STEP))


# -- concurrency -------------------------------------------------------------------
WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from vpp.io import Telemetry, open_store
    path, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open_store(path) as store:
        for b in range(batches):
            ts = (np.arange(size, dtype=np.int64) + b * size) * 10**9
            store.write_telemetry(Telemetry(ts, "w", np.ones((size, 1)) * b, ["load_mw"]))
    """
)


def test_reader_sees_whole_batches_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    batches, size = 40, 2_000
    open_store(path).close()  # create the schema before both sides start
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(batches), str(size)],
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[int] = []
    with open_store(path) as reader:
        while writer.poll() is None:
            n = reader.count("telemetry")
            latest = reader.latest_telemetry("w")
            seen.append(n)
            if latest:
                # The latest row belongs to a committed batch: its value is its batch number.
                assert latest["w"]["load_mw"] == latest["w"]["ts_ns"] // 10**9 // size
            time.sleep(0.002)
        _, err = writer.communicate()
        assert writer.returncode == 0, err
        final = reader.count("telemetry")
    assert final == batches * size
    assert all(n % size == 0 for n in seen), "a reader saw part of a batch"
    assert seen == sorted(seen)
    assert len(set(seen) - {0, final}) > 0, "the reader never overlapped the writer"


def test_one_store_shared_by_threads(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with open_store(tmp_path / "s.db") as store:

        def write(k: int) -> int:
            return store.write_telemetry(make_telemetry(500, sites=1, t0=T0 + k * 10**15))

        def read(_: int) -> int:
            return len(store.latest_telemetry())

        with ThreadPoolExecutor(4) as pool:
            written = list(pool.map(write, range(8)))
            reads = list(pool.map(read, range(50)))
        assert sum(written) == store.count("telemetry") == 8 * 500
        assert set(reads) == {1}
