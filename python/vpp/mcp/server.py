"""The FastMCP server: grid intelligence tools and guarded dispatch.

Tools read the same store the pipeline writes. The only tool that acts,
``dispatch_battery``, runs a plan only with the confirmation token that
``plan_dispatch`` issued for exactly those parameters, re-checks the limits
against the state at execution, is idempotent per token and appends every
attempt to a hash-chained audit log.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Annotated, Any, Literal

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_access_token
from pydantic import Field

from vpp.errors import ParameterError, VppError
from vpp.io import open_store
from vpp.mcp.audit import AuditLog, plain
from vpp.mcp.backtest import run_backtest_subprocess
from vpp.mcp.config import McpConfig, default_audit_path
from vpp.mcp.confirm import ConfirmTokens, TokenRefused
from vpp.mcp.fleet import FleetModel, load_fleet_config
from vpp.mcp.fleet_identity import FleetGuard
from vpp.mcp.forecast import ForecastService, ForecastUnavailable
from vpp.mcp.grid import AnomalyLimits, grid_state, iso
from vpp.mcp.grid import detect_anomalies as find_anomalies
from vpp.mcp.timeparse import parse_since

__all__ = ["SERVER_INSTRUCTIONS", "ServerState", "build_server"]

log = logging.getLogger("vpp.mcp")

SERVER_INSTRUCTIONS = (
    "Grid intelligence for a virtual power plant: live grid state, forecasts with "
    "intervals and their explanations, anomaly checks, battery fleet status, and "
    "guarded dispatch. Power is in MW (positive = discharge into the grid), energy in "
    "MWh. To act: call plan_dispatch, show the plan to the operator, and only with "
    "their explicit approval call dispatch_battery with the plan's confirm_token."
)

SiteId = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$", description="site id"),
]
PowerMw = Annotated[
    float,
    Field(
        ge=-100_000,
        le=100_000,
        allow_inf_nan=False,
        description="power at the grid connection, MW; positive discharges, negative charges",
    ),
]
DurationMin = Annotated[
    float, Field(gt=0, le=1440, allow_inf_nan=False, description="duration, minutes (≤ 24 h)")
]


class ServerState:
    """Everything the tools share: store, fleet, tokens, audit log, forecaster."""

    def __init__(self, cfg: McpConfig) -> None:
        self.cfg = cfg
        self.store = open_store(cfg.store_url)
        fleet_source: Any = cfg.fleet_config
        label = f"--fleet-config {cfg.fleet_config}"
        if cfg.own_fleet and fleet_source is None:
            raise ParameterError("--own-fleet needs --fleet-config (the server's own fleet)")
        if fleet_source is None:
            fleet_source = self.store.get_meta("fleet_config")
            label = "store fleet_config (vpp run)"
            if fleet_source is None:
                label = "default: one battery per site with data"
        default_sites = self.store.sites() or None
        fleet_cfg, fr = load_fleet_config(fleet_source, default_sites=default_sites)
        self.guard = FleetGuard(
            self.store,
            fleet_cfg,
            fr,
            label,
            explicit=cfg.fleet_config is not None,
            own_fleet=cfg.own_fleet,
            parse=lambda meta: load_fleet_config(meta, default_sites=default_sites)[0],
        )
        self.fleet = FleetModel(
            self.store,
            fleet_cfg,
            fr,
            step_s=fleet_cfg.default_dt_s,
            unit_prefix=self.guard.unit_prefix,
        )
        self.nominal_hz = fr.nominal_hz
        self.tokens = ConfirmTokens(self.store, ttl_s=cfg.token_ttl_s)
        self.audit = AuditLog(cfg.audit_log or default_audit_path(self.store))
        self.forecaster = ForecastService(self.store, cfg.model_dir)

        # site -> (latest ts_ns, the record before it): reading a range builds a
        # DataFrame (~2 ms); the record before the latest one rarely changes.
        self._prev: dict[str, tuple[int, dict[str, Any] | None]] = {}
        self._prev_lock = threading.Lock()

    def close(self) -> None:
        self.store.close()

    def previous_record(self, latest: dict[str, Any]) -> dict[str, Any] | None:
        """The record before ``latest`` at its site (for the ramp), cached per latest time."""
        site, ts = latest["site"], int(latest["ts_ns"])
        with self._prev_lock:
            hit = self._prev.get(site)
        if hit is not None and hit[0] == ts:
            return hit[1]
        frame = self.store.telemetry_range(site=site, until_ns=ts, last=1)
        prev = frame.to_dict("records")[0] if len(frame) else None
        with self._prev_lock:
            self._prev[site] = (ts, prev)
        return prev

    # -- helpers --------------------------------------------------------------
    def fleet_may_act(self) -> None:
        """ToolError unless the server's fleet may use the store's SoC and dispatch."""
        check = self.guard.check()
        if not check.ok:
            raise ToolError(str(check.problem))

    def fleet_status(self) -> dict[str, Any]:
        """The fleet's state plus which fleet it is and where its SoC comes from."""
        check = self.guard.check()
        return {
            "fleet_identity": self.guard.report(check),
            **self.fleet.status(use_store_soc=check.ok),
        }

    def sites_or_error(self, site: str | None) -> list[str]:
        sites = self.store.sites()
        if site is None:
            return sites
        if site not in sites:
            raise ToolError(
                f"unknown site {site!r}; sites with data: {sites or 'none (the store is empty)'}"
            )
        return [site]

    def one_site(self, site: str | None) -> str:
        sites = self.sites_or_error(site)
        if not sites:
            raise ToolError(self.no_data_message())
        if site is None and len(sites) > 1:
            raise ToolError(f"several sites have data; pass site= one of {sites}")
        return sites[0]

    def no_data_message(self) -> str:
        return (
            f"no data: the store {self.store.url} has no telemetry yet "
            "(fill it with `vpp run --store ...`)"
        )


def _who() -> str:
    token = get_access_token()
    return token.client_id if token is not None else "stdio"


def _tool_errors(fn: Any) -> Any:
    """Turn vpp's own errors into tool errors with their message (no traceback)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return plain(fn(*args, **kwargs))
        except ToolError:
            raise
        except (VppError, ValueError, ForecastUnavailable, TokenRefused) as exc:
            raise ToolError(str(exc)) from None

    return wrapper


def build_server(cfg: McpConfig, state: ServerState | None = None) -> FastMCP:
    """Build the FastMCP server with its tools, resources and prompt.

    Args:
        cfg: settings.
        state: shared state (built from ``cfg`` when omitted).
    """
    st = state or ServerState(cfg)
    # Unexpected exceptions are masked: a client sees the tool name, never internals.
    mcp = FastMCP(cfg.name, instructions=SERVER_INSTRUCTIONS, mask_error_details=True)
    mcp.state = st  # type: ignore[attr-defined]
    read_only = {"readOnlyHint": True, "openWorldHint": False}

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def get_grid_state(site: SiteId | None = None) -> dict[str, Any]:
        """Latest telemetry per site: signals, net load, frequency deviation, ramp and data age."""
        sites = st.sites_or_error(site)
        if not sites:
            return {"status": "no data", "message": st.no_data_message(), "sites": []}
        latest = st.store.latest_telemetry(site)
        out = [
            grid_state(latest[s], st.previous_record(latest[s]), st.nominal_hz)
            for s in sites
            if s in latest
        ]
        return {"status": "ok", "sites": out}

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def get_forecast(
        site: SiteId | None = None,
        horizon_steps: Annotated[int, Field(ge=1, le=2016, description="steps ahead")]
        | None = None,
    ) -> dict[str, Any]:
        """Point forecast of net load with its interval, from the compiled model.

        Features come from the store's recent telemetry through the same
        feature engine the pipeline uses. Without a model, the latest forecast
        the pipeline stored is returned (``source`` says which).
        """
        return st.forecaster.forecast(st.one_site(site), horizon_steps)

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def explain_forecast(
        site: SiteId | None = None,
        top_k: Annotated[int, Field(ge=1, le=50, description="features to list")] = 8,
    ) -> dict[str, Any]:
        """The features that move the current forecast most (XGBoost contributions), in words."""
        return st.forecaster.explain(st.one_site(site), top_k)

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def detect_anomalies(
        site: SiteId | None = None,
        since: Annotated[
            str,
            Field(
                max_length=40,
                description="ISO 8601 UTC time, or a look-back before the latest record "
                "such as '6h', '30min', '2d' (default: 24h)",
            ),
        ]
        | None = None,
        max_events: Annotated[int, Field(ge=10, le=500_000)] = 200_000,
    ) -> dict[str, Any]:
        """Frequency excursions outside the deadband, unusual ramps, gaps, stale, missing
        and out-of-range data."""
        s = st.one_site(site)
        latest = st.store.latest_telemetry(s)[s]
        since_ns = parse_since(since or "24h", int(latest["ts_ns"]))
        frame = st.store.telemetry_range(site=s, since_ns=since_ns, last=max_events)
        if frame.empty:
            return {
                "site": s,
                "status": "no data",
                "message": f"no telemetry since {iso(since_ns)}",
            }
        lim = AnomalyLimits(nominal_hz=st.nominal_hz)
        return {"site": s, "status": "ok", **find_anomalies(frame, lim)}

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def get_fleet_status() -> dict[str, Any]:
        """Per-unit and fleet SoC, available up/down power and energy, reserved headroom."""
        return st.fleet_status()

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def plan_dispatch(site: SiteId, power_mw: PowerMw, duration_min: DurationMin) -> dict[str, Any]:
        """Dry run: what the fleet at a site would do holding power_mw for duration_min.

        Returns the binding limits, per-unit split and expected SoC after, and,
        when feasible, a confirm_token that dispatch_battery needs (valid for a
        few minutes, for exactly these parameters).
        """
        if power_mw == 0:
            raise ToolError("power_mw must be non-zero (positive discharges, negative charges)")
        st.fleet_may_act()
        plan = st.fleet.plan(site, power_mw, duration_min, st.cfg.max_dispatch_mw)
        if plan["feasible"]:
            params = {"site": site, "power_mw": power_mw, "duration_min": duration_min}
            token, expires = st.tokens.issue(params, plan)
            plan["confirm_token"] = token
            plan["token_expires"] = iso(int(expires * 1e9))
            plan["next_step"] = (
                "show this plan to the operator; with their approval call dispatch_battery "
                "with the same site, power_mw, duration_min and this confirm_token"
            )
        else:
            plan["confirm_token"] = None
            plan["next_step"] = "not feasible: lower power_mw or duration_min and plan again"
        return plan

    @mcp.tool(annotations={"destructiveHint": True, "idempotentHint": True, "openWorldHint": True})
    @_tool_errors
    def dispatch_battery(
        site: SiteId,
        power_mw: PowerMw,
        duration_min: DurationMin,
        confirm_token: Annotated[str, Field(min_length=16, max_length=128)],
    ) -> dict[str, Any]:
        """Execute a plan from plan_dispatch (needs its confirm_token and the same parameters).

        Refuses anything beyond the fleet's power, energy or SoC limits at
        execution time or above the server's maximum; a token executes at
        most once (a replay returns the first result). Every call is
        recorded in the hash-chained audit log.
        """
        who = _who()
        params = {"site": site, "power_mw": power_mw, "duration_min": duration_min}
        with st.tokens.lock:
            check = st.guard.check()
            if not check.ok:
                # Before the token is claimed: the plan stays usable once the fleets agree.
                _audit(st, who, params, None, {"status": "refused", "reason": check.problem})
                raise ToolError(str(check.problem))
            try:
                claim = st.tokens.claim(confirm_token, params)
            except TokenRefused as exc:
                _audit(st, who, params, None, {"status": "refused", "reason": str(exc)})
                raise ToolError(f"dispatch refused: {exc}") from None
            if claim.previous is not None:
                result = {**claim.previous, "replayed": True}
                _audit(st, who, params, claim.token_id, {"status": "replayed"})
                return result
            try:
                plan = st.fleet.plan(site, power_mw, duration_min, st.cfg.max_dispatch_mw)
            except (VppError, ValueError) as exc:
                raise ToolError(str(exc)) from None
            if not plan["feasible"]:
                result = {
                    "status": "refused",
                    "executed": False,
                    "reason": "limits bind at execution time (the state changed since the plan)",
                    "binding_limits": plan["binding_limits"],
                }
            else:
                st.guard.ensure_recorded()
                result = {"status": "executed", **st.fleet.execute(site, power_mw, duration_min)}
            st.tokens.record(claim, params, result)
            _audit(st, who, params, claim.token_id, result)
        if result["status"] == "refused":
            limits = ", ".join(
                f"{b['limit']} (requested {b['requested']} {b['unit']}, available "
                f"{b['available']} {b['unit']})"
                for b in result["binding_limits"]
            )
            raise ToolError(f"dispatch refused: limits bind at execution time: {limits}")
        return {**result, "replayed": False}

    @mcp.tool(annotations={"readOnlyHint": True, "openWorldHint": False})
    @_tool_errors
    def run_backtest(
        source: Literal["twin", "store"] = "twin",
        days: Annotated[float, Field(gt=0, le=30, allow_inf_nan=False)] = 2.0,
        site: SiteId | None = None,
        horizon_steps: Annotated[int, Field(ge=1, le=288)] = 1,
        seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0,
    ) -> dict[str, Any]:
        """A bounded backtest (≤ 30 days) on the twin or on the store's last `days` of a site;
        returns the JSON summary of `vpp backtest`."""
        frame = None
        if source == "store":
            s = st.one_site(site)
            latest = int(st.store.latest_telemetry(s)[s]["ts_ns"])
            frame = st.store.telemetry_range(site=s, since_ns=latest - int(days * 86400e9))
        return run_backtest_subprocess(
            source, days, horizon_steps, seed, frame, timeout_s=st.cfg.backtest_timeout_s
        )

    @mcp.resource("grid://sites", mime_type="application/json")
    def sites_resource() -> dict[str, Any]:
        """The sites that have telemetry, with their latest timestamp."""
        latest = st.store.latest_telemetry()
        return {
            "sites": [
                {"site": s, "latest": iso(int(rec["ts_ns"]))} for s, rec in sorted(latest.items())
            ]
        }

    @mcp.resource("grid://site/{id}/latest", mime_type="application/json")
    def site_latest(id: str) -> dict[str, Any]:
        """The latest telemetry record of one site, with derived net load."""
        latest = st.store.latest_telemetry(id)
        if id not in latest:
            raise ValueError(f"unknown site {id!r}; sites: {st.store.sites()}")
        return grid_state(latest[id], None, st.nominal_hz)

    @mcp.prompt
    def resilience_review(
        site: str = "grid", horizon_hours: Annotated[int, Field(ge=1, le=48)] = 2
    ) -> str:
        """Review the site's resilience for the next hours: risks, fleet cover, actions."""
        return RESILIENCE_PROMPT.format(site=site, hours=horizon_hours)

    return mcp


def _audit(
    st: ServerState,
    who: str,
    params: dict[str, Any],
    token_id: str | None,
    result: dict[str, Any],
) -> None:
    entry = st.audit.append(
        who=who,
        action="dispatch_battery",
        what={**params, "token_sha256": token_id},
        result=result,
    )
    st.store.set_meta(
        "mcp.audit.head",
        {"path": str(st.audit.path), "seq": entry["seq"], "hash": entry["hash"], "at": time.time()},
    )


RESILIENCE_PROMPT = """\
You are reviewing the resilience of grid site "{site}" for the next {hours} hour(s), \
using the vpp tools. Work in this order and cite the numbers you get:

1. get_grid_state(site="{site}"): net load, frequency deviation from nominal, data age. \
If the data is stale, say so first: every later conclusion depends on it.
2. detect_anomalies(site="{site}", since="24h"): frequency excursions (deadband, \
operational and statutory limits), unusual ramps, gaps, out-of-range values.
3. get_forecast(site="{site}") and explain_forecast(site="{site}"): the expected net-load \
path and its interval; the largest upward ramp within the horizon, in MW and MW/h; \
which features drive it.
4. get_fleet_status(): available up/down power and energy, and the headroom reserved for \
frequency response. Compare the fleet's upward energy with the ramp over the horizon \
(MW × h) and say how much of it the fleet can cover.
5. If cover is short or risks are high, propose at most three actions. For a battery \
action, call plan_dispatch (a dry run) and show its binding limits and SoC after.

Never call dispatch_battery on your own: present the plan and its confirm_token and wait \
for the operator's explicit approval. End with a one-paragraph summary: risk level \
(low/medium/high), the main driver, the fleet's cover in MW and MWh, and the proposed action.
"""
