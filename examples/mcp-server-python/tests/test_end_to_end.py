"""The example MCP server end to end: an MCP client of org acme lists and gets prompts that come
from mcp-config, and an admin edit reaches it as `notifications/prompts/list_changed` with
nothing restarted."""

from __future__ import annotations

import asyncio

import httpx2
import mcp_types as types
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_config_client.testing import ConfigService

NOTIFICATION_TIMEOUT = 10.0


async def test_an_org_sees_its_prompts_and_is_told_when_they_change(
    service: ConfigService, mcp_url: str
) -> None:
    prompts_changed = asyncio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.PromptListChangedNotification):
            prompts_changed.set()

    async with (
        httpx2.AsyncClient(headers={"x-org-id": "acme"}, timeout=30) as http,
        streamable_http_client(mcp_url, http_client=http) as (read, write),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        initialized = await session.initialize()
        before = await session.list_prompts()
        rendered = await session.get_prompt("review-pr", {"repo": "acme/api", "number": "42"})
        resources = await session.list_resources()

        service.admin(
            "PUT",
            "/orgs/acme/servers/github/prompts/review-pr",
            {
                "content": {
                    "title": "Review a pull request (Acme, v2)",
                    "arguments": [{"name": "repo", "required": True}],
                    "messages": [{"role": "user", "text": "Review {{ repo }} briefly."}],
                }
            },
        )
        await asyncio.wait_for(prompts_changed.wait(), NOTIFICATION_TIMEOUT)
        after = await session.list_prompts()
        rerendered = await session.get_prompt("review-pr", {"repo": "acme/api"})

    capabilities = initialized.capabilities
    assert capabilities.prompts is not None and capabilities.prompts.list_changed
    assert capabilities.resources is not None and capabilities.resources.list_changed
    assert [p.name for p in before.prompts] == [
        "release-notes",
        "review-pr",
        "security-review",
        "triage-issue",
    ]
    assert next(p for p in before.prompts if p.name == "review-pr").title == (
        "Review a pull request (Acme)"
    )
    assert rendered.messages[0].content.text == (
        "Review pull request #42 in acme/api using Acme's checklist:\n"
        "security, then correctness, then tests. Flag any new dependency."
    )
    assert "file:///acme/oncall.md" in [str(r.uri) for r in resources.resources]
    assert next(p for p in after.prompts if p.name == "review-pr").title == (
        "Review a pull request (Acme, v2)"
    )
    assert rerendered.messages[0].content.text == "Review acme/api briefly."
