"""Bearer tokens for the HTTP transport.

A token comes from ``$VPP_MCP_TOKEN`` or from a token file. A token file has
one token per line, optionally named ``CLIENT_ID:TOKEN`` (the client id is
what the audit log records as *who*); blank lines and ``#`` comments are
ignored. Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from fastmcp.server.auth import AccessToken, TokenVerifier

from vpp.errors import ParameterError

__all__ = ["TOKEN_ENV", "BearerTokens", "load_tokens"]

#: Environment variable holding the bearer token.
TOKEN_ENV = "VPP_MCP_TOKEN"
#: Shortest token accepted: guessing must be impractical.
MIN_TOKEN_CHARS = 16


def load_tokens(token_file: str | None = None) -> dict[str, str]:
    """Return ``{token: client_id}`` from the token file, else ``$VPP_MCP_TOKEN``.

    Raises:
        ParameterError: no token configured, an unreadable file, or a token
            shorter than 16 characters.
    """
    tokens: dict[str, str] = {}
    if token_file:
        try:
            lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ParameterError(
                f"--token-file: cannot read {token_file}: {exc.strerror}"
            ) from None
        for n, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            client, sep, tok = line.partition(":")
            if not sep:
                client, tok = f"client{n}", line
            tok = tok.strip()
            if len(tok) < MIN_TOKEN_CHARS:
                raise ParameterError(
                    f"--token-file line {n}: token shorter than {MIN_TOKEN_CHARS} characters"
                )
            tokens[tok] = client.strip() or f"client{n}"
    else:
        tok = os.environ.get(TOKEN_ENV, "").strip()
        if tok:
            if len(tok) < MIN_TOKEN_CHARS:
                raise ParameterError(f"${TOKEN_ENV} is shorter than {MIN_TOKEN_CHARS} characters")
            tokens[tok] = os.environ.get("VPP_MCP_CLIENT_ID", "http-client")
    if not tokens:
        raise ParameterError(
            f"the HTTP transport needs a bearer token: set ${TOKEN_ENV} or pass --token-file FILE "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return tokens


class BearerTokens(TokenVerifier):
    """Accepts exactly the configured tokens (constant-time comparison).

    Args:
        tokens: ``{token: client_id}``.
    """

    def __init__(self, tokens: dict[str, str]) -> None:
        super().__init__()
        self._tokens = [(t.encode("utf-8"), c) for t, c in tokens.items()]

    async def verify_token(self, token: str) -> AccessToken | None:
        given = token.encode("utf-8")
        found = None
        for known, client in self._tokens:
            # Compare against every token so timing does not reveal which matched.
            if hmac.compare_digest(given, known):
                found = client
        if found is None:
            return None
        return AccessToken(token="<redacted>", client_id=found, scopes=[])
