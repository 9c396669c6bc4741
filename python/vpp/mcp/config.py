"""Settings of the MCP server (filled from ``vpp mcp`` options)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vpp.io.store import Store

__all__ = ["DEFAULT_AUDIT_NAME", "McpConfig", "default_audit_path"]

#: File name of the audit log beside the store.
DEFAULT_AUDIT_NAME = "mcp-audit.jsonl"


@dataclass
class McpConfig:
    """What the server serves and how it guards control.

    Attributes:
        store_url: store URL or path (``None``: the default store).
        fleet_config: JSON file of the fleet (``None``: the store's
            ``fleet_config`` metadata if the pipeline wrote one, else one
            default battery per site). It must be the store's fleet of
            record to dispatch (see :mod:`vpp.mcp.fleet_identity`).
        own_fleet: the ``fleet_config`` fleet is separate from the
            pipeline's: own unit ids, no fleet-of-record check.
        max_dispatch_mw: largest |power| ``dispatch_battery`` accepts, MW
            (``None``: only the fleet's physical limits).
        audit_log: the audit log path (``None``: beside the store).
        model_dir: forecasting model directory (``None``: the store's
            ``model`` metadata, else ``models/default``).
        token_ttl_s: lifetime of a ``plan_dispatch`` confirmation token, s.
        backtest_timeout_s: wall-clock limit of ``run_backtest``, s.
        name: server name announced to clients.
    """

    store_url: str | None = None
    fleet_config: str | None = None
    own_fleet: bool = False
    max_dispatch_mw: float | None = None
    audit_log: str | None = None
    model_dir: str | None = None
    token_ttl_s: float = 300.0
    backtest_timeout_s: float = 120.0
    name: str = "vpp"


def default_audit_path(store: Store) -> Path:
    """``mcp-audit.jsonl`` in the store file's directory (or ``./vpp-data``)."""
    path = getattr(store, "path", None)
    if path and path != ":memory:":
        return Path(path).resolve().parent / DEFAULT_AUDIT_NAME
    return Path("vpp-data") / DEFAULT_AUDIT_NAME
