"""Published forecasts as the trader reads them: the latest issued by then,
never one issued later, and worth their information in the backtest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vpp.agents.backtest import arbitrage_backtest
from vpp.agents.config import BatteryConfig
from vpp.agents.fundamental_forecast import FundamentalPriceForecaster
from vpp.agents.published_feed import FeedFile, PublishedFeed, read_feed
from vpp.errors import InputFormatError, ParameterError
from vpp.twin import generate
from vpp.twin.forecast_feed import published_forecasts

H = 3_600_000_000_000
SIGNALS = ("load_mw", "solar_mw", "wind_mw", "temperature_c")


def test_known_is_the_latest_issue_by_then_against_a_scan() -> None:
    rng = np.random.default_rng(3)
    n = 400
    issued = rng.integers(0, 50, n) * H // 2
    valid = rng.integers(0, 40, n) * H + rng.integers(0, H, n)  # floored to the hour
    wind = rng.normal(size=n)
    feed = PublishedFeed(issued, valid, wind, np.zeros(n))
    for now in rng.integers(-H, 26 * H, 30):
        hours = np.arange(-1, 41)
        got, _ = feed.known(int(now), hours)
        for h, g in zip(hours, got, strict=True):
            rows = np.flatnonzero((valid // H == h) & (issued <= now))
            if rows.size == 0:
                assert np.isnan(g)
            else:
                latest = rows[issued[rows] == issued[rows].max()]
                # Ties in issue time: the one later in the table wins.
                assert g == wind[latest[-1]]


def test_a_fleet_feed_sums_the_sites_and_names_what_is_missing(tmp_path: Path) -> None:
    table = published_forecasts(days=1, resolution="1h", sites=3, seed=1)
    sites = sorted(table["site"].unique())
    fleet = PublishedFeed.from_frame(table, sites)
    hours = table["valid_at"].drop_duplicates().astype("int64").to_numpy() // H
    wind, solar = fleet.known(hours[0] * H, hours)
    by_hour = table.groupby("valid_at")[["wind_mw", "solar_mw"]].sum()
    np.testing.assert_allclose(wind, by_hour["wind_mw"].to_numpy())
    np.testing.assert_allclose(solar, by_hour["solar_mw"].to_numpy())
    one = PublishedFeed.from_frame(table, sites[:1]).known(hours[0] * H, hours)[0]
    assert (one < wind).any()
    split = PublishedFeed.per_site(table, sites)
    for s in sites:
        own = PublishedFeed.from_frame(table, [s]).known(hours[0] * H, hours)
        np.testing.assert_array_equal(split[s].known(hours[0] * H, hours), own)
    with pytest.raises(ParameterError, match="nowhere"):
        PublishedFeed.from_frame(table, ["nowhere"])
    with pytest.raises(ParameterError, match="solar_mw"):
        PublishedFeed.from_frame(table.drop(columns="solar_mw"))
    with pytest.raises(ParameterError, match="non-finite"):
        PublishedFeed([0], [H], [np.nan], [0.0])
    path = tmp_path / "feed.csv"
    table.to_csv(path, index=False)
    again = PublishedFeed.from_frame(read_feed(str(path)), sites)
    np.testing.assert_allclose(again.known(hours[0] * H, hours)[0], wind)
    table.drop(columns="issued_at").to_csv(path, index=False)
    with pytest.raises(InputFormatError, match="issued_at"):
        read_feed(str(path))
    table.assign(valid_at="tomorrow").to_csv(path, index=False)
    with pytest.raises(InputFormatError, match="valid_at"):
        read_feed(str(path))


@pytest.fixture(scope="module")
def run() -> dict[str, object]:
    kw = {"days": 12, "resolution": "15min", "sites": 1, "seed": 7}
    df = generate(**kw)
    return {
        "ts": df["timestamp"].astype("int64").to_numpy(),
        "price": df["price_per_mwh"].to_numpy(),
        "signals": {k: df[k].to_numpy() for k in SIGNALS},
        "table": published_forecasts(**kw),
    }


def test_the_forecaster_never_reads_a_forecast_before_it_is_issued(run: dict) -> None:
    table = run["table"]
    model = FundamentalPriceForecaster()
    ts, price, sig = run["ts"], run["price"], run["signals"]
    base = model.forecast(ts, price, sig, feed=PublishedFeed.from_frame(table)).prices
    # Change every forecast issued on day 9 or later (day 10's and after).
    cut = pd.Timestamp("2025-01-09T17:00", tz="UTC")
    changed = table.copy()
    later = changed["issued_at"] >= cut
    changed.loc[later, "wind_mw"] = changed.loc[later, "wind_mw"][::-1].to_numpy()
    other = model.forecast(ts, price, sig, feed=PublishedFeed.from_frame(changed)).prices
    hour = ts[0] // H + np.arange(base.shape[0])
    before = hour * H < cut.value
    np.testing.assert_array_equal(base[before], other[before])
    assert np.isfinite(base[before]).any()
    assert np.nanmax(np.abs(base[~before] - other[~before])) > 1.0
    without = model.forecast(ts, price, sig).prices
    assert np.nanmax(np.abs(base - without)) > 1.0


def test_the_feed_raises_the_capture(run: dict) -> None:
    battery = BatteryConfig.from_round_trip(1.0, 2.0, 0.9025, degradation_cost_per_mwh=5.0)
    args = (run["ts"], run["price"], battery)
    kw = {"forecaster": "fundamental", "signals": run["signals"], "score_from_ns": run["ts"][672]}
    fed = arbitrage_backtest(*args, feed=PublishedFeed.from_frame(run["table"]), **kw)
    blind = arbitrage_backtest(*args, **kw)
    assert fed["oracle_profit"] == blind["oracle_profit"]
    assert fed["capture_ratio"] > blind["capture_ratio"]
    with pytest.raises(ParameterError, match="feed"):
        arbitrage_backtest(*args, feed=PublishedFeed.from_frame(run["table"]))


def test_a_feed_file_is_read_again_when_it_changes_and_kept_when_bad(tmp_path: Path) -> None:
    table = published_forecasts(days=2, resolution="1h", seed=1)
    path = tmp_path / "feed.csv"
    table.iloc[:24].to_csv(path, index=False)
    now = [0.0]
    source = FeedFile(str(path), check_s=60.0, clock=lambda: now[0])
    first = source.current()
    assert len(first) == 24
    table.to_csv(path, index=False)
    assert source.current() is first  # not yet due
    now[0] = 61.0
    second = source.current()
    assert len(second) == 48 and source.reloads == 1
    now[0] = 200.0
    assert source.current() is second  # unchanged file: not read again
    path.write_text("issued_at,valid_at\n1,2\n")
    now[0] = 300.0
    assert source.current() is second and source.errors == 1
    path.unlink()
    now[0] = 400.0
    assert source.current() is second and source.errors == 2


def test_the_feed_error_is_learnt_from_irregular_events() -> None:
    from scipy.stats import norm

    from vpp.agents.wind_score import feed_error

    # Wind as its own scores (a uniform grid of quantiles maps value z to z),
    # a forecast off by an AR(1) error of mean 0.2, std 0.3 and tau 8 h,
    # sampled at jittered 10-minute steps.
    rng = np.random.default_rng(5)
    n = 20_000
    ts = np.cumsum(rng.integers(8, 13, n)) * 60_000_000_000
    phi = np.exp(-np.diff(ts, prepend=ts[0]) / H / 8.0)
    e = np.empty(n)
    e[0] = rng.normal()
    for i in range(1, n):
        e[i] = phi[i] * e[i - 1] + np.sqrt(1 - phi[i] ** 2) * rng.normal()
    truth = rng.normal(size=n)
    hist = np.sort(norm.ppf((np.arange(50_000) + 0.5) / 50_000))
    bias, std, tau = feed_error(ts, truth, truth - (0.2 + 0.3 * e), hist, norm)
    assert bias == pytest.approx(0.2, abs=0.03)
    assert std == pytest.approx(0.3, abs=0.03)
    assert tau == pytest.approx(8.0, rel=0.25)
