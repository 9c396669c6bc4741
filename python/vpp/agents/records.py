"""Dispatch records: what the agents decided, in a table for sinks and reports.

Columns: ``timestamp`` (UTC), ``site``, ``unit``, ``power_mw`` (positive =
discharge), ``reason`` and ``agent``. Batch runs give one record per event
and site (``unit`` = ``"*"``, the site's units together); per-unit records come
from :func:`unit_records` after :meth:`AgentSet.decide_into`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vpp._core import AGENT_REASONS

__all__ = ["AGENT_OF_REASON", "RECORD_COLUMNS", "dispatch_frame", "unit_records"]

RECORD_COLUMNS = ("timestamp", "site", "unit", "power_mw", "reason", "agent")

#: Which agent a reason belongs to (the ``agent`` column of dispatch records).
AGENT_OF_REASON = {
    "idle": "none",
    "frequency_response": "frequency_response",
    "arbitrage": "arbitrage",
    "restore": "frequency_response",
    "hold_non_finite": "hold",
}


def dispatch_frame(
    ts_ns: np.ndarray,
    site_index: np.ndarray | None,
    run_output: dict[str, np.ndarray],
    sites: Sequence[str] = ("grid",),
) -> pd.DataFrame:
    """Records of a batch :meth:`AgentSet.run`, one per event.

    Args:
        ts_ns: Event timestamps, UTC ns.
        site_index: Site index per event (None: all 0).
        run_output: The dict returned by ``AgentSet.run``.
        sites: Site ids by index (``FleetConfig.sites``).
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    idx = np.zeros(ts.size, dtype=np.int64) if site_index is None else np.asarray(site_index)
    reasons = np.asarray(AGENT_REASONS, dtype=object)[run_output["reason"]]
    agents = np.vectorize(AGENT_OF_REASON.__getitem__, otypes=[object])(reasons)
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(ts, utc=True),
            "site": np.asarray(sites, dtype=object)[idx],
            "unit": "*",
            "power_mw": run_output["total_mw"],
            "reason": reasons,
            "agent": agents,
        }
    )


def unit_records(
    ts_ns: int,
    site: str,
    unit_power_mw: np.ndarray,
    unit_ids: Sequence[int],
    decision: dict[str, object],
) -> list[dict[str, object]]:
    """Per-unit records of one decision (the units of the decided site).

    Args:
        ts_ns: Event timestamp, UTC ns.
        site: Site id.
        unit_power_mw: The buffer filled by ``AgentSet.decide_into``.
        unit_ids: Indices of the site's units in the fleet.
        decision: ``AgentSet.last_decision``.
    """
    reason = str(decision["reason"])
    agent = AGENT_OF_REASON[reason]
    return [
        {
            "timestamp": ts_ns,
            "site": site,
            "unit": int(u),
            "power_mw": float(unit_power_mw[u]),
            "reason": reason,
            "agent": agent,
        }
        for u in unit_ids
    ]
