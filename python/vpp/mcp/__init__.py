"""MCP server: grid intelligence and guarded battery dispatch for AI assistants.

``vpp mcp`` serves, over stdio or streamable HTTP (bearer token required),
tools that read the store the pipeline writes (grid state, forecasts and
their explanations, anomalies, fleet status, backtests) and one tool that
acts, ``dispatch_battery``, guarded by plan confirmation tokens, limits,
idempotency and a hash-chained audit log (:func:`verify_audit_log`).
"""

from vpp.mcp.audit import AuditLog, AuditReport, verify_audit_log
from vpp.mcp.config import McpConfig

__all__ = ["AuditLog", "AuditReport", "McpConfig", "build_server", "verify_audit_log"]


def build_server(cfg: McpConfig):  # type: ignore[no-untyped-def]
    """Build the FastMCP server (see :func:`vpp.mcp.server.build_server`)."""
    from vpp.mcp.server import build_server as _build

    return _build(cfg)
