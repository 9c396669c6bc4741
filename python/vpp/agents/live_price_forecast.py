"""The fundamental price forecaster on a stream: events in, one forecast at
the first event of every hour out, as the backtest computes them.

:class:`~vpp.agents.fundamental_forecast.FundamentalPriceForecaster` forecasts
a whole series at once (backtests). A live trader gets its events in batches
of any size, so :class:`LivePriceForecaster` keeps the hourly means, the
first event of every hour and the events the price curve learns from, and
runs the same hourly step (``hour_forecast``) when an hour begins: fed the
same events in any batching it gives the batch forecaster's rows (up to the
rounding of hourly means summed in pieces). It keeps only the hours the
step reads (:data:`~vpp.agents.fundamental_forecast.LOOKBACK_H`) and
``max_history_days`` of events, so its state is bounded (0.8 MB per forecaster at
1-minute resolution), and goes into a snapshot, so a restarted service
forecasts on as if it had not stopped.

Example:
    >>> import numpy as np
    >>> from vpp.twin import generate
    >>> df = generate(days=9, resolution="1h", sites=1, seed=2)
    >>> ts = df["timestamp"].astype("int64").to_numpy()
    >>> sig = {c: df[c].to_numpy() for c in ("load_mw", "solar_mw", "wind_mw")}
    >>> live = LivePriceForecaster(warmup_days=7)
    >>> got = live.update(ts, df["price_per_mwh"].to_numpy(), sig)
    >>> got[0].index, got[0].prices.shape    # first forecast: the hour after the warm-up
    (168, (48,))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vpp import npz_state
from vpp.agents.fundamental_forecast import (
    LOOKBACK_H,
    Carry,
    FundamentalPriceForecaster,
    Hours,
    checked_signals,
)
from vpp.agents.hour_profiles import clear_sky
from vpp.agents.price_curve import PriceCurve, curve_features
from vpp.agents.published_feed import PublishedFeed
from vpp.errors import ParameterError, SnapshotError

__all__ = ["HourForecast", "LivePriceForecaster"]

_NS_PER_HOUR = 3_600_000_000_000
_SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class HourForecast:
    """A forecast made at the first event of an hour.

    Attributes:
        index: Position of that event in the ``update`` call's input.
        ts_ns: Its timestamp (UTC ns).
        prices: Forecast of the mean price (per MWh) of this hour and the
            next ``horizon_h - 1``.
    """

    index: int
    ts_ns: int
    prices: np.ndarray


class _Rows:
    """An array that grows along its first axis (amortised doubling)."""

    def __init__(self, width: tuple[int, ...], dtype: Any = np.float64) -> None:
        self.buf = np.empty((64, *width), dtype=dtype)
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        need = self.n + len(rows)
        if need > len(self.buf):
            grown = np.empty((max(need, 2 * len(self.buf)), *self.buf.shape[1:]), self.buf.dtype)
            grown[: self.n] = self.buf[: self.n]
            self.buf = grown
        self.buf[self.n : need] = rows
        self.n = need

    def drop_front(self, k: int) -> None:
        self.buf[: self.n - k] = self.buf[k : self.n].copy()
        self.n -= k

    @property
    def view(self) -> np.ndarray:
        return self.buf[: self.n]


class LivePriceForecaster:
    """Hourly fundamental price forecasts from a stream of one site's events.

    Args:
        max_history_days: Days of events kept for the price curve's refits
            (older ones are dropped). The batch forecaster learns from
            everything it is given, so the two agree while the stream is
            shorter than this.
        **settings: Keyword arguments of
            :class:`~vpp.agents.fundamental_forecast.FundamentalPriceForecaster`
            (horizon, warm-up, time constants, ...).

    Raises:
        ParameterError: Bad settings (named as the batch forecaster names them).
    """

    def __init__(self, *, max_history_days: float = 365.0, **settings: Any) -> None:
        if not max_history_days > 0:
            raise ParameterError(
                f"invalid parameter: max_history_days: must be > 0, got {max_history_days}"
            )
        self.model = FundamentalPriceForecaster(**settings)
        self.settings = dict(settings)
        self.max_history_days = float(max_history_days)
        self.carry = Carry(np.random.default_rng(self.model.seed))
        self.hour0: int | None = None
        self.last_ts: int | None = None
        self.skipped = 0  # events not after the previous one
        self._last_slot: int | None = None  # thinning slot of the last event kept
        self.made = 0  # forecasts made
        self._first = _Rows((5,))
        self._means = _Rows((5,))
        self._envelope = _Rows(())
        self._solar_max = _Rows(())
        self._row0 = 0  # hour row of the hourly buffers' first row
        self._sums = np.zeros(5)
        self._counts = np.zeros(5)
        self._ev_ts = _Rows((), np.int64)
        self._ev_hour = _Rows((), np.int64)
        self._ev_p = _Rows(())
        self._ev_x = _Rows((2,))
        self._ev_wind = _Rows(())
        #: Published wind and solar forecasts it reads (input, not state: a
        #: snapshot leaves it out and whoever restores sets it again).
        self.feed: PublishedFeed | None = None

    @property
    def horizon_h(self) -> int:
        """Hours each forecast covers."""
        return self.model.horizon_h

    @property
    def hours_seen(self) -> int:
        """Hours since the first event (the open one included)."""
        return self._row0 + self._first.n

    def update(
        self,
        ts_ns: npt.ArrayLike,
        prices: npt.ArrayLike,
        signals: Mapping[str, npt.ArrayLike],
    ) -> list[HourForecast]:
        """Take the next events; forecast at every one that begins an hour.

        Args:
            ts_ns: (n,) UTC ns; events not after the previous accepted one
                are skipped and counted (``skipped``).
            prices: (n,) price per MWh (NaN: unknown).
            signals: Per-event ``load_mw``, ``solar_mw``, ``wind_mw`` and
                optionally ``temperature_c``.

        Returns:
            The forecasts made, in event order (none for hours still in the
            warm-up or whose first event lacks a price, load, solar or wind).

        Raises:
            ParameterError: Missing signals or lengths that do not match.
        """
        ts = np.asarray(ts_ns, dtype=np.int64).ravel()
        p = np.asarray(prices, dtype=np.float64).ravel()
        if p.shape != ts.shape:
            raise ParameterError(
                f"invalid parameter: prices: {p.size} values for {ts.size} timestamps"
            )
        load, solar, wind, temp = checked_signals(signals, ts.shape)
        keep = self._in_order(ts)
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            return []
        series = np.column_stack([p, load, solar, wind, temp])[idx]
        t = ts[idx]
        hour = t // _NS_PER_HOUR
        if self.hour0 is None:
            self.hour0 = int(hour[0])
        row = hour - self.hour0
        cuts = np.flatnonzero(np.r_[True, np.diff(row) > 0])
        out: list[HourForecast] = []
        for a, b in zip(cuts, np.r_[cuts[1:], idx.size], strict=True):
            r = int(row[a])
            if r >= self.hours_seen:
                self._open(r, series[a])
                fc = self._forecast(r)
                if fc is not None:
                    self.made += 1
                    out.append(HourForecast(int(idx[a]), int(t[a]), fc))
            self._take(t[a:b], row[a:b], series[a:b])
        return out

    # -- hours ---------------------------------------------------------------------
    def _in_order(self, ts: np.ndarray) -> np.ndarray:
        from vpp.runtime.event_order import after_previous

        keep, self.last_ts = after_previous(ts, self.last_ts)
        self.skipped += int((~keep).sum())
        return keep

    def _open(self, r: int, first: np.ndarray) -> None:
        """Close the open hour and any hours without events, then open row ``r``."""
        while self.hours_seen <= r:
            if self._first.n:
                self._close()
            m = self._first.n
            starts = self._row0 + m == r
            self._first.extend((first if starts else np.full(5, np.nan))[None, :])
            self._means.extend(np.full((1, 5), np.nan))
            self._solar_max.extend(np.full(1, np.nan))
            sh = self._means.view[:, 2]
            self._envelope.extend(clear_sky(sh, m, np.array([m])))
        # The hourly step reads LOOKBACK_H hours back: older rows go, a week
        # at a time, so the state stays bounded however long the stream runs.
        old = self._first.n - 1 - LOOKBACK_H
        if old >= 24 * 7:
            for rows in (self._first, self._means, self._envelope, self._solar_max):
                rows.drop_front(old)
            self._row0 += old

    def _close(self) -> None:
        """Hourly means of the open hour, forward-filled per column as the batch does."""
        r = self._first.n - 1
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self._sums / self._counts
        if r > 0:
            mean = np.where(self._counts > 0, mean, self._means.view[r - 1])
        self._means.view[r] = mean
        before = self._solar_max.view[r - 1] if r > 0 else 0.0
        solar = mean[2] if np.isfinite(mean[2]) else 0.0
        self._solar_max.view[r] = max(before, solar, 0.0)
        self._sums[:] = 0.0
        self._counts[:] = 0.0

    def _take(self, t: np.ndarray, row: np.ndarray, series: np.ndarray) -> None:
        ok = np.isfinite(series)
        self._sums += np.where(ok, series, 0.0).sum(axis=0)
        self._counts += ok.sum(axis=0)
        keep = self.model.thinned(t, self._last_slot)
        if keep.any():
            t, row, series = t[keep], row[keep], series[keep]
            self._last_slot = int(t[-1] // self.model.thin_ns)
            self._ev_ts.extend(t)
            self._ev_hour.extend(row)
            self._ev_p.extend(series[:, 0])
            self._ev_x.extend(curve_features(series[:, 1], series[:, 2], series[:, 3]))
            self._ev_wind.extend(series[:, 3])
        old = int(np.searchsorted(self._ev_hour.view, row[-1] - round(24 * self.max_history_days)))
        if old > self._ev_ts.n // 10:  # trim in steps, not at every batch
            for rows in (self._ev_ts, self._ev_hour, self._ev_p, self._ev_x, self._ev_wind):
                rows.drop_front(old)

    def _forecast(self, r: int) -> np.ndarray | None:
        if r < self.model.warmup_h:
            return None
        assert self.hour0 is not None
        hist = Hours(
            hour0=self.hour0,
            first=self._first.view,
            means=self._means.view,
            envelope=self._envelope.view,
            solar_max=self._solar_max.view,
            ev_ts=self._ev_ts.view,
            ev_p=self._ev_p.view,
            ev_x=self._ev_x.view,
            ev_wind=self._ev_wind.view,
            ev_hour=self._ev_hour.view,
            row0=self._row0,
            feed=self.feed,
        )
        return self.model.hour_forecast(self.carry, r, hist)

    # -- snapshots -----------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The whole state as bytes (an ``.npz`` with a JSON header)."""
        c = self.carry
        head = {
            "version": _SNAPSHOT_VERSION,
            "settings": self.settings,
            "max_history_days": self.max_history_days,
            "hour0": self.hour0,
            "last_ts": self.last_ts,
            "skipped": self.skipped,
            "made": self.made,
            "last_slot": self._last_slot,
            "row0": self._row0,
            "tau_w": c.tau_w,
            "ci_mean": c.ci_mean,
            "beta": c.beta,
            "feed_error": None if c.feed_error is None else list(c.feed_error),
            "rng": c.rng.bit_generator.state,
        }
        arrays = {
            "first": self._first.view,
            "means": self._means.view,
            "envelope": self._envelope.view,
            "solar_max": self._solar_max.view,
            "sums": self._sums,
            "counts": self._counts,
            "ev_ts": self._ev_ts.view,
            "ev_p": self._ev_p.view,
            "ev_x": self._ev_x.view,
            "ev_wind": self._ev_wind.view,
            "wind_hist": c.wind_hist,
        }
        if c.curve is not None:
            arrays.update(net=c.curve.net, share=c.curve.share, table=c.curve.table)
        return npz_state.pack(arrays, head)

    @classmethod
    def restore(cls, blob: bytes) -> LivePriceForecaster:
        """The forecaster a :meth:`snapshot` was taken of.

        Raises:
            SnapshotError: Bytes that are not such a snapshot.
        """
        arrays, head = npz_state.unpack(blob, "price forecaster")
        try:
            if head.get("version") != _SNAPSHOT_VERSION:
                raise SnapshotError(
                    f"price forecaster snapshot version {head.get('version')!r}, "
                    f"expected {_SNAPSHOT_VERSION}"
                )
            live = cls(max_history_days=head["max_history_days"], **head["settings"])
            live.hour0, live.last_ts = head["hour0"], head["last_ts"]
            live.skipped, live.made = int(head["skipped"]), int(head["made"])
            live._last_slot, live._row0 = head["last_slot"], int(head["row0"])
            c = live.carry
            c.rng.bit_generator.state = head["rng"]
            c.tau_w, c.ci_mean, c.beta = head["tau_w"], head["ci_mean"], head["beta"]
            c.wind_hist = arrays["wind_hist"]
            # Snapshots from before published forecasts have none learnt.
            feed_error = head.get("feed_error")
            c.feed_error = None if feed_error is None else tuple(feed_error)
            if "table" in arrays:
                c.curve = PriceCurve.from_table(arrays["net"], arrays["share"], arrays["table"])
            hourly = ("first", "means", "envelope", "solar_max")
            for name in (*hourly, "ev_ts", "ev_p", "ev_x", "ev_wind"):
                getattr(live, f"_{name}").extend(arrays[name])
            if live.hour0 is not None:
                live._ev_hour.extend(arrays["ev_ts"] // _NS_PER_HOUR - live.hour0)
            live._sums[:], live._counts[:] = arrays["sums"], arrays["counts"]
        except SnapshotError:
            raise
        except (ValueError, KeyError, TypeError, OSError, ParameterError) as exc:
            raise SnapshotError(f"corrupt price forecaster snapshot: {exc}") from None
        return live
