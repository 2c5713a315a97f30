"""The MCP server: a low-level SDK server whose prompts and resources `ConfigLoader` answers
for the org of each request, and the HTTP app that runs it next to the mcp-config client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_config_client import ConfigClient
from mcp_config_client.loader import ConfigLoader, OrgOf
from starlette.applications import Starlette
from starlette.routing import Mount

from .org import Unauthorized, org_of


@dataclass(frozen=True, slots=True)
class Settings:
    server: str
    """The MCP server name in mcp-config (`github`, `slack`, …)."""
    jwt_secret: str | None = None
    """HS256 secret to verify bearer tokens (the one mcp-config uses); None: tokens refused."""


def request_org(jwt_secret: str | None) -> OrgOf:
    """The org of a request from its HTTP headers (`org.py`); an unverifiable token is refused."""

    def org(ctx: ServerRequestContext[Any]) -> str:
        headers = ctx.request.headers if ctx.request is not None else {}
        try:
            return org_of(headers, jwt_secret)
        except Unauthorized as error:
            raise MCPError(types.INVALID_REQUEST, str(error)) from error

    return org


def build(settings: Settings, client: ConfigClient) -> Starlette:
    """The streamable-HTTP app at `/mcp`. Its lifespan runs the mcp-config client and the MCP
    server (whose own lifespan runs the loader's notifications).

    `app.state.loader` is for the HTTP server to close the listen streams before it waits for
    open responses (see `ConfigLoader.close_listen_streams`)."""
    server: Server[Any] = Server(f"mcp-config-{settings.server}")
    loader = ConfigLoader(client, server=settings.server)
    loader.install(server, request_org(settings.jwt_secret))
    mcp_app = server.streamable_http_app()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with client, server.session_manager.run():
            yield

    app = Starlette(routes=[Mount("/", app=mcp_app)], lifespan=lifespan)
    app.state.loader = loader
    return app
