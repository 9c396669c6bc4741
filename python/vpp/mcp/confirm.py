"""Confirmation tokens: a dispatch runs only for a plan the server issued.

``plan_dispatch`` issues a random token bound to the exact parameters of the
plan and an expiry; ``dispatch_battery`` claims it. A claimed token's result
is persisted in the store's metadata (under the SHA-256 of the token, never
the token itself), so a replay, even after a server restart, returns the
first result instead of dispatching again.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from vpp.io.store import Store

__all__ = ["Claim", "ConfirmTokens", "TokenRefused"]

_META_PREFIX = "mcp.dispatch."


class TokenRefused(Exception):
    """The token is unknown, expired, or was issued for other parameters."""


@dataclass(frozen=True)
class _Pending:
    params: dict[str, Any]
    plan: dict[str, Any]
    expires_at: float  # wall-clock epoch seconds


@dataclass(frozen=True)
class Claim:
    """A successful claim: either a fresh plan to execute or a replay.

    Attributes:
        token_id: SHA-256 hex of the token (safe to log).
        plan: the plan issued with the token (fresh claims only).
        previous: the first result of this token (replays only).
    """

    token_id: str
    plan: dict[str, Any] | None
    previous: dict[str, Any] | None


def token_id(token: str) -> str:
    """The SHA-256 hex of a token: how tokens appear in logs and metadata."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ConfirmTokens:
    """Issues and claims confirmation tokens; one instance per server.

    Args:
        store: where used tokens and their results persist.
        ttl_s: lifetime of an issued token, s.
    """

    def __init__(self, store: Store, ttl_s: float = 300.0) -> None:
        self.store = store
        self.ttl_s = float(ttl_s)
        self._pending: dict[str, _Pending] = {}
        # Held from claim to record so that two concurrent calls with the
        # same token cannot both execute.
        self.lock = threading.RLock()

    def issue(self, params: dict[str, Any], plan: dict[str, Any]) -> tuple[str, float]:
        """Issue a token for ``params``; returns ``(token, expires_at_epoch_s)``."""
        token = secrets.token_urlsafe(24)
        expires = time.time() + self.ttl_s
        with self.lock:
            now = time.time()
            for key in [k for k, p in self._pending.items() if p.expires_at < now]:
                del self._pending[key]
            self._pending[token_id(token)] = _Pending(dict(params), dict(plan), expires)
        return token, expires

    def claim(self, token: str, params: dict[str, Any]) -> Claim:
        """Check ``token`` against ``params``; call with :attr:`lock` held.

        Raises:
            TokenRefused: the token was never issued here, has expired, or was
                issued (or used) for different parameters.
        """
        tid = token_id(token)
        used = self.store.get_meta(_META_PREFIX + tid)
        if used is not None:
            if used.get("params") != params:
                raise TokenRefused(
                    "confirm_token was already used for different parameters "
                    f"({used.get('params')}); plan again with plan_dispatch"
                )
            return Claim(token_id=tid, plan=None, previous=used.get("result"))
        pending = self._pending.get(tid)
        if pending is None:
            raise TokenRefused(
                "confirm_token is unknown: call plan_dispatch first and pass the "
                "confirm_token it returns"
            )
        if pending.expires_at < time.time():
            del self._pending[tid]
            raise TokenRefused("confirm_token has expired; plan again with plan_dispatch")
        if pending.params != params:
            raise TokenRefused(
                f"parameters differ from the plan: the token was issued for {pending.params}, "
                f"the call asks for {params}"
            )
        return Claim(token_id=tid, plan=pending.plan, previous=None)

    def record(self, claim: Claim, params: dict[str, Any], result: dict[str, Any]) -> None:
        """Persist the result of a claimed token; call with :attr:`lock` held."""
        self.store.set_meta(
            _META_PREFIX + claim.token_id,
            {"params": params, "result": result, "used_at": time.time()},
        )
        self._pending.pop(claim.token_id, None)
