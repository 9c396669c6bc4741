"""The walk-forward ML price forecaster: no look-ahead, shapes and NaN
handling, and a trader using it earns about as much as with the built-in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vpp.agents import ArbitrageConfig, BatteryConfig
from vpp.agents.backtest import arbitrage_backtest
from vpp.agents.price_forecast import EXOGENOUS_SIGNALS, MlPriceForecaster, hourly_means
from vpp.errors import ParameterError
from vpp.twin import generate

H_NS = 3_600_000_000_000
SMALL = {"warmup_days": 18.0, "retrain_days": 4.0, "n_estimators": 15, "n_jobs": 1}


@pytest.fixture(scope="module")
def twin() -> pd.DataFrame:
    return generate(days=26, resolution="1min", sites=1, seed=3)


def _inputs(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    ts = pd.DatetimeIndex(df["timestamp"]).asi8
    return ts, df["price_per_mwh"].to_numpy(), {k: df[k].to_numpy() for k in EXOGENOUS_SIGNALS}


def test_forecasts_before_a_change_do_not_see_it(twin: pd.DataFrame) -> None:
    ts, p, sig = _inputs(twin)
    base = MlPriceForecaster(**SMALL).forecast(ts, p, sig)
    # Change everything from the middle of hour 500 on (a refit follows at
    # hour 528, so later models see the change too).
    cut = int(np.searchsorted(ts, ts[0] // H_NS * H_NS + 500 * H_NS + H_NS // 2))
    p2 = p.copy()
    p2[cut:] = p2[cut:] * 3.0 + 40.0
    sig2 = {k: v.copy() for k, v in sig.items()}
    for v in sig2.values():
        v[cut:] = v[cut:] * 0.5 + 1.0
    moved = MlPriceForecaster(**SMALL).forecast(ts, p2, sig2)
    hour_of_cut = int(ts[cut] // H_NS - ts[0] // H_NS)
    assert np.isfinite(base.prices[hour_of_cut]).all()
    np.testing.assert_array_equal(base.prices[: hour_of_cut + 1], moved.prices[: hour_of_cut + 1])
    # ... and the change is seen afterwards (the test could fail).
    assert not np.allclose(base.prices[hour_of_cut + 1 :], moved.prices[hour_of_cut + 1 :])


def test_shapes_warmup_and_nan_prices(twin: pd.DataFrame) -> None:
    ts, p, sig = _inputs(twin)
    p = p.copy()
    rng = np.random.default_rng(0)
    p[rng.random(p.size) < 0.1] = np.nan
    p[5000:5200] = np.nan  # more than an hour without a price
    fc = MlPriceForecaster(horizon_h=30, **SMALL).forecast(ts, p, sig)
    m = int(ts[-1] // H_NS - ts[0] // H_NS) + 1
    assert fc.prices.shape == (m, 30)
    assert fc.hour_ns.shape == (m,)
    assert np.all(np.diff(fc.hour_ns) == H_NS)
    warm = round(SMALL["warmup_days"] * 24)
    assert np.isnan(fc.prices[:warm]).all()
    assert np.isfinite(fc.prices[warm:]).all()


def test_price_only_works(twin: pd.DataFrame) -> None:
    ts, p, _ = _inputs(twin)
    fc = MlPriceForecaster(**SMALL).forecast(ts, p)
    assert np.isfinite(fc.prices[-1]).all()


def test_bad_input_is_named() -> None:
    ts = np.arange(100, dtype=np.int64) * 60_000_000_000
    with pytest.raises(ParameterError, match="prices"):
        MlPriceForecaster().forecast(ts, np.ones(99))
    with pytest.raises(ParameterError, match="no finite price"):
        MlPriceForecaster().forecast(ts, np.full(100, np.nan))
    with pytest.raises(ParameterError, match="ts_ns"):
        MlPriceForecaster().forecast(ts[::-1].copy(), np.ones(100))
    with pytest.raises(ParameterError, match="wind_mw"):
        MlPriceForecaster().forecast(ts, np.ones(100), {"wind_mw": np.ones(3)})
    with pytest.raises(ParameterError, match="warmup_days"):
        MlPriceForecaster(warmup_days=5)
    with pytest.raises(ParameterError, match="forecaster"):
        arbitrage_backtest(ts, np.ones(100), BatteryConfig(), forecaster="oracle")
    with pytest.raises(ParameterError, match="plan_step_s"):
        arbitrage_backtest(
            ts,
            np.ones(100),
            BatteryConfig(),
            forecaster="ml",
            arbitrage=ArbitrageConfig(plan_step_s=900.0),
        )


def test_hourly_means_fill_forward_only() -> None:
    ts = np.array([0, 1, 2 * H_NS, 2 * H_NS + 5], dtype=np.int64)
    hour, v = hourly_means(ts, np.array([1.0, 3.0, np.nan, 7.0]))
    np.testing.assert_array_equal(hour, [0, 1, 2])
    np.testing.assert_array_equal(v[:, 0], [2.0, 2.0, 7.0])


@pytest.mark.slow
def test_trader_with_ml_forecast_keeps_up_with_the_builtin() -> None:
    df = generate(days=60, resolution="1min", sites=1, seed=2)
    ts, p, sig = _inputs(df)
    bat = BatteryConfig.from_round_trip(1.0, 2.0, 0.9025, degradation_cost_per_mwh=5.0)
    prof = arbitrage_backtest(ts, p, bat)
    ml = arbitrage_backtest(ts, p, bat, forecaster="ml", signals=sig)
    assert ml["oracle_profit"] == pytest.approx(prof["oracle_profit"])
    assert ml["capture_ratio"] >= prof["capture_ratio"] - 0.05
