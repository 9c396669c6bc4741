"""``vpp mcp``: serve grid intelligence and guarded dispatch to AI assistants (MCP).

Over stdio (default; for desktop assistants, which start the server) or over
streamable HTTP bound to 127.0.0.1, where every request needs a bearer token
from $VPP_MCP_TOKEN or --token-file. Tools read the store ``vpp run`` writes;
``dispatch_battery`` executes only plans confirmed with a ``plan_dispatch``
token and appends to a hash-chained audit log (default: beside the store).
stdout carries only the MCP protocol on stdio; logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging

from vpp.cli.common import add_log_args, add_store_arg, setup_logging
from vpp.config import MCP_FLAG_KEYS, add_config_arg, apply_config
from vpp.metrics import add_metrics_args, start_from_args

log = logging.getLogger("vpp.mcp")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "mcp",
        help="MCP server for AI assistants: grid state, forecasts, guarded battery dispatch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default: 8000)")
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help="bearer tokens for HTTP, one per line as TOKEN or CLIENT_ID:TOKEN "
        "(default: $VPP_MCP_TOKEN)",
    )
    add_store_arg(p)
    p.add_argument(
        "--fleet-config",
        metavar="FILE",
        help="fleet JSON (see vpp.mcp.fleet); must be the fleet the pipeline runs in the "
        "store to dispatch (default: the store's fleet)",
    )
    p.add_argument(
        "--own-fleet",
        action="store_true",
        help="the --fleet-config fleet is separate from the pipeline's: its units get "
        "their own ids (mcp-<fingerprint>-u<i>) and SoC records",
    )
    p.add_argument(
        "--max-dispatch-mw",
        type=float,
        metavar="X",
        help="refuse dispatches above X MW in either direction",
    )
    p.add_argument(
        "--audit-log",
        metavar="PATH",
        help="hash-chained audit log (default: mcp-audit.jsonl beside the store)",
    )
    p.add_argument(
        "--model", metavar="DIR", help="forecast model directory (default: models/default)"
    )
    p.add_argument(
        "--token-ttl",
        type=float,
        default=300.0,
        metavar="S",
        help="lifetime of a plan's confirm token, s (default: 300)",
    )
    add_metrics_args(p)
    add_log_args(p)
    add_config_arg(p, extra_keys=MCP_FLAG_KEYS)  # last: fills the options above
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import math

    from vpp.errors import ParameterError

    apply_config(args)
    setup_logging(args)
    if args.max_dispatch_mw is not None and not (
        math.isfinite(args.max_dispatch_mw) and args.max_dispatch_mw > 0
    ):
        raise ParameterError(
            f"--max-dispatch-mw must be a positive number, got {args.max_dispatch_mw}"
        )
    if not 0 < args.port < 65536:
        raise ParameterError(f"--port must be in 1..65535, got {args.port}")
    tokens = None
    if args.transport == "http":
        from vpp.mcp.auth import load_tokens

        tokens = load_tokens(args.token_file)  # refuses to start without a token

    import fastmcp

    # FastMCP's own logs go to stderr; keep them quiet unless asked.
    fastmcp.settings.log_level = "WARNING" if args.quiet else "INFO"
    logging.getLogger("fastmcp").setLevel(logging.WARNING if args.quiet else logging.INFO)

    from vpp.mcp.config import McpConfig
    from vpp.mcp.server import ServerState, build_server

    cfg = McpConfig(
        store_url=args.store,
        fleet_config=args.fleet_config,
        own_fleet=bool(getattr(args, "own_fleet", False)),
        max_dispatch_mw=args.max_dispatch_mw,
        audit_log=args.audit_log,
        model_dir=args.model,
        token_ttl_s=args.token_ttl,
    )
    state = ServerState(cfg)
    mcp = build_server(cfg, state)
    metrics = start_from_args(args)  # None without --metrics-port
    if metrics is not None:
        from vpp.metrics import instrument_mcp

        def fleet_soc() -> dict[str, tuple[float, float]]:
            sites = state.fleet_status()["sites"]  # SoC only from records of this fleet
            return {
                s["site"]: (s["soc_frac"], s["stored_mwh"])
                for s in sites
                if s["soc_frac"] is not None
            }

        instrument_mcp(mcp, fleet_soc)
    log.info(
        "vpp mcp: store %s, audit log %s, %d fleet unit(s), transport %s",
        state.store.url,
        state.audit.path,
        len(state.fleet.config.units),
        args.transport,
    )
    try:
        if args.transport == "stdio":
            mcp.run(transport="stdio", show_banner=False)
        else:
            from vpp.mcp.auth import BearerTokens

            assert tokens is not None
            mcp.auth = BearerTokens(tokens)
            if args.host not in ("127.0.0.1", "localhost", "::1"):
                log.warning("binding to %s: the server is reachable beyond this machine", args.host)
            mcp.run(
                transport="http",
                host=args.host,
                port=args.port,
                show_banner=False,
                log_level="warning" if args.quiet else "info",
            )
    finally:
        state.close()
        if metrics is not None:
            metrics.close()
    return 0
