"""Fixtures of the streaming tests."""

from tests.stream.helpers import topics  # noqa: F401
