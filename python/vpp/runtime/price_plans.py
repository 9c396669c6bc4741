"""Live price forecasts for the trader of :class:`~vpp.runtime.agent_stage.AgentStage`.

With ``[agents] price_forecaster = "fundamental"`` a
:class:`~vpp.agents.live_price_forecast.LivePriceForecaster` forecasts the
price from load, solar, wind and, when present, temperature. With
``price_forecast_scope = "fleet"`` (the default) one forecaster reads the
fleet's totals (:mod:`vpp.runtime.fleet_signals`) and every site's trader
gets its forecasts: the price is the area's, and the fleet's sum sees more
of the area than any one site. With ``"site"`` each site has its own
forecaster fed its own events. At the first event of each hour the
forecaster forecasts the next ``horizon_steps`` hourly prices; the stage
cuts the batch there and hands the forecast to the traders just before the
event, so they re-plan on it. With one site both scopes are the same, and
the trader re-plans exactly as in ``vpp backtest --price-forecaster
fundamental``. Hours still in the forecaster's warm-up (7 days) leave the
trader on its built-in forecaster.

With published wind and solar forecasts (``agents.published_forecasts``)
each forecaster reads them by issue time: a site's own, or for the fleet
the sum over the sites its totals hold (those that have reported, so in
``vpp consume`` a partition's). They are input, not state: a restored
processor reads them from the same table again.

The forecasters' state is part of the processor snapshot (consumer
checkpoints): 40 bytes per event kept (one per 10 minutes) for the price
curve's refits. The live forecasters keep :data:`HISTORY_DAYS` (90) days of
them; with the six weeks of hourly history the step reads and the curve that
is 0.8 MB per forecaster however long the stream (measured over a year of
1-minute events), well inside the state topic's 64 MiB messages; the fleet
scope's held readings add 32 bytes per site. (A backtest's
batch forecaster learns from its whole history, so the two agree for the
first 90 days.)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from vpp.agents.fundamental_forecast import REQUIRED_SIGNALS
from vpp.agents.live_price_forecast import LivePriceForecaster
from vpp.agents.published_feed import FeedFile, PublishedFeed
from vpp.errors import ParameterError
from vpp.runtime.event_order import rows_by_code
from vpp.runtime.fleet_signals import FleetSignals

log = logging.getLogger("vpp.agents")

__all__ = ["NEEDED_SIGNALS", "SCOPES", "Plan", "PricePlans", "chunks", "merge_decisions"]

#: Signals the fundamental forecaster reads (``temperature_c`` optional).
NEEDED_SIGNALS: tuple[str, ...] = ("price_per_mwh", *REQUIRED_SIGNALS)
_PART = "price_forecaster:"
#: Snapshot part of the fleet forecaster (``@`` cannot start a site id part by accident:
#: site parts follow ``_PART``) and of the fleet's held readings.
_FLEET_PART = _PART + "@fleet"
_FLEET_SIGNALS_PART = "price_fleet_signals"
#: Whose signals a forecaster reads: the fleet's totals or each site's own.
SCOPES = ("fleet", "site")
#: Signals the forecasters read besides price, in order (temperature optional).
_SIGNALS = (*REQUIRED_SIGNALS, "temperature_c")
#: Days of events each live forecaster keeps (see the module doc).
HISTORY_DAYS = 90.0


@dataclass(frozen=True)
class Plan:
    """A forecast to hand a site's trader just before event ``index`` of a batch."""

    index: int
    site: int
    ts_ns: int
    prices: list[float]


class PricePlans:
    """Live fundamental forecasters: one for the fleet, or one per site.

    Args:
        sites: The fleet's sites, in the agents' order (site index = position).
        horizon_h: Hours each forecast covers (the trader's ``horizon_steps``).
        plan_step_s: The trader's plan step, s (the forecasts are hourly).
        scope: ``"fleet"`` (one forecaster on the fleet's totals) or ``"site"``.
        published: Published wind and solar forecasts (a table as
            :func:`vpp.agents.published_feed.read_feed` returns, or a
            :class:`~vpp.agents.published_feed.FeedFile` re-read as it
            changes) every forecaster reads by issue time: the fleet's sites
            summed, or the site's own.

    Raises:
        ParameterError: A plan step other than an hour, an unknown scope, or
            published forecasts that miss a site.
    """

    def __init__(
        self,
        sites: Sequence[str],
        horizon_h: int,
        plan_step_s: float,
        scope: str = "fleet",
        published: pd.DataFrame | FeedFile | None = None,
    ) -> None:
        if scope not in SCOPES:
            raise ParameterError(
                f"invalid parameter: agents.price_forecast_scope: must be one of {SCOPES}, "
                f"got {scope!r}"
            )
        if plan_step_s != 3600.0:
            raise ParameterError(
                "invalid parameter: agents.plan_step_s: the fundamental price forecaster "
                f"forecasts hourly prices, so the trader must plan hourly (3600), got {plan_step_s}"
            )
        self.sites = [str(s) for s in sites]
        self.horizon_h = int(horizon_h)
        self.scope = scope
        names = ["@fleet"] if scope == "fleet" else self.sites
        self.forecasters = {
            s: LivePriceForecaster(horizon_h=self.horizon_h, max_history_days=HISTORY_DAYS)
            for s in names
        }
        # Temperature (the last signal) is averaged over the sites, not summed.
        self.fleet_signals = FleetSignals(len(self.sites), len(_SIGNALS), (len(_SIGNALS) - 1,))
        self._source = published if isinstance(published, FeedFile) else None
        self.published = published.table if isinstance(published, FeedFile) else published
        self.feeds: dict[str, PublishedFeed] = {}
        # The sites the fleet feed sums: as the fleet totals, those reporting.
        self._fed_sites: tuple[int, ...] | None = None
        if self.published is not None:
            # Every site's forecasts must be there (named now, not mid-stream).
            PublishedFeed.rows_of(self.published, self.sites)
            self._site_feeds()

    def _site_feeds(self) -> None:
        """Each site forecaster's own feed (the fleet's is summed per batch)."""
        assert self.published is not None
        if self.scope == "site":
            self.feeds = PublishedFeed.per_site(self.published, self.sites)
        self._attach_feeds()

    def _refresh(self) -> None:
        """Take a new version of the feed file (one that lacks a site is
        logged and skipped: the previous one stays)."""
        if self._source is None:
            return
        table = self._source.current()
        if table is self.published:
            return
        try:
            PublishedFeed.rows_of(table, self.sites)
        except ParameterError as exc:
            self._source.errors += 1
            log.warning("published forecasts: kept the previous table: %s", exc)
            return
        self.published, self._fed_sites = table, None
        self._site_feeds()

    @staticmethod
    def check_signals(signals: Sequence[str]) -> None:
        """Raise a :class:`ParameterError` naming the signals the forecaster lacks."""
        missing = [s for s in NEEDED_SIGNALS if s not in signals]
        if missing:
            raise ParameterError(
                "invalid parameter: agents.price_forecaster: 'fundamental' needs the "
                f"signals {missing}, which the telemetry does not carry"
            )

    def plans(
        self, ts_ns: np.ndarray, site_idx: np.ndarray, values: np.ndarray, signals: Sequence[str]
    ) -> list[Plan]:
        """Feed a batch to the sites' forecasters; the forecasts made, in event order.

        Args:
            ts_ns: (n,) UTC ns of the batch's events.
            site_idx: (n,) agents' site index of each event (-1: not covered).
            values: (n, len(signals)) the batch's signal values.
            signals: Column names of ``values``.
        """
        self._refresh()
        col = {s: j for j, s in enumerate(signals)}
        if self.scope == "fleet":
            return self._fleet_plans(ts_ns, site_idx, values, col)
        out: list[Plan] = []
        for i, where in enumerate(rows_by_code(site_idx, len(self.sites))):
            if where.size == 0:
                continue
            sig = {s: values[where, col[s]] for s in _SIGNALS if s in col}
            made = self.forecasters[self.sites[i]].update(
                ts_ns[where], values[where, col["price_per_mwh"]], sig
            )
            out += [Plan(int(where[f.index]), i, f.ts_ns, f.prices.tolist()) for f in made]
        out.sort(key=lambda p: p.index)
        return out

    def _fleet_plans(
        self, ts_ns: np.ndarray, site_idx: np.ndarray, values: np.ndarray, col: dict[str, int]
    ) -> list[Plan]:
        """Feed the fleet's totals to its forecaster; each forecast is every site's plan."""
        mine = np.flatnonzero(site_idx >= 0)
        if mine.size == 0:
            return []
        cols = np.full((mine.size, len(_SIGNALS)), np.nan)
        for j, name in enumerate(_SIGNALS):
            if name in col:
                cols[:, j] = values[mine, col[name]]
        rows, totals = self.fleet_signals.update(ts_ns[mine], site_idx[mine], cols)
        if self.published is not None:
            self._fleet_feed()
        sig = {name: totals[:, j] for j, name in enumerate(_SIGNALS) if name in col}
        # The price is the area's: each fleet event's own, never summed.
        price = values[mine[rows], col["price_per_mwh"]]
        made = self.forecasters["@fleet"].update(ts_ns[mine][rows], price, sig)
        out: list[Plan] = []
        for f in made:  # the same forecast for every site's trader
            index, prices = int(mine[rows[f.index]]), f.prices.tolist()
            out += [Plan(index, i, f.ts_ns, prices) for i in range(len(self.sites))]
        return out

    def _fleet_feed(self) -> None:
        """Sum the published forecasts of the sites the fleet totals hold."""
        seen = tuple(np.flatnonzero(np.isfinite(self.fleet_signals.held).any(axis=1)).tolist())
        if seen != self._fed_sites:
            chosen = [self.sites[i] for i in seen]
            self.feeds["@fleet"] = PublishedFeed.from_frame(self.published, chosen)
            self._fed_sites = seen
            self._attach_feeds()

    def _attach_feeds(self) -> None:
        for s, f in self.forecasters.items():
            f.feed = self.feeds.get(s)

    def describe(self) -> dict[str, int | str]:
        """The forecaster and what it did, for run summaries."""
        live = list(self.forecasters.values())
        out: dict[str, int | str] = {
            "name": "fundamental",
            "scope": self.scope,
            "published_forecasts": sum(len(f) for f in self.feeds.values()),
            "forecasts": sum(f.made for f in live),
            "skipped_events": sum(f.skipped for f in live),
        }
        if not out["forecasts"]:
            days = live[0].model.warmup_h / 24 if live else 7
            out["note"] = (
                f"no forecast yet: it needs {days:g} days of history; until then the trader "
                "plans on its built-in forecaster"
            )
        return out

    def state(self) -> dict[str, bytes]:
        """Snapshot parts: one per forecaster, and the fleet's held readings."""
        out = {_PART + s: f.snapshot() for s, f in self.forecasters.items()}
        if self.scope == "fleet":
            out[_FLEET_SIGNALS_PART] = self.fleet_signals.snapshot()
        return out

    def restore(self, parts: Mapping[str, bytes]) -> None:
        """Continue from :meth:`state` parts (forecasters without one start afresh)."""
        for s in self.forecasters:
            blob = parts.get(_PART + s)
            if blob is not None:
                self.forecasters[s] = LivePriceForecaster.restore(blob)
        self._attach_feeds()
        held = parts.get(_FLEET_SIGNALS_PART)
        if self.scope == "fleet" and held is not None:
            restored = FleetSignals.restore(held)
            if restored.held.shape == self.fleet_signals.held.shape:
                self.fleet_signals = restored


def chunks(n: int, plans: list[Plan]) -> list[tuple[int, int, list[Plan]]]:
    """Cut ``n`` events before every planned event: ``(start, stop, plans to hand over first)``."""
    cuts = sorted({p.index for p in plans} | {0})
    bounds = [*cuts, n]
    by_start: dict[int, list[Plan]] = {}
    for p in plans:
        by_start.setdefault(p.index, []).append(p)
    return [(a, b, by_start.get(a, [])) for a, b in pairwise(bounds) if b > a]


def merge_decisions(
    parts: Sequence[tuple[int, Mapping[str, Any], Mapping[str, Any] | None]],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Decisions and per-unit records of consecutive chunks as one batch's.

    Args:
        parts: ``(first event of the chunk, decisions, unit records or None)``
            per chunk, in order; unit records' event indices count from the
            chunk's start.
    """
    decisions = {k: np.concatenate([d[k] for _, d, _ in parts]) for k in parts[0][1]}
    with_units = [(a, u) for a, _, u in parts if u is not None]
    if not with_units:
        return decisions, None
    units = {
        k: np.concatenate(
            [np.asarray(u[k]) + (a if k.endswith("_event") else 0) for a, u in with_units]
        )
        for k in with_units[0][1]
    }
    return decisions, units
