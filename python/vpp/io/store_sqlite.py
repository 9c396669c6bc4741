"""The embedded store: SQLite in one file, WAL mode.

WAL lets the MCP server (or a report) read while ``vpp run`` writes: readers
see the last committed batch and never block the writer; writers wait up to
``busy_timeout`` for each other. Each batch is one transaction of
``executemany`` upserts, so a batch is either wholly visible or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vpp.errors import VppError
from vpp.io.records import column_values, normalise_records, records_frame
from vpp.io.store import (
    DISPATCH_COLUMNS,
    DISPATCH_REQUIRED,
    FORECAST_COLUMNS,
    FORECAST_REQUIRED,
    SOC_COLUMNS,
    SOC_REQUIRED,
    TELEMETRY_RECORD_COLUMNS,
    Records,
    Store,
)
from vpp.io.telemetry import Telemetry
from vpp.schema import SIGNALS

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

SCHEMA_VERSION = 1
_BUSY_TIMEOUT_MS = 30_000

_SIGNAL_COLS = ", ".join(f"{s} REAL" for s in SIGNALS)
# WITHOUT ROWID: the primary key is the clustered index, so a site's range is
# contiguous on disk and the latest row is one B-tree descent away.
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS telemetry (
    site TEXT NOT NULL, ts_ns INTEGER NOT NULL, {_SIGNAL_COLS},
    PRIMARY KEY (site, ts_ns)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS telemetry_by_time ON telemetry (ts_ns);
CREATE TABLE IF NOT EXISTS telemetry_sites (
    site TEXT PRIMARY KEY, first_ts_ns INTEGER NOT NULL, last_ts_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS forecast (
    site TEXT NOT NULL, target TEXT NOT NULL, horizon_steps INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL, target_ts_ns INTEGER, point REAL, lower REAL, upper REAL,
    lower_q REAL, upper_q REAL, model TEXT,
    PRIMARY KEY (site, target, horizon_steps, ts_ns)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS forecast_by_issue ON forecast (site, target, ts_ns);
CREATE TABLE IF NOT EXISTS dispatch (
    site TEXT NOT NULL, unit TEXT NOT NULL, agent TEXT NOT NULL, ts_ns INTEGER NOT NULL,
    power_mw REAL, reason TEXT,
    PRIMARY KEY (site, unit, agent, ts_ns)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dispatch_by_time ON dispatch (site, ts_ns);
CREATE TABLE IF NOT EXISTS soc (
    site TEXT NOT NULL, unit TEXT NOT NULL, ts_ns INTEGER NOT NULL,
    soc_frac REAL, energy_mwh REAL,
    PRIMARY KEY (site, unit, ts_ns)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS soc_units (
    site TEXT NOT NULL, unit TEXT NOT NULL, last_ts_ns INTEGER NOT NULL,
    PRIMARY KEY (site, unit)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_ns INTEGER NOT NULL,
    source TEXT, payload BLOB, reason TEXT);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_TABLES = ("telemetry", "forecast", "dispatch", "soc", "dead_letter")


class SqliteStore(Store):
    """The embedded store in one SQLite file (see :mod:`vpp.io.store`).

    Args:
        path: database file (created with its parent folder) or ``":memory:"``.
        read_only: open an existing file for reading only.

    Raises:
        VppError: the file is missing (read-only), is not a vpp store, or was
            written by a newer vpp.
    """

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self.read_only = read_only
        self._lock = threading.RLock()
        try:
            self._conn = self._connect()
            have = {r[1] for r in self._conn.execute("PRAGMA table_info(telemetry)")}
        except sqlite3.Error as exc:
            raise VppError(f"cannot open store {self.path}: {exc}") from None
        # A store written before a signal existed (opened read-only, so not
        # migrated) reads it as missing.
        self._telemetry_exprs = [
            c if c in have else f"NULL AS {c}" for c in TELEMETRY_RECORD_COLUMNS
        ]

    def _connect(self) -> sqlite3.Connection:
        memory = self.path == ":memory:"
        if self.read_only:
            if memory or not Path(self.path).is_file():
                raise VppError(f"store not found: {self.path}")
            uri = f"{Path(self.path).resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        else:
            if not memory:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        if not self.read_only:
            if not memory:
                conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable against application crashes in WAL mode; only a
            # power cut can lose the last commits, which a replay restores.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
            # Signals added since the store was created become new columns.
            have = {r[1] for r in conn.execute("PRAGMA table_info(telemetry)")}
            for s in SIGNALS:
                if s not in have:
                    conn.execute(f"ALTER TABLE telemetry ADD COLUMN {s} REAL")
            with _transaction(conn):
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('vpp.schema_version', ?)",
                    (json.dumps(SCHEMA_VERSION),),
                )
        row = _fetch_one_or_none(conn, "SELECT value FROM meta WHERE key='vpp.schema_version'")
        if row is None:
            raise VppError(f"{self.path} is not a vpp store (no schema version)")
        if json.loads(row[0]) > SCHEMA_VERSION:
            raise VppError(
                f"store {self.path} has schema version {row[0]}, newer than this vpp "
                f"understands ({SCHEMA_VERSION}); upgrade vpp"
            )
        return conn

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- writes -------------------------------------------------------------
    def write_telemetry(self, telemetry: Telemetry) -> int:
        n = len(telemetry)
        if n == 0:
            return 0
        values = np.where(np.isfinite(telemetry.values), telemetry.values, np.nan)
        cols = telemetry.signals
        rows = list(
            zip(
                [str(s) for s in telemetry.sites.tolist()],
                telemetry.ts_ns.tolist(),
                *values.T.tolist(),
                strict=True,
            )
        )
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols)
        sql = (
            f"INSERT INTO telemetry (site, ts_ns, {', '.join(cols)}) "
            f"VALUES ({', '.join('?' * (len(cols) + 2))}) "
            f"ON CONFLICT (site, ts_ns) DO UPDATE SET {updates}"
        )
        span = (
            pd.DataFrame({"site": telemetry.sites, "ts": telemetry.ts_ns})
            .groupby("site", sort=False)["ts"]
            .agg(["min", "max"])
        )
        site_rows = [
            (str(s), int(lo), int(hi))
            for s, lo, hi in zip(span.index, span["min"], span["max"], strict=True)
        ]
        with self._lock, _transaction(self._conn):
            self._conn.executemany(sql, rows)
            self._conn.executemany(
                "INSERT INTO telemetry_sites (site, first_ts_ns, last_ts_ns) VALUES (?, ?, ?) "
                "ON CONFLICT (site) DO UPDATE SET "
                "first_ts_ns = min(first_ts_ns, excluded.first_ts_ns), "
                "last_ts_ns = max(last_ts_ns, excluded.last_ts_ns)",
                site_rows,
            )
        return n

    def write_forecasts(self, records: Records) -> int:
        return self._upsert("forecast", records, FORECAST_COLUMNS, FORECAST_REQUIRED)

    def write_dispatch(self, records: Records) -> int:
        return self._upsert("dispatch", records, DISPATCH_COLUMNS, DISPATCH_REQUIRED)

    def write_soc(self, records: Records) -> int:
        df = normalise_records(records, "soc", SOC_COLUMNS, SOC_REQUIRED)
        last = (
            pd.DataFrame(
                {
                    "site": df["site"].astype(str),
                    "unit": df["unit"].astype(str),
                    "ts": df["ts_ns"].to_numpy(dtype=np.int64),
                }
            )
            .groupby(["site", "unit"], sort=False)["ts"]
            .max()
        )
        rows = [(str(s), str(u), int(t)) for (s, u), t in last.items()]

        def track_latest(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO soc_units (site, unit, last_ts_ns) VALUES (?, ?, ?) "
                "ON CONFLICT (site, unit) DO UPDATE SET "
                "last_ts_ns = max(last_ts_ns, excluded.last_ts_ns)",
                rows,
            )

        return self._upsert("soc", df, SOC_COLUMNS, SOC_REQUIRED, track_latest)

    def write_dead_letter(
        self,
        source: str,
        payload: bytes | str,
        reason: str,
        received_ns: int | None = None,
    ) -> None:
        ts = time.time_ns() if received_ns is None else int(received_ns)
        blob = bytes(payload) if isinstance(payload, bytes | bytearray | memoryview) else payload
        with self._lock, _transaction(self._conn):
            self._conn.execute(
                "INSERT INTO dead_letter (received_ns, source, payload, reason) VALUES (?,?,?,?)",
                (ts, str(source), blob, str(reason)),
            )

    def set_meta(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        with self._lock, _transaction(self._conn):
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(key), text),
            )

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._one("SELECT value FROM meta WHERE key = ?", (str(key),))
        return default if row is None else json.loads(row[0])

    def _upsert(
        self,
        table: str,
        records: Records,
        columns: Sequence[str],
        required: Sequence[str],
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> int:
        """INSERT OR REPLACE the records; ``also`` runs in the same transaction."""
        df = normalise_records(records, table, columns, required)
        if len(df) == 0:
            return 0
        cols = [c for c in columns if c in df.columns or c == "agent"]
        lists = [column_values(df, c, table) for c in cols]
        rows = list(zip(*lists, strict=True))
        marks = ", ".join("?" * len(cols))
        sql = f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({marks})"
        with self._lock, _transaction(self._conn):
            self._conn.executemany(sql, rows)
            if also is not None:
                also(self._conn)
        return len(rows)

    # -- reads --------------------------------------------------------------
    def sites(self) -> list[str]:
        return [r[0] for r in self._all("SELECT site FROM telemetry_sites ORDER BY site")]

    def latest_telemetry(self, site: str | None = None) -> dict[str, dict[str, Any]]:
        cols = ", ".join(e if " AS " in e else f"t.{e}" for e in self._telemetry_exprs)
        sql = (
            f"SELECT {cols} FROM telemetry_sites s JOIN telemetry t "
            "ON t.site = s.site AND t.ts_ns = s.last_ts_ns"
        )
        params: tuple[Any, ...] = ()
        if site is not None:
            sql += " WHERE s.site = ?"
            params = (site,)
        rows = self._all(sql + " ORDER BY s.site", params)
        return {r[1]: dict(zip(TELEMETRY_RECORD_COLUMNS, r, strict=True)) for r in rows}

    def telemetry_range(
        self,
        site: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        last: int | None = None,
    ) -> pd.DataFrame:
        where, params = _where(site=site, since_ns=since_ns, until_ns=until_ns)
        return self._select(
            "telemetry",
            TELEMETRY_RECORD_COLUMNS,
            where,
            params,
            ("ts_ns", "site"),
            last,
            exprs=self._telemetry_exprs,
        )

    def latest_forecast(
        self, site: str, target: str = "net_load_mw", horizon_steps: int | None = None
    ) -> pd.DataFrame:
        where, params = _where(site=site, target=target, horizon_steps=horizon_steps)
        issue = self._one(f"SELECT max(ts_ns) FROM forecast{where}", params)
        if issue is None or issue[0] is None:
            return records_frame([], FORECAST_COLUMNS)
        where, params = _where(
            site=site, target=target, horizon_steps=horizon_steps, ts_eq=int(issue[0])
        )
        return self._select("forecast", FORECAST_COLUMNS, where, params, ("horizon_steps",))

    def forecast_range(
        self,
        site: str | None = None,
        target: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        horizon_steps: int | None = None,
    ) -> pd.DataFrame:
        where, params = _where(
            site=site,
            target=target,
            horizon_steps=horizon_steps,
            since_ns=since_ns,
            until_ns=until_ns,
        )
        order = ("ts_ns", "site", "target", "horizon_steps")
        return self._select("forecast", FORECAST_COLUMNS, where, params, order)

    def dispatch_range(
        self,
        site: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        unit: str | None = None,
        agent: str | None = None,
    ) -> pd.DataFrame:
        where, params = _where(
            site=site, unit=unit, agent=agent, since_ns=since_ns, until_ns=until_ns
        )
        order = ("ts_ns", "site", "unit", "agent")
        return self._select("dispatch", DISPATCH_COLUMNS, where, params, order)

    def soc_latest(self, site: str | None = None) -> pd.DataFrame:
        cols = ", ".join(f"s.{c}" for c in SOC_COLUMNS)
        sql = (
            f"SELECT {cols} FROM soc_units u JOIN soc s "
            "ON s.site = u.site AND s.unit = u.unit AND s.ts_ns = u.last_ts_ns"
        )
        params: tuple[Any, ...] = ()
        if site is not None:
            sql += " WHERE u.site = ?"
            params = (site,)
        return records_frame(self._all(sql + " ORDER BY u.site, u.unit", params), SOC_COLUMNS)

    def soc_range(
        self,
        site: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        unit: str | None = None,
    ) -> pd.DataFrame:
        where, params = _where(site=site, unit=unit, since_ns=since_ns, until_ns=until_ns)
        return self._select("soc", SOC_COLUMNS, where, params, ("ts_ns", "site", "unit"))

    def dead_letters(self, limit: int = 100, source: str | None = None) -> list[dict[str, Any]]:
        where, params = _where(source=source)
        rows = self._all(
            f"SELECT id, received_ns, source, payload, reason FROM dead_letter{where} "
            "ORDER BY id DESC LIMIT ?",
            (*params, int(limit)),
        )
        keys = ("id", "received_ns", "source", "payload", "reason")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def count(self, table: str) -> int:
        if table not in _TABLES:
            raise VppError(f"unknown table {table!r}; expected one of {list(_TABLES)}")
        row = self._one(f"SELECT count(*) FROM {table}")
        return int(row[0]) if row else 0

    # -- helpers ------------------------------------------------------------
    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._conn.execute(sql, tuple(params)).fetchone()
            return row

    def _select(
        self,
        table: str,
        columns: Sequence[str],
        where: str,
        params: Sequence[Any],
        order: Sequence[str],
        last: int | None = None,
        exprs: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        cols = ", ".join(exprs or columns)
        asc = ", ".join(order)
        if last is None:
            rows = self._all(f"SELECT {cols} FROM {table}{where} ORDER BY {asc}", params)
        else:
            desc = ", ".join(f"{c} DESC" for c in order)
            sql = f"SELECT {cols} FROM {table}{where} ORDER BY {desc} LIMIT ?"
            rows = self._all(sql, (*params, int(last)))[::-1]
        return records_frame(rows, columns)


class _transaction:
    """BEGIN IMMEDIATE … COMMIT, rolling back on error.

    IMMEDIATE takes the write lock up front, so two writers queue on
    busy_timeout instead of failing when a read lock cannot be upgraded.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def _fetch_one_or_none(conn: sqlite3.Connection, sql: str) -> tuple[Any, ...] | None:
    try:
        row: tuple[Any, ...] | None = conn.execute(sql).fetchone()
        return row
    except sqlite3.OperationalError:
        return None


def _where(
    since_ns: int | None = None,
    until_ns: int | None = None,
    ts_eq: int | None = None,
    **equal: Any,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for col, val in equal.items():
        if val is not None:
            clauses.append(f"{col} = ?")
            params.append(val)
    if since_ns is not None:
        clauses.append("ts_ns >= ?")
        params.append(int(since_ns))
    if until_ns is not None:
        clauses.append("ts_ns < ?")
        params.append(int(until_ns))
    if ts_eq is not None:
        clauses.append("ts_ns = ?")
        params.append(int(ts_eq))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
