"""The service's own MCP endpoint (`/mcp/{server}`) with the official Python SDK's client, which
nobody here wrote: per-org views, rendering and its errors, and `list_changed` after an admin
edit. No MCP server of ours in between."""

from __future__ import annotations

import asyncio

import httpx2
import mcp_types as types
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_config_client.testing import ConfigService

NOTIFICATION_TIMEOUT = 10.0

INVALID_PARAMS = -32602


def endpoint(service: ConfigService, server: str = "github") -> str:
    return f"{service.http_url}/mcp/{server}"


async def test_each_org_reads_its_own_view_through_the_service(service: ConfigService) -> None:
    seen: dict[str, list[str]] = {}
    for org in ("acme", "globex"):
        async with (
            httpx2.AsyncClient(headers={"x-org-id": org}, timeout=30) as http,
            streamable_http_client(endpoint(service), http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            seen[org] = [p.name for p in (await session.list_prompts()).prompts]
            if org == "acme":
                rendered = await session.get_prompt(
                    "review-pr", {"repo": "acme/api", "number": "42"}
                )
                resources = await session.list_resources()
                with pytest.raises(MCPError) as missing:
                    await session.get_prompt("review-pr", {})

    assert seen["acme"] == ["release-notes", "review-pr", "security-review", "triage-issue"]
    assert "triage-issue" not in seen["globex"], "globex hides this default"
    assert rendered.messages[0].content.text.startswith("Review pull request #42 in acme/api")
    assert "file:///acme/oncall.md" in [str(r.uri) for r in resources.resources]
    assert missing.value.code == INVALID_PARAMS
    assert "repo" in missing.value.message


async def test_an_admin_edit_reaches_the_session_as_list_changed(service: ConfigService) -> None:
    prompts_changed = asyncio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.PromptListChangedNotification):
            prompts_changed.set()

    async with (
        httpx2.AsyncClient(headers={"x-org-id": "acme"}, timeout=30) as http,
        streamable_http_client(endpoint(service), http_client=http) as (read, write),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        await session.initialize()
        await session.list_prompts()
        service.admin(
            "PUT",
            "/orgs/acme/servers/github/prompts/added-live",
            {"content": {"messages": [{"role": "user", "text": "hello"}]}},
        )
        await asyncio.wait_for(prompts_changed.wait(), NOTIFICATION_TIMEOUT)
        after = [p.name for p in (await session.list_prompts()).prompts]

    assert "added-live" in after
