"""Bad parameters give clear errors naming the parameter."""

from __future__ import annotations

import pytest

from vpp.errors import ParameterError
from vpp.twin import SiteConfig, TwinConfig, frequency_response, rocof_hz_per_s

BAD = [
    (dict(days=-1), "days must be > 0"),
    (dict(days=0), "days must be > 0"),
    (dict(days=float("nan")), "days must be a finite number"),
    (dict(resolution="7s"), "resolution must divide a day"),
    (dict(resolution="2h"), "resolution must be between 1 s and 1 h"),
    (dict(resolution=0), "resolution must be between 1 s and 1 h"),
    (dict(resolution="1500ms"), "resolution must be a whole number of seconds"),
    (dict(resolution="often"), "resolution 'often' is not a duration"),
    (dict(days=1.01, resolution="1h"), "not a whole number of 3600 s resolution steps"),
    (dict(inertia_h_s=0), "inertia_h_s must be > 0"),
    (dict(inertia_h_s=-2.0), "inertia_h_s must be > 0"),
    (dict(system_mw=0), "system_mw must be > 0"),
    (dict(droop=0), "droop must be > 0"),
    (dict(governor_lag_s=-1), "governor_lag_s must be > 0"),
    (dict(damping_per_hz=-0.01), "damping_per_hz must be >= 0"),
    (dict(governor_share=1.5), "governor_share must be within 0..1"),
    (dict(agc_time_s=0), "agc_time_s must be > 0"),
    (dict(fine_step_s=0.3), "fine_step_s must divide 1 s"),
    (dict(fine_step_s=2.0), "fine_step_s must divide 1 s"),
    (dict(latitude=95.0), "latitude must be within -90..90"),
    (dict(longitude=-200.0), "longitude must be within -180..180"),
    (dict(sites=0), "sites must be >= 1"),
    (dict(sites=[]), "non-empty sequence of SiteConfig"),
    (dict(sites=[SiteConfig("a", 0, 0, 1), SiteConfig("a", 1, 1, 1)]), "unique"),
    (dict(sites=[SiteConfig("a", 0, 0, -5.0)]), "site 'a' load_mw must be >= 0"),
    (dict(seed=-1), "seed must be >= 0"),
    (dict(seed=1.5), "seed must be an integer"),
    (dict(start="not a time"), "start 'not a time' is not a time"),
    (dict(trips=[(10 * 86400.0, 100.0)]), "trips must fall within the horizon"),
    (dict(trips=[(10.0, float("inf"))]), "trips[0] mw must be a finite number"),
    (dict(trips=[100.0]), "trips[0] must be a (time, mw) pair"),
]


@pytest.mark.parametrize(("kw", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_parameters_raise_parameter_error(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError) as info:
        TwinConfig(**kw)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_analysis_rejects_bad_input() -> None:
    with pytest.raises(ParameterError, match="trace"):
        rocof_hz_per_s([50.0], 0.1)
    with pytest.raises(ParameterError, match="dt_s"):
        rocof_hz_per_s([50.0, 49.9], 0.0)
    with pytest.raises(ParameterError, match="event_s"):
        frequency_response([50.0, 49.9, 49.8], 0.1, event_s=5.0)
