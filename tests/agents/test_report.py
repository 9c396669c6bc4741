"""The year report's command line (the README's quality figures come from it)."""

from __future__ import annotations

import json

import pytest

from vpp.agents.report import main


def test_report_with_and_without_published_forecasts(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--days", "9", "--seed", "3", "--price-forecaster", "fundamental"]
    out = []
    for extra in ([], ["--published-forecasts"]):
        assert main([*argv, *extra]) == 0
        out.append(json.loads(capsys.readouterr().out))
    blind, fed = out
    assert blind["published_forecasts"] is None
    assert fed["published_forecasts"]["wind_error_std"] == pytest.approx(0.1)
    assert fed["arbitrage"]["oracle_profit"] == blind["arbitrage"]["oracle_profit"]
    assert fed["arbitrage"]["profit"] != blind["arbitrage"]["profit"]
    assert fed["frequency_response"]["compliance"] >= 0.99
