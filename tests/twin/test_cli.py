"""``vpp twin`` writes the twin's telemetry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vpp.cli.main import main
from vpp.twin import generate


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_writes_what_generate_returns(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"twin{suffix}"
    argv = ["twin", "--days", "1", "--resolution", "1h", "--sites", "2", "--seed", "3"]
    rc = main([*argv, "--out", str(out), "--quiet"])
    assert rc == 0
    got = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    want = generate(days=1, resolution="1h", sites=2, seed=3)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want) == 48
    assert (pd.to_datetime(got["timestamp"], utc=True) == want["timestamp"]).all()
    for col in want.columns[2:]:
        np.testing.assert_allclose(got[col].to_numpy(), want[col].to_numpy(), rtol=1e-12)


def test_cli_trip_shows_in_the_frequency(tmp_path: Path) -> None:
    out = tmp_path / "trip.parquet"
    base = ["twin", "--days", "0.25", "--resolution", "1s", "--seed", "1", "--quiet"]
    assert (
        main([*base, "--out", str(out), "--trip-mw", "1800", "--trip-at", "2025-01-01T01:00"]) == 0
    )
    f = pd.read_parquet(out)["frequency_hz"].to_numpy()
    assert f[3590:3600].min() > 49.8  # before the trip: normal noise
    assert f[3600:3630].min() < 49.5  # after it: a deep dip
    assert main([*base, "--out", str(out), "--trip-mw", "1800", "--trip-at", "3600"]) == 0
    np.testing.assert_array_equal(pd.read_parquet(out)["frequency_hz"].to_numpy(), f)


def test_cli_bad_arguments_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "x.csv")
    assert main(["twin", "--days", "-1", "--out", out, "--quiet"]) == 2
    assert "days must be > 0" in capsys.readouterr().err
    assert main(["twin", "--resolution", "7s", "--out", out, "--quiet"]) == 2
    assert "resolution must divide a day" in capsys.readouterr().err
    assert main(["twin", "--trip-mw", "100", "--out", out, "--quiet"]) == 2
    assert "--trip-at" in capsys.readouterr().err
    assert main(["twin", "--out", str(tmp_path / "x.txt"), "--quiet"]) == 2
    assert ".csv or .parquet" in capsys.readouterr().err
