"""The examples in vpp.io's docstrings run (so they cannot rot)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["vpp.io", "vpp.io.telemetry", "vpp.io.csv_reader"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
