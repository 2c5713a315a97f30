"""Which org an MCP request is for: the `org` claim of a verified bearer JWT, else the
`x-org-id` header (set by a trusted gateway, or in development), else none (defaults only)."""

from __future__ import annotations

from collections.abc import Mapping

import jwt


class Unauthorized(Exception):
    """A bearer token this server cannot accept."""


def org_of(headers: Mapping[str, str], jwt_secret: str | None) -> str:
    """The org slug of a request ("" when it names none).

    A bearer token is trusted only once its signature is checked (HS256, the secret mcp-config
    uses too); an unverified `org` claim would let anyone read any org.
    """
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token:
        if jwt_secret is None:
            raise Unauthorized("bearer tokens need the server to run with --jwt-secret")
        try:
            claims = jwt.decode(
                token, jwt_secret, algorithms=["HS256"], options={"require": ["exp"]}
            )
        except jwt.InvalidTokenError as error:
            raise Unauthorized(f"invalid bearer token: {error}") from error
        return str(claims.get("org", ""))
    return headers.get("x-org-id", "")
