"""Output schema, determinism and sites."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pandas as pd
import pytest

from vpp.io import Telemetry
from vpp.schema import GRID_SIGNALS as SIGNALS
from vpp.twin import SiteConfig, TwinConfig, generate, simulate


def test_schema_sorting_and_dtypes() -> None:
    df = generate(days=2, resolution="15min", sites=3, seed=1)
    assert list(df.columns) == ["timestamp", "site", *SIGNALS]
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert len(df) == 2 * 96 * 3
    assert df["timestamp"].iloc[0] == pd.Timestamp("2025-01-01", tz="UTC")
    key = list(zip(df["timestamp"], df["site"], strict=True))
    assert key == sorted(key)  # sorted by timestamp, then site
    assert df.groupby("timestamp")["site"].nunique().eq(3).all()
    assert (df["timestamp"].diff().dropna().unique() >= pd.Timedelta(0)).all()
    for col in SIGNALS:
        assert df[col].dtype == np.float64
        assert np.isfinite(df[col]).all()
    assert (df[["load_mw", "solar_mw", "wind_mw"]] >= 0).all().all()
    # One balancing area: one frequency and one price per timestamp.
    shared = df.groupby("timestamp")[["frequency_hz", "price_per_mwh"]].nunique()
    assert (shared == 1).all().all()
    # The io layer takes it as is.
    tel = Telemetry.from_frame(df)
    assert tel.signals == list(SIGNALS)
    assert len(tel) == len(df)


@pytest.mark.parametrize(
    ("resolution", "days", "rows"),
    [("1s", 0.01, 864), ("1min", 1, 1440), (900, 1, 96), ("1h", 3, 72), ("30min", 0.5, 24)],
)
def test_any_resolution_from_1s_to_1h(resolution: str | int, days: float, rows: int) -> None:
    df = generate(days=days, resolution=resolution, seed=0)
    assert len(df) == rows
    step = df["timestamp"].diff().dropna().unique()
    assert len(step) == 1


def test_same_seed_identical_different_seed_different() -> None:
    kw = dict(days=2, resolution="5min", sites=2, trips=[(3600.0, 800.0)])
    a = generate(seed=42, **kw)
    b = generate(seed=42, **kw)
    pd.testing.assert_frame_equal(a, b)
    c = generate(seed=43, **kw)
    for col in ("load_mw", "wind_mw", "frequency_hz", "price_per_mwh", "temperature_c"):
        assert not np.allclose(a[col], c[col]), col
    assert not a["solar_mw"].equals(c["solar_mw"])


def test_short_run_is_a_prefix_of_a_long_run() -> None:
    short = simulate(days=1, resolution="1min", seed=3, sites=2)
    long = simulate(days=3, resolution="1min", seed=3, sites=2, keep_trace=True)
    pd.testing.assert_frame_equal(short.frame, long.frame.iloc[: len(short.frame)])
    assert short.frequency_trace is not None and long.frequency_trace is not None
    n = short.frequency_trace.size
    np.testing.assert_array_equal(short.frequency_trace, long.frequency_trace[:n])


def test_sites_differ_in_size_and_location_but_sum_to_the_system() -> None:
    cfg = TwinConfig(sites=5, seed=8)
    sites = cfg.site_configs()
    assert [s.name for s in sites] == [f"site_{i:02d}" for i in range(5)]
    assert len({round(s.load_mw) for s in sites}) == 5
    assert len({s.latitude for s in sites}) == 5
    assert sum(s.load_mw for s in sites) == pytest.approx(cfg.system_mw)
    assert sum(s.wind_mw for s in sites) == pytest.approx(cfg.wind_share * cfg.system_mw)
    assert TwinConfig(sites=1).site_configs()[0].name == "grid"


def test_explicit_sites_are_used() -> None:
    sites = [
        SiteConfig("north", 57.0, -3.0, 200.0, 0.0, 300.0),
        SiteConfig("south", 50.5, 0.0, 800.0, 400.0, 0.0),
    ]
    df = generate(days=1, resolution="1h", sites=sites, seed=0)
    assert df["site"].unique().tolist() == ["north", "south"]
    by_site = df.groupby("site")[["load_mw", "solar_mw", "wind_mw"]].mean()
    assert by_site.loc["north", "solar_mw"] == 0.0
    assert by_site.loc["south", "wind_mw"] == 0.0
    assert by_site.loc["south", "load_mw"] > 2 * by_site.loc["north", "load_mw"]


def test_start_time_is_honoured() -> None:
    df = generate(days=1, resolution="1h", start="2024-06-21T06:00:00+02:00")
    assert df["timestamp"].iloc[0] == pd.Timestamp("2024-06-21T04:00:00", tz="UTC")


@pytest.mark.parametrize(
    "name",
    ["vpp.twin", "vpp.twin.batch", "vpp.twin.closed_loop", "vpp.twin.analysis"],
)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
