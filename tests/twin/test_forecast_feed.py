"""The twin's published day-ahead wind and solar forecasts: aligned with the
telemetry, issued by the rule, as accurate as the published figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vpp.twin import TwinConfig, generate
from vpp.twin.engine import TwinEngine
from vpp.twin.forecast_feed import published_forecasts
from vpp.twin.params import FeedParams

_H = pd.Timedelta(hours=1)


def _hourly_truth(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby([df["timestamp"].dt.floor("1h"), "site"])[["wind_mw", "solar_mw"]]
    return g.mean()


def test_without_errors_the_feed_is_each_sites_hourly_mean() -> None:
    # Alignment of hours and sites: with the errors off the forecast is exact.
    kw = {"days": 3, "resolution": "15min", "sites": 3, "seed": 4}
    exact = FeedParams(wind_error_std=0.0, solar_error_std=0.0)
    feed = published_forecasts(params=exact, **kw).set_index(["valid_at", "site"])
    truth = _hourly_truth(generate(**kw))
    got = feed.loc[truth.index, ["wind_mw", "solar_mw"]]
    np.testing.assert_allclose(got.to_numpy(), truth.to_numpy(), rtol=1e-12, atol=1e-9)
    assert truth["wind_mw"].std() > 0 and truth["solar_mw"].max() > 0


def test_default_errors_match_the_published_accuracy() -> None:
    kw = {"days": 365, "resolution": "1h", "sites": 1, "seed": 2}
    feed = published_forecasts(**kw).set_index(["valid_at", "site"])
    truth = _hourly_truth(generate(**kw))
    err = feed.loc[truth.index, ["wind_mw", "solar_mw"]].to_numpy() - truth.to_numpy()
    eng = TwinEngine(TwinConfig(**kw))
    rmse = np.sqrt(np.mean(err**2, axis=0)) / [eng.wind_cap_mw[0], eng.solar_cap_mw[0]]
    # Calibrated to 4.5% (wind) and 2.9% (PV) of capacity over a year.
    assert 0.035 < rmse[0] < 0.055, rmse
    assert 0.02 < rmse[1] < 0.04, rmse


def test_every_hour_is_issued_once_the_day_before_at_the_issue_hour() -> None:
    feed = published_forecasts(days=3, resolution="1h", sites=2, seed=1)
    assert not feed.duplicated(["valid_at", "site"]).any()
    day = feed["valid_at"].dt.floor("1D")
    np.testing.assert_array_equal(feed["issued_at"], day - pd.Timedelta(hours=7))
    assert feed["valid_at"].min() == pd.Timestamp("2025-01-01", tz="UTC")
    assert len(feed) == 3 * 24 * 2
    lead = feed["valid_at"] - feed["issued_at"]
    assert lead.min() == 7 * _H and lead.max() == 30 * _H


def test_same_seed_same_feed_and_the_telemetry_does_not_depend_on_it() -> None:
    kw = {"days": 2, "resolution": "1h", "sites": 1}
    a = published_forecasts(seed=5, **kw)
    pd.testing.assert_frame_equal(a, published_forecasts(seed=5, **kw))
    assert not np.allclose(a["wind_mw"], published_forecasts(seed=6, **kw)["wind_mw"])
    # Larger errors move the feed but not the telemetry.
    worse = published_forecasts(seed=5, params=FeedParams(wind_error_std=0.5), **kw)
    assert not np.allclose(a["wind_mw"], worse["wind_mw"])
    pd.testing.assert_frame_equal(generate(seed=5, **kw), generate(seed=5, **kw))


@pytest.mark.parametrize(
    ("params", "name"),
    [
        (FeedParams(wind_error_std=-0.1), "wind_error_std"),
        (FeedParams(solar_error_tau_h=0.0), "solar_error_tau_h"),
        (FeedParams(issue_hour_utc=24.0), "issue_hour_utc"),
    ],
)
def test_bad_feed_parameters_are_named(params: FeedParams, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        published_forecasts(days=1, resolution="1h", params=params)


def test_a_timing_error_shows_the_weather_of_another_hour() -> None:
    kw = {"days": 20, "resolution": "15min", "sites": 1, "seed": 3}
    truth = _hourly_truth(generate(**kw))

    def rmse(std_h: float) -> float:
        fp = FeedParams(wind_error_std=0.0, solar_error_std=0.0, timing_error_std_h=std_h)
        feed = published_forecasts(params=fp, **kw).set_index(["valid_at", "site"])
        return float(np.sqrt(np.mean((feed.loc[truth.index, "wind_mw"] - truth["wind_mw"]) ** 2)))

    small, large = rmse(0.5), rmse(4.0)
    assert rmse(0.0) < 1e-6 < small < large
