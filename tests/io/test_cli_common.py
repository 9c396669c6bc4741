"""vpp.cli.common: the shared input, logging and progress options."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vpp.cli.common import (
    add_input_args,
    add_log_args,
    add_store_arg,
    load_input,
    progress,
    setup_logging,
)
from vpp.errors import InputFormatError, ParameterError
from vpp.io import read_telemetry, sample_telemetry_path

KW_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "kw_format_sample.csv"


def make_parser(twin: bool = False, required: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vpp test")
    add_input_args(parser, twin=twin, required=required)
    add_log_args(parser)
    return parser


def test_input_columns_units_as_the_issue_writes_them() -> None:
    # argv as the shell passes --columns load_mw="Electricity Load",solar_mw=...
    args = make_parser().parse_args(
        [
            "--input", str(KW_SAMPLE),
            "--columns", "load_mw=Electricity Load,solar_mw=Solar PV Output (kW)",
            "--columns", "wind_mw=Wind Power Output (kW)",
            "--units", "kW",
        ]
    )  # fmt: skip
    tel = load_input(args)
    assert tel.signals == ["load_mw", "solar_mw", "wind_mw"]
    expected = read_telemetry(
        KW_SAMPLE,
        columns={
            "load_mw": "Electricity Load",
            "solar_mw": "Solar PV Output (kW)",
            "wind_mw": "Wind Power Output (kW)",
        },
        units="kW",
    )
    np.testing.assert_array_equal(tel.values, expected.values)
    raw = pd.read_csv(KW_SAMPLE)
    np.testing.assert_allclose(tel.column("load_mw"), raw["Electricity Load"] / 1000)


def test_input_is_required_and_exclusive_with_twin(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        make_parser().parse_args([])
    assert "--input" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        make_parser(twin=True).parse_args(["--input", "x.csv", "--twin"])
    assert "not allowed with" in capsys.readouterr().err


def test_no_input_falls_back_to_the_sample_only_when_allowed() -> None:
    args = make_parser(twin=True, required=False).parse_args(["--quiet"])
    assert len(load_input(args, allow_sample=True)) == len(read_telemetry(sample_telemetry_path()))
    with pytest.raises(ParameterError, match="--input FILE or --twin"):
        load_input(args)


def test_conflicting_repeated_mapping_and_bad_units_are_errors() -> None:
    parser = make_parser()
    args = parser.parse_args(
        ["--input", str(KW_SAMPLE), "--columns", "load_mw=A", "--columns", "load_mw=B"]
    )
    with pytest.raises(ParameterError, match="maps load_mw twice"):
        load_input(args)
    args = parser.parse_args(
        ["--input", str(KW_SAMPLE), "--columns", "load_mw=Electricity Load", "--units", "W"]
    )
    with pytest.raises(InputFormatError, match="unknown units 'W'"):
        load_input(args)


def test_file_options_are_refused_with_twin() -> None:
    args = make_parser(twin=True).parse_args(["--twin", "--units", "kW"])
    with pytest.raises(ParameterError, match="not to --twin"):
        load_input(args)


def test_twin_knobs_reach_the_twin() -> None:
    twin = pytest.importorskip("vpp.twin")
    if not hasattr(twin, "generate"):
        pytest.skip("vpp.twin.generate not available yet")
    argv = ["--twin", "--days", "1", "--resolution", "1h", "--sites", "2", "--seed", "3"]
    tel = load_input(make_parser(twin=True).parse_args(argv))
    assert len(tel) == 24 * 2
    assert len(tel.site_ids()) == 2
    assert np.all(np.diff(tel.ts_ns) >= 0)
    again = load_input(make_parser(twin=True).parse_args(argv))
    np.testing.assert_array_equal(tel.values, again.values)


def test_progress_is_silent_when_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    quiet = argparse.Namespace(quiet=True)
    assert list(progress(range(5), "rows", quiet)) == [0, 1, 2, 3, 4]
    with progress(10, "rows", quiet) as bar:
        bar.update(10)
        assert bar.disable
    assert capsys.readouterr().err == ""


def test_json_log_lines_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    args = make_parser().parse_args(["--input", "x", "--log-format", "json"])
    setup_logging(args)
    try:
        logging.getLogger("vpp.test").info("read %d events", 42)
        logging.getLogger("vpp.test").debug("hidden")
    finally:
        logging.getLogger("vpp").handlers.clear()
    out = capsys.readouterr()
    assert out.out == ""
    lines = [json.loads(line) for line in out.err.splitlines()]
    assert len(lines) == 1
    assert lines[0]["msg"] == "read 42 events" and lines[0]["level"] == "info"
    assert lines[0]["ts"].endswith("Z")


def test_quiet_keeps_warnings_only(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(make_parser().parse_args(["--input", "x", "--quiet"]))
    try:
        logging.getLogger("vpp.test").info("chatty")
        logging.getLogger("vpp.test").warning("careful")
    finally:
        logging.getLogger("vpp").handlers.clear()
    err = capsys.readouterr().err
    assert "careful" in err and "chatty" not in err


def test_store_option_defaults_to_the_embedded_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vpp.io import open_store

    parser = argparse.ArgumentParser()
    add_store_arg(parser)
    assert parser.parse_args([]).store is None
    monkeypatch.delenv("VPP_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    with open_store(parser.parse_args([]).store) as store:
        store.set_meta("run", 1)
    assert (tmp_path / "vpp-data" / "store.sqlite").is_file()
    with open_store(parser.parse_args(["--store", "other.db"]).store) as store:
        assert store.get_meta("run") is None
