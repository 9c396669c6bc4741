"""Fixtures of the MCP tests: one store filled by ``vpp run`` per session,
copied for tests that change it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mcp.helpers import FLEET_RUN_ARGS, copy_store, fill_store, train_tiny_model, write_fleet


@pytest.fixture(scope="session")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store filled by `vpp run --twin --days 2` running the tests' fleet
    (:data:`tests.mcp.helpers.FLEET`; do not modify: copy it)."""
    path = tmp_path_factory.mktemp("mcp-store") / "store.sqlite"
    return fill_store(path, 2.0, *FLEET_RUN_ARGS)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory written by `vpp train`."""
    return train_tiny_model(tmp_path_factory.mktemp("mcp-model") / "tiny")


@pytest.fixture
def store(base_store: Path, tmp_path: Path) -> Path:
    """A private copy of the filled store."""
    return copy_store(base_store, tmp_path / "data")


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    """The tests' fleet as a ``--fleet-config`` file: the fleet the pipeline runs."""
    return write_fleet(tmp_path / "fleet.json")
