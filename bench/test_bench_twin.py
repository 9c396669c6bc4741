"""Twin: one year at 1-minute resolution, one site (525,600 rows); target ≤ 5 s.

The baseline is the same model written as a prototype would be: a Python
loop over output steps that evaluates the twin's signal functions on one
step at a time and integrates the swing equation fine step by fine step in
Python. It runs over one day and is scaled per row; the benchmark records
that baseline and twin agree on that day, and the speed-up.
Run: ``make bench`` (figures in the README).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from vpp.twin import TwinConfig, simulate
from vpp.twin import signals as sig
from vpp.twin.engine import _DAY_SALT, _INIT_SALT, TwinEngine

pytestmark = pytest.mark.benchmark

YEAR_ROWS = 525_600


def naive_day(cfg: TwinConfig) -> dict[str, np.ndarray]:
    """Day 0 of ``cfg`` (one site), one step at a time in Python."""
    eng = TwinEngine(cfg)  # parameters only; the loop below does the work
    spd, res, sub = eng.steps_per_day, eng.resolution_s, eng.substeps
    init = np.random.default_rng([cfg.seed, _INIT_SALT])
    state = {k: float(init.standard_normal(1)[0]) for k in ("temperature", "load", "cloud", "wind")}
    state["price"] = float(init.standard_normal(1)[0])
    rng = np.random.default_rng([cfg.seed, _DAY_SALT, 0])
    innov = rng.standard_normal(86_400)
    eps = {}
    for name, rho in (
        ("temperature", cfg.weather.site_correlation),
        ("load", cfg.load.site_correlation),
        ("cloud", cfg.solar.site_correlation),
        ("wind", cfg.wind.site_correlation),
    ):
        shared, own = rng.standard_normal((spd, 1)), rng.standard_normal((spd, 1))
        eps[name] = (math.sqrt(rho) * shared + math.sqrt(1 - rho) * own)[:, 0]
    eps["price"] = rng.standard_normal((spd, 1))[:, 0]
    ad = eng.ad_fine.tolist()
    bd = eng.bd_fine.tolist()
    x = [0.0, 0.0, 0.0]
    imb = 0.0
    scale_imb = math.sqrt(1 - eng.phi_imb**2) * eng.std_imb_mw
    out = {k: np.empty(spd) for k in ("load", "solar", "wind", "temp", "price", "freq")}
    for i in range(spd):
        z = {}
        for k, v in state.items():
            phi = eng._phi[k]
            state[k] = phi * v + math.sqrt(1 - phi * phi) * eps[k][i]
            z[k] = np.array([[state[k]]])
        ts = np.array([eng.start_ns + i * res * 1_000_000_000], dtype=np.int64)
        grid = sig.TimeGrid(ts, eng.lat, eng.lon, cfg.weather.coldest_day_of_year)
        temp = sig.temperature_c(grid, cfg.weather, z["temperature"])
        load = sig.load_mw(grid, eng.base_load_mw, temp, cfg.load, z["load"])
        solar = sig.solar_mw(grid, eng.solar_cap_mw, cfg.solar, z["cloud"])
        wind = sig.wind_mw(grid, eng.wind_cap_mw, cfg.wind, z["wind"])
        price = sig.price_per_mwh(
            load[0], solar[0], wind[0], eng.capacity_mw, cfg.price, z["price"][0]
        )
        out["freq"][i] = cfg.nominal_hz + x[0]
        for s in range(i * res, (i + 1) * res):
            imb = eng.phi_imb * imb + scale_imb * innov[s]
            for _ in range(sub):
                x = [ad[r][0] * x[0] + ad[r][1] * x[1] + ad[r][2] * x[2] + bd[r] * imb
                     for r in range(3)]  # fmt: skip
        out["load"][i], out["solar"][i], out["wind"][i] = load[0, 0], solar[0, 0], wind[0, 0]
        out["temp"][i], out["price"][i] = temp[0, 0], price[0]
    return out


def test_twin_year_1min_one_site(benchmark) -> None:  # type: ignore[no-untyped-def]
    cfg_year = TwinConfig(days=365, resolution="1min", sites=1, seed=0)
    cfg_day = TwinConfig(days=1, resolution="1min", sites=1, seed=0)

    # Baseline, measured in this run on one day and scaled per row.
    t0 = time.perf_counter()
    naive = naive_day(cfg_day)
    naive_s_per_row = (time.perf_counter() - t0) / len(naive["load"])

    day = simulate(cfg_day).frame
    agree = all(
        np.allclose(day[col].to_numpy(), naive[key], rtol=1e-9, atol=1e-9)
        for col, key in (
            ("load_mw", "load"),
            ("solar_mw", "solar"),
            ("wind_mw", "wind"),
            ("temperature_c", "temp"),
            ("price_per_mwh", "price"),
            ("frequency_hz", "freq"),
        )
    )
    assert agree

    frame = benchmark.pedantic(lambda: simulate(cfg_year).frame, rounds=3, warmup_rounds=1)
    assert len(frame) == YEAR_ROWS
    median_s = benchmark.stats.stats.median
    baseline_s = naive_s_per_row * YEAR_ROWS
    benchmark.extra_info.update(
        rows=YEAR_ROWS,
        median_s=median_s,
        rows_per_s=YEAR_ROWS / median_s,
        target_s=5.0,
        baseline="python loop per step + per fine step, 1 day scaled to a year",
        baseline_year_s=baseline_s,
        speedup=baseline_s / median_s,
        baseline_agrees=agree,
    )
