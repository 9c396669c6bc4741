"""vpp.io.Telemetry: construction, ordering, validation and column access."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vpp.errors import InputFormatError
from vpp.io import Telemetry
from vpp.schema import SIGNALS

T0 = 1_717_372_800 * 10**9  # 2024-06-03T00:00:00Z


def test_from_frame_sorts_stably_by_time_keeping_site_interleaving() -> None:
    ts = np.array([3, 1, 2, 1, 3, 2]) * 10**9 + T0
    sites = ["b", "a", "a", "b", "a", "b"]
    df = pd.DataFrame({"ts_ns": ts, "site": sites, "load_mw": np.arange(6.0)})
    tel = Telemetry.from_frame(df)
    assert tel.ts_ns.tolist() == sorted(ts.tolist())
    # Equal timestamps keep the input order: at t=1 'a' (row 1) before 'b' (row 3).
    assert tel.sites.tolist() == ["a", "b", "a", "b", "b", "a"]
    assert tel.column("load_mw").tolist() == [1.0, 3.0, 2.0, 5.0, 0.0, 4.0]


def test_from_frame_dtypes_and_layout() -> None:
    df = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=4, freq="15min", tz="UTC"),
            "wind_mw": [1, 2, 3, 4],  # ints become float64
            "load_mw": [10.0, 11.0, np.nan, 13.0],
            "extra": ["x"] * 4,
        }
    )
    tel = Telemetry.from_frame(df)
    assert tel.ts_ns.dtype == np.int64
    assert tel.ts_ns[0] == pd.Timestamp("2024-01-01", tz="UTC").value
    assert tel.sites.dtype == object and set(tel.sites) == {"grid"}
    assert tel.values.dtype == np.float64 and tel.values.flags.c_contiguous
    assert tel.signals == ["load_mw", "wind_mw"]  # canonical order, extras ignored
    assert np.isnan(tel.column("load_mw")[2])
    assert len(tel) == 4


def test_naive_and_iso_string_timestamps_are_utc() -> None:
    naive = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01 12:00"]), "load_mw": [1.0]})
    text = pd.DataFrame({"timestamp": ["2024-01-01T13:00:00+01:00"], "load_mw": [1.0]})
    expected = pd.Timestamp("2024-01-01T12:00Z").value
    assert Telemetry.from_frame(naive).ts_ns[0] == expected
    assert Telemetry.from_frame(text).ts_ns[0] == expected


def test_nat_timestamp_error_names_the_row() -> None:
    df = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-01-01", None, "2024-01-02"], utc=True),
            "load_mw": [1.0, 2.0, 3.0],
        }
    )
    with pytest.raises(InputFormatError, match=r"missing timestamp .* row 1"):
        Telemetry.from_frame(df)


def test_frame_without_signals_or_time_is_rejected_with_columns_named() -> None:
    with pytest.raises(InputFormatError, match=r"columns found: \['timestamp', 'Load'\]"):
        Telemetry.from_frame(pd.DataFrame({"timestamp": [T0], "Load": [1.0]}))
    with pytest.raises(InputFormatError, match=r"no 'timestamp' or 'ts_ns' column.*'load_mw'"):
        Telemetry.from_frame(pd.DataFrame({"when": [T0], "load_mw": [1.0]}))


def test_non_numeric_signal_column_is_rejected() -> None:
    df = pd.DataFrame({"ts_ns": [T0, T0 + 1], "load_mw": ["1.5", "lots"]})
    with pytest.raises(InputFormatError, match="load_mw"):
        Telemetry.from_frame(df)


def test_roundtrip_through_frame() -> None:
    rng = np.random.default_rng(1)
    n = 50
    tel = Telemetry(
        ts_ns=T0 + np.arange(n, dtype=np.int64) * 900 * 10**9,
        sites=np.array([f"s{i % 3}" for i in range(n)], dtype=object),
        values=rng.normal(size=(n, len(SIGNALS))),
        signals=list(SIGNALS),
    )
    df = tel.to_frame()
    assert list(df.columns) == ["timestamp", "site", *SIGNALS]
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    back = Telemetry.from_frame(df)
    np.testing.assert_array_equal(back.ts_ns, tel.ts_ns)
    np.testing.assert_array_equal(back.sites, tel.sites)
    np.testing.assert_array_equal(back.values, tel.values)


def test_constructor_reorders_signals_and_validates_shapes() -> None:
    tel = Telemetry(
        ts_ns=np.array([1, 2]), sites="x", values=[[1.0, 10.0], [2.0, 20.0]],
        signals=["wind_mw", "load_mw"],
    )  # fmt: skip
    assert tel.signals == ["load_mw", "wind_mw"]
    assert tel.values.tolist() == [[10.0, 1.0], [20.0, 2.0]]
    assert tel.sites.tolist() == ["x", "x"]
    with pytest.raises(InputFormatError, match=r"expected \(2, 1\)"):
        Telemetry(ts_ns=np.array([1, 2]), sites="x", values=np.ones((3, 1)), signals=["load_mw"])
    with pytest.raises(InputFormatError, match="unknown signal"):
        Telemetry(ts_ns=np.array([1]), sites="x", values=np.ones((1, 1)), signals=["load"])
    with pytest.raises(InputFormatError, match="int64 nanoseconds"):
        Telemetry(ts_ns=np.array([1.5]), sites="x", values=np.ones((1, 1)), signals=["load_mw"])


def test_net_load_is_derived_with_absent_renewables_as_zero() -> None:
    base = {"ts_ns": [T0, T0 + 1], "load_mw": [10.0, 20.0]}
    only_solar = Telemetry.from_frame(pd.DataFrame({**base, "solar_mw": [1.0, np.nan]}))
    net = only_solar.column("net_load_mw")
    assert net[0] == 9.0 and np.isnan(net[1])  # present-but-missing solar → missing net
    both = Telemetry.from_frame(pd.DataFrame({**base, "solar_mw": [1.0, 2.0], "wind_mw": [3, 4]}))
    assert both.column("net_load_mw").tolist() == [6.0, 14.0]
    with pytest.raises(KeyError, match="present"):
        only_solar.column("wind_mw")


def test_select_subsets_and_fills() -> None:
    tel = Telemetry.from_frame(
        pd.DataFrame({"ts_ns": [T0], "load_mw": [5.0], "price_per_mwh": [50.0]})
    )
    sub = tel.select(["price_per_mwh"])
    assert sub.signals == ["price_per_mwh"] and sub.values.tolist() == [[50.0]]
    filled = tel.select(["solar_mw", "load_mw"], fill_missing=True)
    assert filled.signals == ["load_mw", "solar_mw"]
    assert filled.values[0, 0] == 5.0 and np.isnan(filled.values[0, 1])
    with pytest.raises(KeyError, match="solar_mw"):
        tel.select(["solar_mw"])
    with pytest.raises(InputFormatError, match="unknown"):
        tel.select(["sun"])


def test_site_ids_and_for_site() -> None:
    df = pd.DataFrame({"ts_ns": [1, 2, 3], "site": ["b", "a", "b"], "load_mw": [1.0, 2, 3]})
    tel = Telemetry.from_frame(df)
    assert tel.site_ids() == ["a", "b"]
    b = tel.for_site("b")
    assert b.ts_ns.tolist() == [1, 3] and b.column("load_mw").tolist() == [1.0, 3.0]
    assert "n=3" in repr(tel) and "sites=2" in repr(tel)
    assert len(Telemetry.empty()) == 0


def test_slice_batches_and_concat() -> None:
    df = pd.DataFrame({"ts_ns": np.arange(10), "site": "a", "load_mw": np.arange(10.0)})
    tel = Telemetry.from_frame(df)
    part = tel.slice(3, 6)
    assert part.ts_ns.tolist() == [3, 4, 5]
    assert np.shares_memory(part.values, tel.values)  # a view, no copy
    sizes = [len(b) for b in tel.batches(4)]
    assert sizes == [4, 4, 2]
    joined = Telemetry.concat(list(tel.batches(4)))
    np.testing.assert_array_equal(joined.values, tel.values)
    other = Telemetry(np.array([10]), "a", [[1.0]], ["wind_mw"])
    mixed = Telemetry.concat([tel.slice(8, 10), other])
    assert mixed.signals == ["load_mw", "wind_mw"]
    assert np.isnan(mixed.values[2, 0]) and np.isnan(mixed.values[0, 1])
    with pytest.raises(InputFormatError, match="positive"):
        next(tel.batches(0))
