"""The server store: InfluxDB through its v2 write API and InfluxQL reads.

Works with InfluxDB 1.8+ (``/api/v2/write`` with bucket ``db/retention``, org
``-``, token ``user:password``; reads on ``/query``). Records map to points as
:mod:`vpp.io.influx_lines` describes: the key columns are tags and the record
time is the point time, so rewriting a record overwrites it.

Writes are synchronous: when a ``write_*`` call returns, InfluxDB has
acknowledged every point (``vpp consume`` commits Kafka offsets only then).
A failed write raises :class:`InfluxWriteError`, whose ``retryable`` says
whether trying again can help (server down, 5xx) or not (4xx: bad data).

URL form for :func:`vpp.io.open_store`::

    influx://[USER:PASSWORD@]HOST:PORT/DATABASE[?rp=autogen&org=-&tls=0]

Example:
    >>> store = InfluxStore.from_url("influx://vpp:vpp@127.0.0.1:18086/vpp")
    >>> store.bucket, store.base_url
    ('vpp/autogen', 'http://127.0.0.1:18086')
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from vpp.errors import VppError
from vpp.io import influx_lines as lp
from vpp.io.records import records_frame
from vpp.io.store import (
    DISPATCH_COLUMNS,
    FORECAST_COLUMNS,
    SOC_COLUMNS,
    TELEMETRY_RECORD_COLUMNS,
    Records,
    Store,
)
from vpp.io.telemetry import Telemetry

__all__ = ["InfluxStore", "InfluxWriteError", "open_store"]

#: Points per HTTP write request (InfluxDB's own guidance is 5,000-10,000).
WRITE_CHUNK_POINTS = 5000
_META = "vpp_meta"
_DEAD = "dead_letter"


class InfluxWriteError(VppError):
    """A write InfluxDB did not acknowledge.

    Attributes:
        retryable: True when the server was unreachable or answered 5xx/429.
    """

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class InfluxStore(Store):
    """Store records in InfluxDB (see the module doc).

    Args:
        url: base URL, e.g. ``http://127.0.0.1:18086``.
        token: ``user:password`` on InfluxDB 1.8 (any value while auth is off).
        org: ``"-"`` on 1.8.
        bucket: ``"database/retention_policy"`` on 1.8.
        timeout_s: per-request timeout.
    """

    def __init__(
        self,
        url: str,
        token: str = "vpp:vpp",
        org: str = "-",
        bucket: str = "vpp/autogen",
        timeout_s: float = 30.0,
    ) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.base_url = url.rstrip("/")
        self.token = token
        self.org = org
        self.bucket = bucket
        self.db, _, rp = bucket.partition("/")
        self.rp = rp or "autogen"
        self.url = f"influx://{urllib.parse.urlsplit(self.base_url).netloc}/{self.db}"
        self.timeout_s = timeout_s
        # retries=False: a failure surfaces at once and the caller decides how
        # to back off (vpp consume blocks its batch and retries).
        self._client = InfluxDBClient(
            url=self.base_url, token=token, org=org, timeout=int(timeout_s * 1000), retries=False
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> InfluxStore:
        """Open ``influx://[USER:PASSWORD@]HOST:PORT/DATABASE[?rp=&org=&tls=]``.

        Raises:
            VppError: the URL has no host or database.
        """
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        db = parts.path.strip("/")
        if not parts.hostname or not db:
            raise VppError(f"bad InfluxDB store URL {url!r}; expected influx://HOST:PORT/DATABASE")
        scheme = "https" if query.get("tls", "0") in ("1", "true") else "http"
        port = f":{parts.port}" if parts.port else ""
        token = (
            f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            if parts.username
            else query.get("token", "vpp:vpp")
        )
        return cls(
            f"{scheme}://{parts.hostname}{port}",
            token=token,
            org=query.get("org", "-"),
            bucket=f"{db}/{query.get('rp', 'autogen')}",
        )

    def __repr__(self) -> str:
        return f"InfluxStore({self.base_url!r}, bucket={self.bucket!r})"

    # -- writes -------------------------------------------------------------
    def write_lines(self, lines: Sequence[str]) -> int:
        """Write line-protocol points synchronously, in chunks; returns the count.

        Raises:
            InfluxWriteError: a chunk was not acknowledged (earlier chunks were).
        """
        from influxdb_client.client.exceptions import InfluxDBError
        from influxdb_client.domain.write_precision import WritePrecision

        for start in range(0, len(lines), WRITE_CHUNK_POINTS):
            body = "\n".join(lines[start : start + WRITE_CHUNK_POINTS])
            try:
                with self._lock:
                    self._write_api.write(
                        self.bucket,
                        self.org,
                        body.encode(),
                        write_precision=WritePrecision.NS,  # type: ignore[arg-type]
                    )
            except InfluxDBError as exc:
                status = getattr(getattr(exc, "response", None), "status", None) or getattr(
                    exc, "status", None
                )
                retryable = status is None or int(status) >= 500 or int(status) == 429
                raise InfluxWriteError(
                    f"InfluxDB {self.base_url} rejected a write (HTTP {status}): {exc}", retryable
                ) from None
            except OSError as exc:  # urllib3 connection errors derive from OSError
                raise InfluxWriteError(
                    f"InfluxDB {self.base_url} unreachable: {exc}", retryable=True
                ) from None
            except Exception as exc:
                # urllib3's MaxRetryError/ProtocolError are not OSError subclasses.
                if type(exc).__module__.startswith("urllib3"):
                    raise InfluxWriteError(
                        f"InfluxDB {self.base_url} unreachable: {exc}", retryable=True
                    ) from None
                raise
        return len(lines)

    def write_telemetry(self, telemetry: Telemetry) -> int:
        self.write_lines(lp.telemetry_lines(telemetry))
        return len(telemetry)

    def write_forecasts(self, records: Records) -> int:
        self.write_lines(lines := lp.forecast_lines(records))
        return len(lines)

    def write_dispatch(self, records: Records) -> int:
        self.write_lines(lines := lp.dispatch_lines(records))
        return len(lines)

    def write_soc(self, records: Records) -> int:
        self.write_lines(lines := lp.soc_lines(records))
        return len(lines)

    def write_dead_letter(
        self,
        source: str,
        payload: bytes | str,
        reason: str,
        received_ns: int | None = None,
    ) -> None:
        self.write_dead_letters([(source, payload, reason, received_ns)])

    def write_dead_letters(
        self, letters: Sequence[tuple[str, bytes | str, str, int | None]]
    ) -> int:
        """Write many ``(source, payload, reason, received_ns)`` dead letters in one request."""
        lines = []
        for source, payload, reason, received_ns in letters:
            # Bytes go base64-encoded (a string field cannot hold any bytes).
            body = (
                f"payload_b64={lp.field_string(base64.b64encode(payload).decode())}"
                if isinstance(payload, bytes)
                else f"payload={lp.field_string(payload)}"
            )
            ts = time.time_ns() if received_ns is None else int(received_ns)
            lines.append(
                f"{_DEAD},source={lp.escape_tag(source or '-')} "
                f"{body},reason={lp.field_string(reason)} {ts}"
            )
        return self.write_lines(lines)

    def set_meta(self, key: str, value: Any) -> None:
        doc = json.dumps(value, default=str)
        self.write_lines([f"{_META},key={lp.escape_tag(key)} value={lp.field_string(doc)} 0"])

    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = self._rows(f'SELECT "value" FROM {_META} WHERE "key" = {_lit(key)}')
        return json.loads(rows[-1]["value"]) if rows else default

    # -- reads --------------------------------------------------------------
    def query(self, influxql: str) -> list[dict[str, Any]]:
        """Run InfluxQL on ``/query``; returns the ``series`` of the first result.

        Raises:
            VppError: HTTP failure or an error in the answer.
        """
        params = {"db": self.db, "rp": self.rp, "q": influxql, "epoch": "ns"}
        req = urllib.request.Request(f"{self.base_url}/query?{urllib.parse.urlencode(params)}")
        if self.token.partition(":")[0]:
            req.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                body = json.load(resp)
        except (urllib.error.URLError, OSError) as exc:
            raise VppError(f"InfluxQL {influxql!r} on {self.base_url} failed: {exc}") from None
        results = body.get("results") or [{}]
        err = body.get("error") or results[0].get("error")
        if err:
            raise VppError(f"InfluxQL {influxql!r} failed: {err}")
        series: list[dict[str, Any]] = results[0].get("series", [])
        return series

    def _rows(self, influxql: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for s in self.query(influxql):
            tags = s.get("tags", {})
            for vals in s.get("values", []):
                out.append({**tags, **dict(zip(s["columns"], vals, strict=True))})
        return out

    def _frame(self, influxql: str, columns: Sequence[str]) -> pd.DataFrame:
        rows = self._rows(influxql)
        recs = []
        for r in rows:
            r["ts_ns"] = r.pop("time")
            if "horizon_steps" in r and r["horizon_steps"] is not None:
                r["horizon_steps"] = int(r["horizon_steps"])
            if "agent" in columns and r.get("agent") is None:
                r["agent"] = ""
            recs.append(tuple(r.get(c) for c in columns))
        df = records_frame(recs, columns)
        return df.sort_values(["ts_ns", *(["site"] if "site" in columns else [])], kind="stable")

    def sites(self) -> list[str]:
        rows = self._rows('SHOW TAG VALUES FROM telemetry WITH KEY = "site"')
        return sorted(str(r["value"]) for r in rows)

    def latest_telemetry(self, site: str | None = None) -> dict[str, dict[str, Any]]:
        q = f"SELECT * FROM telemetry{_where(site=site)} GROUP BY site ORDER BY time DESC LIMIT 1"
        df = self._frame(q, TELEMETRY_RECORD_COLUMNS)
        out: dict[str, dict[str, Any]] = {}
        for rec in df.to_dict("records"):
            out[str(rec["site"])] = {k: _py(v) for k, v in rec.items()}
        return out

    def telemetry_range(
        self,
        site: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        last: int | None = None,
    ) -> pd.DataFrame:
        q = f"SELECT * FROM telemetry{_where(since_ns, until_ns, site=site)}"
        df = self._frame(q, TELEMETRY_RECORD_COLUMNS).reset_index(drop=True)
        return df.tail(last).reset_index(drop=True) if last is not None else df

    def latest_forecast(
        self, site: str, target: str = "net_load_mw", horizon_steps: int | None = None
    ) -> pd.DataFrame:
        where = _where(site=site, target=target, horizon_steps=horizon_steps)
        last = self._rows(f"SELECT last(point) FROM forecast{where}")
        if not last:
            return self._frame(
                "SELECT * FROM forecast WHERE time < 0 AND time > 0", FORECAST_COLUMNS
            )
        t = int(last[0]["time"])
        df = self._frame(f"SELECT * FROM forecast{where} AND time = {t}", FORECAST_COLUMNS)
        return df.sort_values("horizon_steps").reset_index(drop=True)

    def forecast_range(
        self,
        site: str | None = None,
        target: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        horizon_steps: int | None = None,
    ) -> pd.DataFrame:
        where = _where(since_ns, until_ns, site=site, target=target, horizon_steps=horizon_steps)
        return self._frame(f"SELECT * FROM forecast{where}", FORECAST_COLUMNS).reset_index(
            drop=True
        )

    def dispatch_range(
        self,
        site: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        unit: str | None = None,
        agent: str | None = None,
    ) -> pd.DataFrame:
        where = _where(since_ns, until_ns, site=site, unit=unit, agent=agent)
        return self._frame(f"SELECT * FROM dispatch{where}", DISPATCH_COLUMNS).reset_index(
            drop=True
        )

    def soc_latest(self, site: str | None = None) -> pd.DataFrame:
        q = f"SELECT * FROM soc{_where(site=site)} GROUP BY site, unit ORDER BY time DESC LIMIT 1"
        df = self._frame(q, SOC_COLUMNS)
        return df.sort_values(["site", "unit"], kind="stable").reset_index(drop=True)

    def soc_range(
        self,
        site: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        unit: str | None = None,
    ) -> pd.DataFrame:
        where = _where(since_ns, until_ns, site=site, unit=unit)
        return self._frame(f"SELECT * FROM soc{where}", SOC_COLUMNS).reset_index(drop=True)

    def dead_letters(self, limit: int = 100, source: str | None = None) -> list[dict[str, Any]]:
        q = f"SELECT * FROM {_DEAD}{_where(source=source)} ORDER BY time DESC LIMIT {int(limit)}"
        return [
            {
                "received_ns": int(r["time"]),
                "source": r.get("source"),
                "payload": (
                    base64.b64decode(r["payload_b64"])
                    if r.get("payload_b64") is not None
                    else r.get("payload")
                ),
                "reason": r.get("reason"),
            }
            for r in self._rows(q)
        ]

    def count(self, table: str) -> int:
        measurement = {"dead_letter": _DEAD}.get(table, table)
        if measurement not in ("telemetry", "forecast", "dispatch", "soc", _DEAD):
            raise VppError(f"unknown table {table!r}")
        if measurement == "telemetry":  # every telemetry point has the event field
            rows = self._rows("SELECT count(event) FROM telemetry")
            return int(rows[0]["count"]) if rows else 0
        rows = self._rows(f"SELECT count(*) FROM {measurement}")
        # count(*) counts each field; the other measurements have a field on
        # every point (point, power_mw, soc_frac, reason), so the largest count
        # is the number of points.
        counts = [int(v) for r in rows for k, v in r.items() if k.startswith("count_")]
        return max(counts, default=0)

    def close(self) -> None:
        self._write_api.close()
        self._client.close()


def open_store(url: str) -> InfluxStore:
    """Entry point for :func:`vpp.io.open_store` (``influx://`` URLs)."""
    return InfluxStore.from_url(url)


def _lit(value: object) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _where(since_ns: int | None = None, until_ns: int | None = None, **tags: object) -> str:
    conds = [f'"{k}" = {_lit(v)}' for k, v in tags.items() if v is not None]
    if since_ns is not None:
        conds.append(f"time >= {int(since_ns)}")
    if until_ns is not None:
        conds.append(f"time < {int(until_ns)}")
    # InfluxQL needs a WHERE for the "AND time = t" that latest_forecast appends.
    return " WHERE " + " AND ".join(conds) if conds else " WHERE time > -9223372036854775806"


def _py(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if np.isnan(v) else float(v)
    if isinstance(v, float) and np.isnan(v):
        return None
    return v
