"""The InfluxDB store on the real server: round trips, idempotence, failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.servers import InfluxConn
from vpp.io import Telemetry, open_store
from vpp.io.store_influx import InfluxStore, InfluxWriteError

pytestmark = pytest.mark.influx


@pytest.fixture
def store(influx_fresh: InfluxConn) -> InfluxStore:
    s = InfluxStore(influx_fresh.url, token=influx_fresh.token, bucket=influx_fresh.bucket)
    yield s
    s.close()


def test_open_store_understands_influx_urls(influx_fresh: InfluxConn) -> None:
    host = influx_fresh.url.removeprefix("http://")
    with open_store(f"influx://vpp:vpp@{host}/{influx_fresh.db}") as s:
        assert isinstance(s, InfluxStore)
        assert (s.bucket, s.token) == (influx_fresh.bucket, "vpp:vpp")
        s.set_meta("run", {"events": 3})
        assert s.get_meta("run") == {"events": 3}
        assert s.get_meta("absent", 7) == 7


def test_telemetry_round_trip_and_rewrites_overwrite(store: InfluxStore) -> None:
    tel = Telemetry(
        np.array([3, 1, 2, 1], dtype=np.int64) * 10**9,
        np.array(["b", "a", "a", "b"], dtype=object),
        np.array([[1.0, 2.5], [3.0, np.nan], [-1e-7, 6.0], [7.0, 8.0]]),
        ["load_mw", "solar_mw"],
    )
    assert store.write_telemetry(tel) == 4
    store.write_telemetry(tel)  # a replay
    assert store.count("telemetry") == 4
    assert store.sites() == ["a", "b"]
    got = store.telemetry_range()
    assert list(zip(got["ts_ns"], got["site"], strict=True)) == [
        (10**9, "a"),
        (10**9, "b"),
        (2 * 10**9, "a"),
        (3 * 10**9, "b"),
    ]
    np.testing.assert_array_equal(got["load_mw"], [3.0, 7.0, -1e-7, 1.0])
    np.testing.assert_array_equal(got["solar_mw"], [np.nan, 8.0, 6.0, 2.5])
    assert got["wind_mw"].isna().all()
    assert store.latest_telemetry()["b"]["load_mw"] == 1.0
    assert len(store.telemetry_range(site="a", since_ns=2 * 10**9)) == 1


def test_forecast_dispatch_soc_and_dead_letters(store: InfluxStore) -> None:
    fc = pd.DataFrame(
        {
            "ts_ns": [10, 10, 20],
            "site": "a",
            "target": "net_load_mw",
            "horizon_steps": [1, 2, 1],
            "target_ts_ns": [11, 12, 21],
            "point": [1.0, 2.0, 3.0],
            "lower": [0.5, np.nan, 2.0],
            "model": "abc",
        }
    )
    assert store.write_forecasts(fc) == 3
    store.write_forecasts(fc)
    assert store.count("forecast") == 3
    latest = store.latest_forecast("a")
    assert latest["ts_ns"].tolist() == [20] and latest["point"].tolist() == [3.0]
    rng = store.forecast_range(site="a")
    assert rng["horizon_steps"].tolist() == [1, 2, 1]
    assert rng["target_ts_ns"].tolist() == [11, 12, 21]

    store.write_dispatch(
        pd.DataFrame(
            {"ts_ns": [5], "site": "a", "unit": "bess 1", "power_mw": [-2.5], "reason": 'say "hi"'}
        )
    )
    d = store.dispatch_range()
    assert d.iloc[0][["unit", "power_mw", "reason", "agent"]].tolist() == [
        "bess 1",
        -2.5,
        'say "hi"',
        "",
    ]
    store.write_soc(
        pd.DataFrame({"ts_ns": [5, 6], "site": "a", "unit": "u", "soc_frac": [0.4, 0.5]})
    )
    assert store.soc_latest()["soc_frac"].tolist() == [0.5]
    store.write_dead_letter("t/0", b'{"x": 1', "not JSON", received_ns=99)
    assert store.dead_letters() == [
        {"received_ns": 99, "source": "t/0", "payload": b'{"x": 1', "reason": "not JSON"}
    ]


def test_write_failures_say_whether_a_retry_can_help(store: InfluxStore) -> None:
    down = InfluxStore("http://127.0.0.1:9", bucket=store.bucket, timeout_s=2)
    with pytest.raises(InfluxWriteError, match="unreachable") as exc:
        down.write_lines(["telemetry,site=a load_mw=1 1"])
    assert exc.value.retryable
    down.close()
    with pytest.raises(InfluxWriteError) as exc:
        store.write_lines(["this is not line protocol"])
    assert not exc.value.retryable
