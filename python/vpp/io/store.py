"""The store every part of vpp writes to and reads from.

One interface, :class:`Store`, with the record shapes shared by the pipeline
(``vpp run`` / ``vpp consume``), the MCP server and the reports. The embedded
implementation is SQLite in one file (:mod:`vpp.io.store_sqlite`); a server
store (InfluxDB) implements the same methods.

Record shapes (every timestamp is int64 UTC nanoseconds; missing numbers are
NaN in frames and ``None`` in dicts):

* telemetry: ``ts_ns, site, load_mw, solar_mw, wind_mw, frequency_hz,
  price_per_mwh, temperature_c``; key ``(site, ts_ns)``.
* forecast: ``ts_ns`` (when the forecast was issued: the time of the last event
  it saw), ``site``, ``target`` (a signal name such as ``net_load_mw``),
  ``horizon_steps`` (1 = next step), ``target_ts_ns`` (the time forecast for),
  ``point``, ``lower``, ``upper`` (interval bounds), ``lower_q``, ``upper_q``
  (their quantile levels, e.g. 0.1 and 0.9), ``model`` (model id or hash);
  key ``(site, target, horizon_steps, ts_ns)``.
* dispatch: ``ts_ns, site, unit, power_mw, reason, agent``; ``power_mw > 0``
  discharges into the grid, ``< 0`` charges; key ``(site, unit, agent, ts_ns)``.
* soc: ``ts_ns, site, unit, soc_frac`` (0..1), ``energy_mwh``; key
  ``(site, unit, ts_ns)``.
* dead letter: ``received_ns, source, payload, reason`` (append-only).
* meta: ``key`` → a JSON value (model path, fleet config, run info, ...).

Writes are idempotent upserts on the key, so replaying a batch after a crash
duplicates nothing. Range reads are half-open: ``since_ns <= ts_ns < until_ns``.

Store URLs for :func:`open_store`:

* ``None``: the default embedded store, ``$VPP_STORE`` if set, else
  ``./vpp-data/store.sqlite`` (see :func:`default_store_url`);
* ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (SQLAlchemy
  style) or a plain path: the embedded SQLite store;
* ``sqlite:///:memory:``: a private in-memory store (tests);
* ``influx://...`` / ``influxdb://...``: an InfluxDB store, provided by the
  module ``vpp.io.store_influx`` (function ``open_store(url)``) once installed.
"""

from __future__ import annotations

import abc
import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd

from vpp.errors import VppError
from vpp.io.telemetry import Telemetry
from vpp.schema import SIGNALS

__all__ = [
    "DEAD_LETTER_COLUMNS",
    "DEFAULT_STORE_PATH",
    "DISPATCH_COLUMNS",
    "FORECAST_COLUMNS",
    "SOC_COLUMNS",
    "TELEMETRY_RECORD_COLUMNS",
    "Records",
    "Store",
    "default_store_url",
    "open_store",
]

#: Columns of telemetry records read back from a store.
TELEMETRY_RECORD_COLUMNS: tuple[str, ...] = ("ts_ns", "site", *SIGNALS)
FORECAST_COLUMNS: tuple[str, ...] = (
    "ts_ns",
    "site",
    "target",
    "horizon_steps",
    "target_ts_ns",
    "point",
    "lower",
    "upper",
    "lower_q",
    "upper_q",
    "model",
)
#: Forecast columns a writer must supply; the others may be absent (NULL).
FORECAST_REQUIRED: tuple[str, ...] = ("ts_ns", "site", "target", "horizon_steps", "point")
DISPATCH_COLUMNS: tuple[str, ...] = ("ts_ns", "site", "unit", "power_mw", "reason", "agent")
DISPATCH_REQUIRED: tuple[str, ...] = ("ts_ns", "site", "unit", "power_mw")
SOC_COLUMNS: tuple[str, ...] = ("ts_ns", "site", "unit", "soc_frac", "energy_mwh")
SOC_REQUIRED: tuple[str, ...] = ("ts_ns", "site", "unit", "soc_frac")
DEAD_LETTER_COLUMNS: tuple[str, ...] = ("received_ns", "source", "payload", "reason")

#: Default embedded store, relative to the working directory.
DEFAULT_STORE_PATH = Path("vpp-data") / "store.sqlite"

#: Records to write: a DataFrame or a mapping of column name → array-like.
Records: TypeAlias = pd.DataFrame | Mapping[str, Any]


class Store(abc.ABC):
    """Where telemetry, forecasts, dispatch, SoC, dead letters and metadata live.

    Implementations are safe to share between threads, and a reader in one
    process sees a writer's committed batches from another process.
    Use as a context manager or call :meth:`close`.
    """

    url: str

    # -- writes -------------------------------------------------------------
    @abc.abstractmethod
    def write_telemetry(self, telemetry: Telemetry) -> int:
        """Upsert telemetry events; returns the number of rows written.

        Only the signals in the batch are written: a row that already exists
        keeps its other signals (NaN in the batch overwrites with missing).
        """

    @abc.abstractmethod
    def write_forecasts(self, records: Records) -> int:
        """Upsert forecast records (see the module doc for columns)."""

    @abc.abstractmethod
    def write_dispatch(self, records: Records) -> int:
        """Upsert dispatch records."""

    @abc.abstractmethod
    def write_soc(self, records: Records) -> int:
        """Upsert state-of-charge records."""

    @abc.abstractmethod
    def write_dead_letter(
        self,
        source: str,
        payload: bytes | str,
        reason: str,
        received_ns: int | None = None,
    ) -> None:
        """Append one rejected input with the reason (``received_ns`` defaults to now)."""

    @abc.abstractmethod
    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` (replacing any old one)."""

    @abc.abstractmethod
    def get_meta(self, key: str, default: Any = None) -> Any:
        """Return the value stored under ``key``, or ``default``."""

    # -- reads --------------------------------------------------------------
    @abc.abstractmethod
    def sites(self) -> list[str]:
        """Return the site ids that have telemetry, sorted."""

    @abc.abstractmethod
    def latest_telemetry(self, site: str | None = None) -> dict[str, dict[str, Any]]:
        """Return the latest telemetry record per site (one site if given).

        Each record is a dict of the telemetry record columns; missing values
        are ``None``. An empty store (or unknown site) gives ``{}``.
        """

    @abc.abstractmethod
    def telemetry_range(
        self,
        site: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        last: int | None = None,
    ) -> pd.DataFrame:
        """Return telemetry records ordered by time, then site.

        Args:
            site: one site, or all sites.
            since_ns: first time included.
            until_ns: first time excluded.
            last: keep only the last ``last`` records of the range.
        """

    @abc.abstractmethod
    def latest_forecast(
        self, site: str, target: str = "net_load_mw", horizon_steps: int | None = None
    ) -> pd.DataFrame:
        """Return the most recently issued forecast rows, ordered by horizon.

        All horizons of the latest issue time, or the latest row for one
        ``horizon_steps``. Empty frame when there is none.
        """

    @abc.abstractmethod
    def forecast_range(
        self,
        site: str | None = None,
        target: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        horizon_steps: int | None = None,
    ) -> pd.DataFrame:
        """Return forecast records issued in the range, ordered by issue time."""

    @abc.abstractmethod
    def dispatch_range(
        self,
        site: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        unit: str | None = None,
        agent: str | None = None,
    ) -> pd.DataFrame:
        """Return dispatch records in the range, ordered by time."""

    @abc.abstractmethod
    def soc_latest(self, site: str | None = None) -> pd.DataFrame:
        """Return the latest SoC record of each (site, unit)."""

    @abc.abstractmethod
    def soc_range(
        self,
        site: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        unit: str | None = None,
    ) -> pd.DataFrame:
        """Return SoC records in the range, ordered by time."""

    @abc.abstractmethod
    def dead_letters(self, limit: int = 100, source: str | None = None) -> list[dict[str, Any]]:
        """Return the most recent dead letters, newest first."""

    @abc.abstractmethod
    def count(self, table: str) -> int:
        """Return the number of records in ``table`` (``telemetry``, ``forecast``,
        ``dispatch``, ``soc`` or ``dead_letter``)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_store_url() -> str:
    """Return ``$VPP_STORE`` if set, else the path ``./vpp-data/store.sqlite``."""
    return os.environ.get("VPP_STORE") or str(DEFAULT_STORE_PATH)


#: URL scheme → "module:function" opening a server store.
_SERVER_SCHEMES = {
    "influx": "vpp.io.store_influx:open_store",
    "influxdb": "vpp.io.store_influx:open_store",
}


def open_store(url: str | os.PathLike[str] | None = None, read_only: bool = False) -> Store:
    """Open (creating if needed) the store at ``url``; see the module doc for URLs.

    Args:
        url: store URL or path; ``None`` means :func:`default_store_url`.
        read_only: open an embedded store for reading only (it must exist).

    Raises:
        VppError: an unknown scheme, a server store whose module is not
            installed, or a read-only store that does not exist.
    """
    text = default_store_url() if url is None else os.fspath(url)
    scheme, sep, _rest = text.partition("://")
    if sep and scheme.lower() in _SERVER_SCHEMES:
        target = _SERVER_SCHEMES[scheme.lower()]
        module_name, _, func = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise VppError(
                f"store URL {text!r}: the {scheme} store is not available "
                f"({module_name} could not be imported: {exc})"
            ) from None
        store: Store = getattr(module, func)(text)
        return store
    if sep and scheme.lower() != "sqlite":
        raise VppError(
            f"unknown store URL scheme {scheme!r} in {text!r}; expected a path, "
            f"sqlite:///PATH or one of {sorted(_SERVER_SCHEMES)}"
        )
    from vpp.io.store_sqlite import SqliteStore

    path = text[len("sqlite:///") :] if sep else text
    if sep and not text.startswith("sqlite:///"):
        raise VppError(f"bad SQLite URL {text!r}; expected sqlite:///PATH")
    return SqliteStore(path, read_only=read_only)
