"""Fixtures: twin telemetry, a small trained model and a private compile cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vpp import twin
from vpp.io import Telemetry
from vpp.model import ForecastModel, TrainConfig, train

#: Small and quick to compile (30 rounds x 3 quantiles = 90 trees), same code path.
SMALL = TrainConfig(n_rounds=30, max_depth=4, learning_rate=0.3)


@pytest.fixture(scope="package", autouse=True)
def _compile_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Compiled libraries of the tests go to a private cache, not ~/.cache."""
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("vpp-cache")
    mp.setenv("VPP_CACHE_DIR", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="session")
def twin_tel() -> Telemetry:
    """Two sites, 60 days at 15 min: 11,520 events."""
    return Telemetry.from_frame(twin.generate(days=60, resolution="15min", sites=2, seed=3))


@pytest.fixture(scope="session")
def gappy_tel(twin_tel: Telemetry) -> Telemetry:
    """The same events with ~3% of values missing and one whole-signal outage."""
    rng = np.random.default_rng(0)
    values = twin_tel.values.copy()
    values[rng.random(values.shape) < 0.03] = np.nan
    values[1000:1100, twin_tel.signals.index("wind_mw")] = np.nan
    return Telemetry(
        ts_ns=twin_tel.ts_ns, sites=twin_tel.sites, values=values, signals=twin_tel.signals
    )


@pytest.fixture(scope="session")
def model_dir(gappy_tel: Telemetry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = train(gappy_tel, horizon_steps=1, config=SMALL)
    return model.save(tmp_path_factory.mktemp("model") / "m")


@pytest.fixture()
def model(model_dir: Path) -> ForecastModel:
    return ForecastModel.load(model_dir)
