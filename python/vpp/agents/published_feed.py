"""Published wind and solar forecasts, as a trader may read them: by issue time.

A feed is a table of forecasts, each issued at some time for some valid
hour (for example a transmission operator's day-ahead forecasts, or
:func:`vpp.twin.forecast_feed.published_forecasts`). At time ``now`` a
trader may read, for each hour, the latest forecast issued at or before
``now``; nothing issued later.

Example:
    >>> import numpy as np
    >>> h = 3_600_000_000_000
    >>> feed = PublishedFeed(issued_ns=[0, 0, 2 * h], valid_ns=[5 * h, 6 * h, 5 * h],
    ...                      wind_mw=[10.0, 20.0, 12.0], solar_mw=[0.0, 1.0, 0.5])
    >>> feed.known(1 * h, np.array([5, 6, 7]))[0].tolist()
    [10.0, 20.0, nan]
    >>> feed.known(3 * h, np.array([5, 6]))[0].tolist()
    [12.0, 20.0]
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd

from vpp.errors import InputFormatError, ParameterError

__all__ = ["FEED_COLUMNS", "FeedFile", "PublishedFeed", "read_feed"]

log = logging.getLogger("vpp.agents")

_NS_PER_HOUR = 3_600_000_000_000
#: Columns a feed file must have (``site`` too when it covers several sites).
FEED_COLUMNS: tuple[str, ...] = ("issued_at", "valid_at", "wind_mw", "solar_mw")


def read_feed(path: str) -> pd.DataFrame:
    """Read a feed file (.csv or .parquet) with :data:`FEED_COLUMNS` and
    optionally ``site``, as ``vpp twin --forecasts-out`` writes it.

    Times are ISO 8601 (naive = UTC) or datetimes; powers in MW.

    Raises:
        InputFormatError: An unreadable file, a missing column or a time
            that does not parse, named.
    """
    try:
        df = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputFormatError(f"published forecasts {path!r}: cannot read: {exc}") from exc
    missing = [c for c in FEED_COLUMNS if c not in df.columns]
    if missing:
        raise InputFormatError(
            f"published forecasts {path!r}: missing columns {missing} (has {list(df.columns)})"
        )
    for c in ("issued_at", "valid_at"):
        try:
            df[c] = pd.to_datetime(df[c], utc=True).dt.as_unit("ns")
        except (ValueError, TypeError) as exc:
            raise InputFormatError(f"published forecasts {path!r}: column {c}: {exc}") from exc
    return df


class PublishedFeed:
    """Hourly wind and solar forecasts (MW) with the time each was issued.

    Args:
        issued_ns: (n,) UTC ns at which each forecast was issued.
        valid_ns: (n,) UTC ns of the start of the hour each forecast is for
            (floored to the hour).
        wind_mw: (n,) forecast mean wind output over that hour.
        solar_mw: (n,) forecast mean PV output over that hour.

    Raises:
        ParameterError: Lengths that differ or non-finite forecasts.
    """

    def __init__(
        self,
        issued_ns: npt.ArrayLike,
        valid_ns: npt.ArrayLike,
        wind_mw: npt.ArrayLike,
        solar_mw: npt.ArrayLike,
    ) -> None:
        issued = np.asarray(issued_ns, dtype=np.int64).ravel()
        hour = np.asarray(valid_ns, dtype=np.int64).ravel() // _NS_PER_HOUR
        wind = np.asarray(wind_mw, dtype=np.float64).ravel()
        solar = np.asarray(solar_mw, dtype=np.float64).ravel()
        for name, col in (("valid_ns", hour), ("wind_mw", wind), ("solar_mw", solar)):
            if col.size != issued.size:
                raise ParameterError(
                    f"invalid parameter: {name}: {col.size} values for {issued.size} issue times"
                )
        bad = ~(np.isfinite(wind) & np.isfinite(solar))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ParameterError(
                f"invalid parameter: feed: non-finite forecast at row {i} "
                f"(wind_mw={wind[i]}, solar_mw={solar[i]})"
            )
        # Issues ranked, and rows keyed by (valid hour, issue rank), so the
        # latest issue before a time is one search per hour asked.
        self._issues = np.unique(issued)
        rank = np.searchsorted(self._issues, issued)
        key = hour * self._issues.size + rank
        order = np.argsort(key, kind="stable")
        self._key, self._hour = key[order], hour[order]
        self._wind, self._solar = wind[order], solar[order]

    @classmethod
    def from_frame(cls, df: pd.DataFrame, sites: list[str] | None = None) -> PublishedFeed:
        """A feed from a table with ``issued_at``, ``valid_at``, ``wind_mw``,
        ``solar_mw`` and optionally ``site``; the rows of ``sites`` (all when
        None) are summed per issue and hour, as a fleet-wide forecaster reads
        fleet totals.

        Raises:
            ParameterError: A column missing or a site asked for but absent.
        """
        df = cls.rows_of(df, sites)
        issued, valid = (
            pd.to_datetime(df[c], utc=True).dt.as_unit("ns").astype("int64").to_numpy()
            for c in ("issued_at", "valid_at")
        )
        totals = (
            pd.DataFrame({"i": issued, "v": valid // _NS_PER_HOUR * _NS_PER_HOUR,
                          "w": df["wind_mw"].to_numpy(float), "s": df["solar_mw"].to_numpy(float)})
            .groupby(["i", "v"], sort=True)[["w", "s"]].sum()
        )  # fmt: skip
        idx = totals.index
        return cls(idx.get_level_values(0), idx.get_level_values(1), totals["w"], totals["s"])

    @staticmethod
    def rows_of(df: pd.DataFrame, sites: list[str] | None = None) -> pd.DataFrame:
        """The rows of ``sites`` (all when None or without a ``site`` column).

        Raises:
            ParameterError: A column missing or a site asked for but absent.
        """
        missing = [c for c in FEED_COLUMNS if c not in df.columns]
        if missing:
            raise ParameterError(f"invalid parameter: feed: missing columns {missing}")
        if sites is None or "site" not in df.columns:
            return df
        names = df["site"].astype(str)
        absent = sorted(set(sites) - set(names))
        if absent:
            raise ParameterError(f"invalid parameter: feed: no forecasts for sites {absent}")
        return df[names.isin(sites)]

    @classmethod
    def per_site(cls, df: pd.DataFrame, sites: list[str]) -> dict[str, PublishedFeed]:
        """One feed per site of ``sites``, splitting the table once.

        Raises:
            ParameterError: A column missing or a site absent.
        """
        df = cls.rows_of(df, sites)
        if "site" not in df.columns:
            return {s: cls.from_frame(df) for s in sites}
        groups = dict(iter(df.groupby(df["site"].astype(str), sort=False)))
        return {s: cls.from_frame(groups[s]) for s in sites}

    def __len__(self) -> int:
        return int(self._key.size)

    def known(self, now_ns: npt.ArrayLike, hours: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Wind and solar forecasts of absolute UTC ``hours`` (since 1970) as
        known at ``now_ns`` (broadcast against ``hours``): the latest issued
        at or before it; NaN where none was."""
        h = np.asarray(hours, dtype=np.int64)
        now = np.broadcast_to(np.asarray(now_ns, dtype=np.int64), h.shape)
        wind, solar = np.full(h.shape, np.nan), np.full(h.shape, np.nan)
        if self._key.size == 0:
            return wind, solar
        last_issue = np.searchsorted(self._issues, now, side="right") - 1
        pos = np.searchsorted(self._key, h * self._issues.size + last_issue, side="right") - 1
        ok = (last_issue >= 0) & (pos >= 0)
        ok[ok] &= self._hour[pos[ok]] == h[ok]
        wind[ok], solar[ok] = self._wind[pos[ok]], self._solar[pos[ok]]
        return wind, solar


class FeedFile:
    """A feed file a long-running service re-reads when it changes.

    Operators refresh the file as new forecasts are published (daily for
    day-ahead ones); :meth:`current` looks at its modification time and size
    at most every ``check_s`` seconds and reads it again when they changed.
    A new version that cannot be read is logged and counted (``errors``) and
    the previous table stays in use: bad input does not stop the service.

    Args:
        path: The .csv or .parquet file (see :func:`read_feed`).
        check_s: Seconds between looks at the file.
        clock: Monotonic seconds (a parameter so tests can step it).

    Raises:
        InputFormatError: The file cannot be read at start.
    """

    def __init__(
        self, path: str, check_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = str(path)
        self.check_s = float(check_s)
        self._clock = clock
        self._stamp = self._stat()
        self.table = read_feed(self.path)
        self.reloads = 0
        self.errors = 0
        self._next = clock() + self.check_s

    def _stat(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size

    def current(self) -> pd.DataFrame:
        """The latest table read (re-read first if due and the file changed)."""
        now = self._clock()
        if now < self._next:
            return self.table
        self._next = now + self.check_s
        try:
            stamp = self._stat()
            if stamp != self._stamp:
                self.table = read_feed(self.path)
                self._stamp = stamp
                self.reloads += 1
                log.info("published forecasts: read %s again (%d rows)", self.path, len(self.table))
        except (OSError, InputFormatError) as exc:
            self.errors += 1
            log.warning("published forecasts: kept the previous table: %s", exc)
        return self.table
