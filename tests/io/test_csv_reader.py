"""vpp.io.read_telemetry and parse_columns_option against real files."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vpp.errors import InputFormatError
from vpp.io import parse_columns_option, read_telemetry, sample_telemetry_path
from vpp.io.sample import make_sample_frame, write_sample
from vpp.schema import GRID_SIGNALS, SIGNALS

DATA = Path(__file__).resolve().parent.parent / "data"
KW_SAMPLE = DATA / "kw_format_sample.csv"
KW_MAPPING = (
    'load_mw="Electricity Load",solar_mw="Solar PV Output (kW)",wind_mw="Wind Power Output (kW)"'
)
KW_COLUMNS = ["Timestamp", "Solar PV Output (kW)", "Wind Power Output (kW)", "Electricity Load"]


def write_csv(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- the kW sample -----------------------------------------------------------
def test_kw_sample_with_mapping_and_units() -> None:
    tel = read_telemetry(KW_SAMPLE, columns=parse_columns_option(KW_MAPPING), units="kW")
    raw = pd.read_csv(KW_SAMPLE)
    assert len(tel) == len(raw) == 4320
    assert tel.signals == ["load_mw", "solar_mw", "wind_mw"]
    assert tel.site_ids() == ["grid"]
    np.testing.assert_allclose(tel.column("load_mw"), raw["Electricity Load"] / 1000, rtol=1e-15)
    np.testing.assert_allclose(tel.column("solar_mw"), raw["Solar PV Output (kW)"] / 1000)
    np.testing.assert_allclose(tel.column("wind_mw"), raw["Wind Power Output (kW)"] / 1000)
    expected_ts = pd.to_datetime(raw["Timestamp"], utc=True).dt.as_unit("ns").astype("int64")
    np.testing.assert_array_equal(tel.ts_ns, expected_ts)
    assert np.all(np.diff(tel.ts_ns) == 30 * 60 * 10**9)


def test_kw_sample_without_mapping_names_found_and_expected_columns() -> None:
    with pytest.raises(InputFormatError) as info:
        read_telemetry(KW_SAMPLE)
    msg = str(info.value)
    for col in KW_COLUMNS:
        assert repr(col) in msg
    for name in SIGNALS:
        assert name in msg
    assert "--columns" in msg


def test_mapping_to_absent_column_names_it_and_the_columns_found() -> None:
    with pytest.raises(InputFormatError) as info:
        read_telemetry(KW_SAMPLE, columns={"load_mw": "Electric Load"})
    msg = str(info.value)
    assert "'Electric Load'" in msg and "load_mw" in msg
    for col in KW_COLUMNS:
        assert repr(col) in msg


def test_mapping_matches_source_ignoring_case() -> None:
    tel = read_telemetry(KW_SAMPLE, columns={"load_mw": "electricity load"})
    assert tel.signals == ["load_mw"]
    assert tel.column("load_mw")[0] == pytest.approx(219.09396442222655)


# -- units ----------------------------------------------------------------
def test_units_are_validated() -> None:
    with pytest.raises(InputFormatError, match=r"unknown units 'GW'.*'MW', 'kW'"):
        read_telemetry(KW_SAMPLE, columns={"load_mw": "Electricity Load"}, units="GW")


def test_kw_units_convert_power_and_price_only(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "timestamp,load_mw,solar_mw,frequency_hz,price_per_mwh,temperature_c\n"
        "2024-01-01T00:00:00Z,1500,250,50.01,0.12,7.5\n",
    )
    mw = read_telemetry(path)
    kw = read_telemetry(path, units="kw")  # case-insensitive
    assert mw.values.tolist() == [[1500.0, 250.0, 50.01, 0.12, 7.5]]
    np.testing.assert_allclose(kw.values, [[1.5, 0.25, 50.01, 120.0, 7.5]])


# -- timestamps -------------------------------------------------------------
@pytest.mark.parametrize("unit,scale", [("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9)])
def test_epoch_units_detected_by_magnitude(tmp_path: Path, unit: str, scale: int) -> None:
    secs = [1_700_000_000, 1_700_000_900, 1_700_001_800]
    lines = "\n".join(f"{s * scale},{i}.5" for i, s in enumerate(secs))
    tel = read_telemetry(write_csv(tmp_path, f"time,load_mw\n{lines}\n"))
    assert tel.ts_ns.tolist() == [s * 10**9 for s in secs]


def test_fractional_epochs_round_to_the_microsecond(tmp_path: Path) -> None:
    text = "timestamp,load_mw\n1700000000.1,1\n1700000000.000002,2\n"
    tel = read_telemetry(write_csv(tmp_path, text))
    assert tel.ts_ns.tolist() == [1_700_000_000_000_002_000, 1_700_000_000_100_000_000]
    ms = read_telemetry(write_csv(tmp_path, "timestamp,load_mw\n1700000000123.5,1\n", "ms.csv"))
    assert ms.ts_ns[0] == 1_700_000_000_123_500_000


def test_iso_timestamps_with_offsets_naive_and_mixed(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "Datetime,load_mw\n"
        "2024-03-01T12:00:00+02:00,1\n"  # 10:00Z
        "2024-03-01 09:00:00,2\n"  # naive → UTC
        "2024-03-01T11:00:00Z,3\n",
    )
    tel = read_telemetry(path)
    hours = [pd.Timestamp(t, tz="UTC").hour for t in tel.ts_ns]
    assert hours == [9, 10, 11]  # sorted by time
    assert tel.column("load_mw").tolist() == [2.0, 1.0, 3.0]


def test_timestamp_column_can_be_mapped(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "When (UTC),Load\n2024-01-01T00:00Z,1\n")
    tel = read_telemetry(path, columns=parse_columns_option("timestamp=When (UTC),load_mw=Load"))
    assert tel.ts_ns[0] == pd.Timestamp("2024-01-01", tz="UTC").value


def test_bad_timestamp_names_the_line_and_value(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "timestamp,load_mw\n2024-01-01T00:00Z,1\n2024-01-01T00:15Z,2\nyesterday,3\n"
    )
    with pytest.raises(InputFormatError, match=r"'yesterday'.*'timestamp'.*line 4"):
        read_telemetry(path)


def test_epoch_column_with_a_text_cell_names_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "timestamp,load_mw\n1700000000,1\n1700000900,2\nsoon,3\n")
    with pytest.raises(InputFormatError, match=r"'soon'.*line 4.*epoch numbers"):
        read_telemetry(path)


def test_missing_timestamp_names_the_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "timestamp,load_mw\n2024-01-01T00:00Z,1\n,2\n")
    with pytest.raises(InputFormatError, match=r"missing timestamp.*line 3"):
        read_telemetry(path)


def test_no_time_column_is_reported(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "stamp,load_mw\n1,2\n")
    with pytest.raises(InputFormatError, match=r"no time column.*\['stamp', 'load_mw'\]"):
        read_telemetry(path)


# -- values and columns -------------------------------------------------------
def test_empty_cells_are_missing_but_text_is_an_error(tmp_path: Path) -> None:
    ok = write_csv(tmp_path, "timestamp,load_mw,wind_mw\n0,1.5,\n900,,2\n", "ok.csv")
    tel = read_telemetry(ok)
    assert tel.values[0, 0] == 1.5 and np.isnan(tel.values[0, 1])
    assert np.isnan(tel.values[1, 0]) and tel.values[1, 1] == 2.0

    bad = write_csv(tmp_path, "timestamp,load_mw,wind_mw\n0,1.5,1\n900,2,\n1800,n/a?,3\n")
    with pytest.raises(InputFormatError, match=r"'n/a\?' in column 'load_mw' at line 4"):
        read_telemetry(bad)


def test_canonical_names_match_ignoring_case_and_extra_columns_are_ignored(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path, "TIMESTAMP,Load_MW, Price_per_MWh ,notes\n0,1,40,hello\n")
    tel = read_telemetry(path)
    assert tel.signals == ["load_mw", "price_per_mwh"]
    assert tel.values.tolist() == [[1.0, 40.0]]


def test_site_column_default_site_and_site_filter(tmp_path: Path) -> None:
    multi = write_csv(
        tmp_path, "timestamp,site,load_mw\n0,007,1\n0,b,2\n900,007,3\n900,b,4\n", "m.csv"
    )
    tel = read_telemetry(multi)
    assert tel.sites.tolist() == ["007", "b", "007", "b"]  # site ids stay text
    only = read_telemetry(multi, site="b")
    assert only.column("load_mw").tolist() == [2.0, 4.0]
    with pytest.raises(InputFormatError, match=r"no rows for site 'z'.*'007', 'b'"):
        read_telemetry(multi, site="z")
    single = write_csv(tmp_path, "timestamp,load_mw\n0,1\n", "s.csv")
    assert read_telemetry(single, site="plant-9").site_ids() == ["plant-9"]


def test_semicolon_and_tab_separated_files_and_a_bom(tmp_path: Path) -> None:
    semi = write_csv(tmp_path, "Zeit;Last\n2024-01-01T00:00Z;1.5\n", "semi.csv")
    tel = read_telemetry(semi, columns={"timestamp": "Zeit", "load_mw": "Last"})
    assert tel.values.tolist() == [[1.5]]
    tab = write_csv(tmp_path, "timestamp\tload_mw\n0\t2\n", "tab.csv")
    assert read_telemetry(tab).values.tolist() == [[2.0]]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbftimestamp,load_mw\n0,3\n")
    assert read_telemetry(bom).values.tolist() == [[3.0]]


def test_empty_files(tmp_path: Path) -> None:
    assert len(read_telemetry(write_csv(tmp_path, "timestamp,load_mw\n", "h.csv"))) == 0
    with pytest.raises(InputFormatError, match=r"cannot read .* as CSV"):
        read_telemetry(write_csv(tmp_path, "", "e.csv"))


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        read_telemetry("nope.csv")


# -- parquet -----------------------------------------------------------------
def test_parquet_roundtrip(tmp_path: Path) -> None:
    tel = read_telemetry(sample_telemetry_path())
    path = tmp_path / "t.parquet"
    tel.to_frame().to_parquet(path)
    back = read_telemetry(path)
    assert back.signals == tel.signals
    np.testing.assert_array_equal(back.ts_ns, tel.ts_ns)
    np.testing.assert_array_equal(back.sites, tel.sites)
    np.testing.assert_array_equal(back.values, tel.values)


def test_parquet_with_naive_datetimes_mapping_and_kw(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "Time": pd.to_datetime(["2024-05-01 00:30", "2024-05-01 00:00"]),
            "Demand kW": [2000.0, 1000.0],
        }
    )
    path = tmp_path / "t.pq"
    df.to_parquet(path)
    tel = read_telemetry(path, columns={"load_mw": "Demand kW"}, units="kW")
    assert tel.column("load_mw").tolist() == [1.0, 2.0]
    assert tel.ts_ns[0] == pd.Timestamp("2024-05-01T00:00Z").value


# -- parse_columns_option ------------------------------------------------------
@pytest.mark.parametrize(
    "text,expected",
    [
        # What argv holds after the shell removed the quotes.
        (
            "load_mw=Electricity Load,solar_mw=Solar PV Output (kW)",
            {"load_mw": "Electricity Load", "solar_mw": "Solar PV Output (kW)"},
        ),
        (KW_MAPPING, {
            "load_mw": "Electricity Load",
            "solar_mw": "Solar PV Output (kW)",
            "wind_mw": "Wind Power Output (kW)",
        }),
        ("load_mw='Load, total', wind_mw = Wind ,", {"load_mw": "Load, total", "wind_mw": "Wind"}),
        ("load_mw=Owner's load", {"load_mw": "Owner's load"}),
        ("timestamp=Time,site=Plant", {"timestamp": "Time", "site": "Plant"}),
        ("", {}),
    ],
)  # fmt: skip
def test_parse_columns_option(text: str, expected: dict[str, str]) -> None:
    assert parse_columns_option(text) == expected


@pytest.mark.parametrize(
    "text,pattern",
    [
        ("lod_mw=Load", r"'lod_mw' is not a canonical name \(did you mean 'load_mw'\?\)"),
        ("load=Load", r"expected one of \['timestamp', 'site', 'load_mw'"),
        ("load_mw", r"'load_mw' is not CANONICAL=SOURCE"),
        ("load_mw=a,load_mw=b", r"'load_mw' is mapped twice"),
        ('load_mw="Load', r"unbalanced \" quote"),
        ("load_mw=", r"empty source column for 'load_mw'"),
    ],
)
def test_parse_columns_option_errors(text: str, pattern: str) -> None:
    with pytest.raises(InputFormatError, match=pattern):
        parse_columns_option(text)


# -- the packaged sample --------------------------------------------------------
def test_packaged_sample_is_the_documented_formula(tmp_path: Path) -> None:
    fresh = write_sample(tmp_path / "sample.csv")
    assert filecmp.cmp(fresh, sample_telemetry_path(), shallow=False)
    tel = read_telemetry(sample_telemetry_path())
    assert len(tel) == len(make_sample_frame()) == 2 * 96
    assert tel.signals == list(GRID_SIGNALS)
    assert np.all(np.diff(tel.ts_ns) == 15 * 60 * 10**9)
    assert np.all(tel.column("solar_mw") >= 0)
