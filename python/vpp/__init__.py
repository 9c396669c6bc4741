"""vpp: a real-time Virtual Power Plant engine.

Streams of grid telemetry become features, forecasts and battery dispatch
decisions in one native call per batch.
"""

from vpp.errors import OutOfOrderError, VppError
from vpp.features import FeatureEngine, FeatureSpec

__version__ = "0.1.0"

__all__ = ["FeatureEngine", "FeatureSpec", "OutOfOrderError", "VppError", "__version__"]
