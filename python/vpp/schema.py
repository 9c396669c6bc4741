"""The telemetry schema: canonical signal names, units and derived signals.

A telemetry event is a UTC timestamp (nanoseconds since the epoch inside vpp),
a site id (default ``"grid"``) and any subset of the canonical signals below.
"""

from __future__ import annotations

DEFAULT_SITE = "grid"

#: Canonical signals in their canonical order, with their units.
SIGNALS: tuple[str, ...] = (
    "load_mw",
    "solar_mw",
    "wind_mw",
    "frequency_hz",
    "price_per_mwh",
    "temperature_c",
)

#: Signals measured in power units (converted by ``--units kW``).
POWER_SIGNALS: frozenset[str] = frozenset({"load_mw", "solar_mw", "wind_mw"})

#: Signals priced per energy unit (per-kWh prices become per-MWh with ``--units kW``).
PRICE_SIGNALS: frozenset[str] = frozenset({"price_per_mwh"})

#: Derived signal: ``load_mw - solar_mw - wind_mw``; renewables absent from the
#: stream count as 0, a renewable that is present but missing (NaN) makes the
#: net load missing for that event.
NET_LOAD = "net_load_mw"

#: Telemetry columns in the order every table, CSV and store uses.
TELEMETRY_COLUMNS: tuple[str, ...] = ("timestamp", "site", *SIGNALS)

#: Nominal grid frequency (Hz) of GB and Continental Europe (ENTSO-E).
NOMINAL_FREQUENCY_HZ = 50.0

UNITS = ("MW", "kW")


def order_signals(names: list[str] | tuple[str, ...]) -> list[str]:
    """Return the given canonical signal names in canonical order.

    Raises:
        ValueError: if a name is not a canonical signal.
    """
    unknown = [n for n in names if n not in SIGNALS]
    if unknown:
        raise ValueError(f"unknown signal name(s) {unknown}; canonical signals are {list(SIGNALS)}")
    return [s for s in SIGNALS if s in names]


__all__ = [
    "DEFAULT_SITE",
    "NET_LOAD",
    "NOMINAL_FREQUENCY_HZ",
    "POWER_SIGNALS",
    "PRICE_SIGNALS",
    "SIGNALS",
    "TELEMETRY_COLUMNS",
    "UNITS",
    "order_signals",
]
