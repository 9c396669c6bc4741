"""The fundamental price forecaster: no look-ahead, named errors, and a trader
using it on twin data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vpp.agents import BatteryConfig
from vpp.agents.backtest import arbitrage_backtest
from vpp.agents.fundamental_forecast import REQUIRED_SIGNALS, FundamentalPriceForecaster
from vpp.agents.hour_profiles import temperature_sensitivity
from vpp.agents.price_forecast import hourly_means
from vpp.agents.wind_score import score_time_constant
from vpp.errors import ParameterError
from vpp.twin import generate
from vpp.twin.params import LoadParams, WindParams

H_NS = 3_600_000_000_000
SMALL = {"warmup_days": 7.0, "refit_days": 3.0, "n_jobs": 1}


@pytest.fixture(scope="module")
def twin() -> pd.DataFrame:
    return generate(days=12, resolution="1min", sites=1, seed=4)


def _inputs(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    ts = pd.DatetimeIndex(df["timestamp"]).asi8
    keys = (*REQUIRED_SIGNALS, "temperature_c")
    return ts, df["price_per_mwh"].to_numpy(), {k: df[k].to_numpy() for k in keys}


def test_forecasts_before_a_change_do_not_see_it(twin: pd.DataFrame) -> None:
    ts, p, sig = _inputs(twin)
    base = FundamentalPriceForecaster(**SMALL).forecast(ts, p, sig)
    # Change everything after the first event of hour 200.
    cut = int(np.searchsorted(ts, ts[0] // H_NS * H_NS + 200 * H_NS)) + 1
    p2 = p.copy()
    p2[cut:] = p2[cut:] * 3.0 + 40.0
    sig2 = {k: v.copy() for k, v in sig.items()}
    for v in sig2.values():
        v[cut:] = v[cut:] * 0.5 + 1.0
    moved = FundamentalPriceForecaster(**SMALL).forecast(ts, p2, sig2)
    assert np.isfinite(base.prices[200]).all() and np.isnan(base.prices[0]).all()
    np.testing.assert_array_equal(base.prices[:201], moved.prices[:201])
    # ... and the change is seen afterwards (the test could fail).
    assert not np.allclose(base.prices[201:], moved.prices[201:])


def test_missing_signals_and_bad_parameters_are_named(twin: pd.DataFrame) -> None:
    ts, p, sig = _inputs(twin)
    with pytest.raises(ParameterError, match="wind_mw"):
        FundamentalPriceForecaster().forecast(ts, p, {k: sig[k] for k in ("load_mw", "solar_mw")})
    with pytest.raises(ParameterError, match="solar_mw: 3 values"):
        FundamentalPriceForecaster().forecast(ts, p, {**sig, "solar_mw": np.ones(3)})
    with pytest.raises(ParameterError, match="temperature_c: 3 values"):
        FundamentalPriceForecaster().forecast(ts, p, {**sig, "temperature_c": np.ones(3)})
    with pytest.raises(ParameterError, match="load_tau_h"):
        FundamentalPriceForecaster(load_tau_h=0.0)
    with pytest.raises(ParameterError, match="load_noise_tau_h"):
        FundamentalPriceForecaster(load_noise_tau_h=-1.0)
    with pytest.raises(ParameterError, match="profile_weight"):
        FundamentalPriceForecaster(profile_weight=1.5)
    bat = BatteryConfig()
    with pytest.raises(ParameterError, match="needs"):
        arbitrage_backtest(ts, p, bat, forecaster="fundamental")


def test_trader_with_fundamental_forecast_beats_the_builtin() -> None:
    df = generate(days=60, resolution="1min", sites=1, seed=2)
    ts, p, sig = _inputs(df)
    bat = BatteryConfig.from_round_trip(1.0, 2.0, 0.9025, degradation_cost_per_mwh=5.0)
    prof = arbitrage_backtest(ts, p, bat)
    fund = arbitrage_backtest(ts, p, bat, forecaster="fundamental", signals=sig)
    assert fund["oracle_profit"] == pytest.approx(prof["oracle_profit"])
    assert fund["capture_ratio"] > prof["capture_ratio"], (fund, prof)
    # Scored after two weeks of history: same trades, fewer of them counted.
    cut = int(ts[0] + 14 * 24 * H_NS)
    late = arbitrage_backtest(ts, p, bat, forecaster="fundamental", signals=sig, score_from_ns=cut)
    prof_late = arbitrage_backtest(ts, p, bat, score_from_ns=cut)
    assert late["oracle_profit"] == pytest.approx(prof_late["oracle_profit"])
    assert 0 < late["degradation_cost"] < fund["degradation_cost"]
    assert late["capture_ratio"] > prof_late["capture_ratio"], (late, prof_late)


def test_temperature_changes_the_forecast_and_is_optional(twin: pd.DataFrame) -> None:
    ts, p, sig = _inputs(twin)
    with_t = FundamentalPriceForecaster(**SMALL).forecast(ts, p, sig)
    without = FundamentalPriceForecaster(**SMALL).forecast(
        ts, p, {k: sig[k] for k in REQUIRED_SIGNALS}
    )
    unknown = FundamentalPriceForecaster(**SMALL).forecast(
        ts, p, {**sig, "temperature_c": np.full(ts.size, np.nan)}
    )
    assert np.isfinite(with_t.prices[-1]).all()
    assert not np.allclose(with_t.prices[-1], without.prices[-1])
    # Unknown temperature is the same as none.
    np.testing.assert_array_equal(unknown.prices, without.prices)


def test_the_learnt_physics_match_the_twins_parameters() -> None:
    """The load's temperature sensitivity and the wind's time constant come
    out of the data near the values the twin was built with."""
    from scipy.stats import norm

    df = generate(days=35, resolution="1min", sites=1, seed=3)  # January
    ts = pd.DatetimeIndex(df["timestamp"]).asi8
    hour, means = hourly_means(ts, df[["load_mw", "temperature_c"]].to_numpy())
    beta = temperature_sensitivity(means[:, 0], means[:, 1], int(hour[0]), hour.size)
    # Heating: load rises as temperature falls, by about heating_per_c.
    assert -2.0 * LoadParams().heating_per_c < beta < -0.5 * LoadParams().heating_per_c
    w = df["wind_mw"].to_numpy()
    tau_h = score_time_constant(ts, w, np.sort(w), norm)
    assert 0.75 * WindParams().tau_h < tau_h < 1.35 * WindParams().tau_h


def test_profile_weight_moves_the_forecast_towards_the_builtin(twin: pd.DataFrame) -> None:
    ts, p, sig = _inputs(twin)
    pure = FundamentalPriceForecaster(**SMALL, profile_weight=0.0).forecast(ts, p, sig).prices
    mixed = FundamentalPriceForecaster(**SMALL, profile_weight=0.5).forecast(ts, p, sig).prices
    only = FundamentalPriceForecaster(**SMALL, profile_weight=1.0).forecast(ts, p, sig).prices
    row = 250
    np.testing.assert_allclose(mixed[row], 0.5 * (pure[row] + only[row]), rtol=1e-9)
    # The built-in: the first price of the hour is the forecast of its hour,
    # and 14-day same-hour means (with a fading deviation) beyond.
    start = int(np.searchsorted(ts, ts[0] // H_NS * H_NS + row * H_NS))
    assert only[row, 0] == pytest.approx(p[start])
    assert not np.allclose(pure[row], only[row])


def test_waits_for_prices_to_learn_from(twin: pd.DataFrame) -> None:
    """Prices missing for the first nine days: no forecast until a curve can
    be learnt, then forecasts, and no error."""
    ts, p, sig = _inputs(twin)
    p = p.copy()
    first_known = int(np.searchsorted(ts, ts[0] + 9 * 24 * H_NS))
    p[:first_known] = np.nan
    fc = FundamentalPriceForecaster(**SMALL).forecast(ts, p, sig).prices
    assert np.isnan(fc[: 9 * 24]).all()
    assert np.isfinite(fc[-1]).all()
