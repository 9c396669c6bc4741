"""Exceptions raised by vpp.

The value errors are defined in the Rust core (so the engine can raise them
without calling back into Python) and re-exported here, their public home.
"""

from vpp._core import (
    ModelError,
    OutOfOrderError,
    ParameterError,
    ShapeError,
    SnapshotError,
    SpecError,
    VppError,
)


class InputFormatError(VppError):
    """A user's file or message cannot be mapped onto the telemetry schema."""


__all__ = [
    "InputFormatError",
    "ModelError",
    "OutOfOrderError",
    "ParameterError",
    "ShapeError",
    "SnapshotError",
    "SpecError",
    "VppError",
]
