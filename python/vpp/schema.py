"""The telemetry schema: canonical signal names, units and derived signals.

A telemetry event is a UTC timestamp (nanoseconds since the epoch inside vpp),
a site id (default ``"grid"``) and any subset of the canonical signals below:
the grid's (:data:`GRID_SIGNALS`, which the features read) and the site's
own batteries' (:data:`ASSET_SIGNALS`, which only the agents read).
"""

from __future__ import annotations

DEFAULT_SITE = "grid"

#: Grid signals in their canonical order, with their units: what the twin
#: simulates and the features read.
GRID_SIGNALS: tuple[str, ...] = (
    "load_mw",
    "solar_mw",
    "wind_mw",
    "frequency_hz",
    "price_per_mwh",
    "temperature_c",
)

#: Measured state of charge of a site's batteries, fraction of their energy
#: capacity (from their management systems; one value for all the site's
#: units): each finite reading is the state of the site's units at its
#: event's time, taken just before that event's decision, so the agents plan
#: from what was measured.
BATTERY_SOC = "battery_soc_frac"

#: Signals of the site's own assets: the agents read them, the features do not.
ASSET_SIGNALS: tuple[str, ...] = (BATTERY_SOC,)

#: Canonical signals in their canonical order.
SIGNALS: tuple[str, ...] = (*GRID_SIGNALS, *ASSET_SIGNALS)

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
    "ASSET_SIGNALS",
    "BATTERY_SOC",
    "DEFAULT_SITE",
    "GRID_SIGNALS",
    "NET_LOAD",
    "NOMINAL_FREQUENCY_HZ",
    "POWER_SIGNALS",
    "PRICE_SIGNALS",
    "SIGNALS",
    "TELEMETRY_COLUMNS",
    "UNITS",
    "order_signals",
]
