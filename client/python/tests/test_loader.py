"""`ConfigLoader` in the MCP SDK's servers, driven by the SDK's own client over streamable HTTP
against the real service: each org sees its own prompts next to the server's own tool, prompts
render through mcp-config, an org's sessions are told when its prompts change (in process too,
as over stdio, on either protocol), and a server started while the service is down serves its
fallback until the service answers, then tells its sessions the prompts changed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
import uvicorn
from conftest import BINARY, BUNDLE
from helpers import PROPAGATION, eventually, put_prompt
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import PromptsListChanged
from mcp.server import MCPServer, Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette

from mcp_config_client import ConfigClient, Watch
from mcp_config_client.loader import ConfigLoader, Fallback, FallbackPrompt, FallbackResource
from mcp_config_client.testing import ConfigService, free_port

ACME_PROMPTS = ["release-notes", "review-pr", "security-review", "triage-issue"]
ACME_REVIEW = (
    "Review pull request #42 in acme/api using Acme's checklist:\n"
    "security, then correctness, then tests. Flag any new dependency."
)

#: What the server hard-coded before mcp-config.
FALLBACK = Fallback(
    prompts=[
        FallbackPrompt(
            types.Prompt(name="review-pr", description="Reviews a pull request."),
            [types.PromptMessage(role="user", content=types.TextContent(text="Review it."))],
        )
    ],
    resources=[
        FallbackResource(
            types.Resource(uri="file:///guides/style.md", name="style"),
            [types.TextResourceContents(uri="file:///guides/style.md", text="# Style")],
        )
    ],
)


def org_of(ctx: ServerRequestContext[Any]) -> str:
    """The org a test's MCP client names in its `x-org-id` header."""
    return ctx.request.headers.get("x-org-id", "") if ctx.request is not None else ""


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """`app` served by uvicorn in this event loop on a free port; yields its MCP endpoint."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())

    async def started() -> bool | None:
        assert not task.done(), "uvicorn stopped while starting"
        return server.started or None

    try:
        await eventually(started, "the MCP server")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        await task


@dataclass
class McpClient:
    """An MCP client session of one org, and what it was told."""

    session: ClientSession
    prompts_changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def prompt_names(self) -> list[str]:
        return sorted(p.name for p in (await self.session.list_prompts()).prompts)

    async def first_text(self, name: str, arguments: dict[str, str]) -> str:
        content = (await self.session.get_prompt(name, arguments)).messages[0].content
        assert isinstance(content, types.TextContent)
        return content.text


@asynccontextmanager
async def connected(url: str, org: str) -> AsyncIterator[McpClient]:
    """The SDK's client on a session (protocol with `initialize`) for `org`."""
    prompts_changed = asyncio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.PromptListChangedNotification):
            prompts_changed.set()

    async with (
        httpx2.AsyncClient(headers={"x-org-id": org}, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        await session.initialize()
        yield McpClient(session, prompts_changed)


def server_with_a_tool() -> MCPServer:
    """An `MCPServer` (FastMCP in mcp 1.x) with a tool of its own."""
    mcp = MCPServer("github")

    @mcp.tool()
    def add(a: int, b: int) -> int:
        """Adds two numbers."""
        return a + b

    return mcp


async def test_an_mcp_server_lists_its_own_tool_and_each_orgs_prompts_from_mcp_config(
    service: ConfigService,
) -> None:
    mcp = server_with_a_tool()
    async with ConfigClient(service.endpoint, source=Watch()) as client:
        loader = ConfigLoader(client, server="github")
        loader.install(mcp, org_of=org_of)

        async with serving(mcp.streamable_http_app()) as url:
            async with connected(url, "acme") as acme:
                tools = await acme.session.list_tools()
                added = await acme.session.call_tool("add", {"a": 1, "b": 2})
                acme_prompts = await acme.prompt_names()
                review = await acme.first_text("review-pr", {"repo": "acme/api", "number": "42"})
            async with connected(url, "globex") as globex:
                globex_prompts = await globex.prompt_names()

    assert [t.name for t in tools.tools] == ["add"]
    assert added.content == [types.TextContent(text="3")]
    assert acme_prompts == ACME_PROMPTS
    assert globex_prompts == ["release-notes", "review-pr"], "globex hides triage-issue"
    assert review == ACME_REVIEW


async def test_a_lowlevel_server_tells_an_orgs_session_its_prompts_changed(
    service: ConfigService,
) -> None:
    server: Server[Any] = Server("github")
    async with ConfigClient(service.endpoint, source=Watch()) as client:
        ConfigLoader(client, server="github").install(server, org_of=org_of)

        async with serving(server.streamable_http_app()) as url, connected(url, "acme") as acme:
            capabilities = acme.session.server_capabilities
            before = await acme.first_text("security-review", {"repo": "acme/api"})
            resources = await acme.session.list_resources()
            oncall = await acme.session.read_resource("file:///acme/oncall.md")
            with pytest.raises(MCPError) as missing:
                await acme.session.get_prompt("review-pr", {"repo": "acme/api"})
            await client.wait_for_source(PROPAGATION)
            put_prompt(service, "acme", "security-review", "Audit {{ repo }} again.")
            await asyncio.wait_for(acme.prompts_changed.wait(), PROPAGATION)
            after = await acme.first_text("security-review", {"repo": "acme/api"})

    assert capabilities is not None and capabilities.prompts is not None
    assert capabilities.prompts.list_changed
    assert before.startswith("Audit acme/api for secrets")
    assert "file:///acme/oncall.md" in [r.uri for r in resources.resources]
    assert oncall.contents == [
        types.TextResourceContents(
            uri="file:///acme/oncall.md",
            mime_type="text/markdown",
            text="# On call\nPage #acme-oncall; the rota is in PagerDuty.",
        )
    ]
    assert missing.value.error.code == types.INVALID_PARAMS
    assert missing.value.error.message == 'arguments.number: missing argument "number"'
    assert after == "Audit acme/api again."


async def test_a_client_in_process_is_told_on_either_protocol(service: ConfigService) -> None:
    """No HTTP: a stream transport's one client (as stdio's) on a session, then a 2026-07-28
    client on its listen stream; the server runs once per connection."""
    server: Server[Any] = Server("github")
    prompts_changed = asyncio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.PromptListChangedNotification):
            prompts_changed.set()

    async with ConfigClient(service.endpoint, source=Watch()) as client:
        ConfigLoader(client, server="github").install(server, org_of=lambda _: "acme")
        async with Client(server, mode="legacy", message_handler=on_message) as legacy:
            legacy_prompts = await legacy.list_prompts()
            await client.wait_for_source(PROPAGATION)
            put_prompt(service, "acme", "security-review", "Audit {{ repo }} again.")
            await asyncio.wait_for(prompts_changed.wait(), PROPAGATION)
        async with Client(server) as modern, modern.listen(prompts_list_changed=True) as stream:
            put_prompt(service, "acme", "security-review", "Audit {{ repo }} once more.")
            event = await asyncio.wait_for(anext(stream), PROPAGATION)
            version = modern.protocol_version

    assert sorted(p.name for p in legacy_prompts.prompts) == ACME_PROMPTS
    assert version == "2026-07-28"
    assert event == PromptsListChanged()


async def test_a_server_started_with_the_service_down_serves_its_fallback_until_it_answers(
    tmp_path: Path,
) -> None:
    service = ConfigService(BINARY, tmp_path)
    service.start()
    service.import_bundle(BUNDLE)
    service.kill()
    mcp = server_with_a_tool()
    # A short cool-down: the client asks the service again soon after it is back.
    async with ConfigClient(service.endpoint, source=Watch(), breaker_cooldown=0.2) as client:
        ConfigLoader(client, server="github", fallback=FALLBACK).install(mcp, org_of=org_of)
        try:
            async with serving(mcp.streamable_http_app()) as url, connected(url, "acme") as acme:
                fallback_prompts = await acme.prompt_names()
                fallback_review = await acme.first_text("review-pr", {"repo": "acme/api"})
                fallback_resources = await acme.session.list_resources()
                style = await acme.session.read_resource("file:///guides/style.md")

                service.start()
                await asyncio.wait_for(acme.prompts_changed.wait(), PROPAGATION)
                prompts = await acme.prompt_names()
                review = await acme.first_text("review-pr", {"repo": "acme/api", "number": "42"})
        finally:
            service.kill()

    assert fallback_prompts == ["review-pr"]
    assert fallback_review == "Review it.", "a fallback prompt answers its messages as given"
    assert [r.uri for r in fallback_resources.resources] == ["file:///guides/style.md"]
    assert style.contents == [
        types.TextResourceContents(uri="file:///guides/style.md", text="# Style")
    ]
    assert prompts == ACME_PROMPTS
    assert review == ACME_REVIEW
