"""The example MCP server end to end: an MCP client of org acme lists and gets prompts that come
from mcp-config, and an admin edit reaches it as `notifications/prompts/list_changed` with
nothing restarted: on its session (protocols with `initialize`), or on its
`subscriptions/listen` stream (2026-07-28, no sessions). Prompts with other content than text,
resource templates and completion are served from the conformance bundle."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

import httpx2
import mcp_types as types
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import PromptsListChanged, ServerEvent, Subscription
from mcp_config_client.testing import ConfigService

if TYPE_CHECKING:  # conftest is pytest's to import, not a test module's
    from conftest import McpServer

NOTIFICATION_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 10.0

PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5E"
    "rkJggg=="
)

#: A default of `conformance` with the kinds of content its bundle lacks: audio, the org's own
#: resource by URI (a blob, read at render time), a link whose URI is an argument.
EVERY_OTHER_CONTENT = {
    "content": {
        "arguments": [{"name": "id", "required": True}],
        "messages": [
            {"role": "assistant", "audio": {"mime_type": "audio/wav", "data": "UklGRg=="}},
            {"role": "user", "resource": {"uri": "test://static-binary"}},
            {
                "role": "user",
                "resource_link": {
                    "uri": "test://template/{{ id }}/data",
                    "name": "template-data",
                    "mime_type": "application/json",
                },
            },
        ],
    }
}

ACME_REVIEW_PR_V2 = {
    "content": {
        "title": "Review a pull request (Acme, v2)",
        "arguments": [{"name": "repo", "required": True}],
        "messages": [{"role": "user", "text": "Review {{ repo }} briefly."}],
    }
}


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

        service.admin("PUT", "/orgs/acme/servers/github/prompts/review-pr", ACME_REVIEW_PR_V2)
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


async def test_other_content_than_text_templates_and_completion(
    conformance_service: ConfigService, conformance_mcp_url: str
) -> None:
    conformance_service.admin(
        "PUT", "/defaults/servers/conformance/prompts/every-other-content", EVERY_OTHER_CONTENT
    )
    conformance_service.wait_until_published()
    async with (
        httpx2.AsyncClient(headers={"x-org-id": "acme"}, timeout=30) as http,
        streamable_http_client(conformance_mcp_url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        initialized = await session.initialize()
        image = await session.get_prompt("test_prompt_with_image")
        embedded = await session.get_prompt(
            "test_prompt_with_embedded_resource", {"resourceUri": "test://given"}
        )
        others = await session.get_prompt("every-other-content", {"id": "7"})
        resources = await session.list_resources()
        templates = await session.list_resource_templates()
        through_template = await session.read_resource("test://template/42/data")
        completed = await session.complete(
            types.PromptReference(name="test_prompt_with_arguments"),
            {"name": "arg1", "value": "pa"},
        )

    assert initialized.capabilities.completions is not None
    assert image.messages == [
        types.PromptMessage(
            role="user", content=types.ImageContent(data=PNG_BASE64, mime_type="image/png")
        ),
        types.PromptMessage(
            role="user", content=types.TextContent(text="Please analyze the image above.")
        ),
    ]
    assert embedded.messages[0].content == types.EmbeddedResource(
        resource=types.TextResourceContents(
            uri="test://given",
            mime_type="text/plain",
            text="Embedded resource content for testing.",
        )
    )
    assert [m.content for m in others.messages] == [
        types.AudioContent(data="UklGRg==", mime_type="audio/wav"),
        types.EmbeddedResource(
            resource=types.BlobResourceContents(
                uri="test://static-binary", mime_type="image/png", blob=PNG_BASE64
            )
        ),
        types.ResourceLink(
            uri="test://template/7/data", name="template-data", mime_type="application/json"
        ),
    ]
    assert [r.uri for r in resources.resources] == [
        "test://static-binary",
        "test://static-text",
        "test://watched-resource",
    ], "a template is no resource"
    assert [(t.uri_template, t.name) for t in templates.resource_templates] == [
        ("test://template/{id}/data", "template-data")
    ]
    assert through_template.contents == [
        types.TextResourceContents(
            uri="test://template/42/data",
            mime_type="application/json",
            text='{"id":"42","templateTest":true,"data":"Data for ID: 42"}',
        )
    ]
    assert completed.completion.values == ["paris", "park"]


async def test_a_2026_client_is_told_on_its_listen_stream(
    service: ConfigService, mcp_url: str
) -> None:
    """`mode="auto"` asks `server/discover` first and uses `initialize` only with a server that
    lacks it; this one has it, so the connection is on 2026-07-28 and sessionless."""
    async with (
        httpx2.AsyncClient(headers={"x-org-id": "acme"}, timeout=30) as http,
        Client(streamable_http_client(mcp_url, http_client=http), mode="auto") as client,
    ):
        version, capabilities = client.protocol_version, client.server_capabilities
        before = await client.list_prompts()
        async with client.listen(prompts_list_changed=True) as stream:
            service.admin("PUT", "/orgs/acme/servers/github/prompts/review-pr", ACME_REVIEW_PR_V2)
            event = await asyncio.wait_for(anext(stream), NOTIFICATION_TIMEOUT)
            after = await client.list_prompts()

    assert version == "2026-07-28"
    assert capabilities.prompts is not None and capabilities.prompts.list_changed
    assert stream.honored == types.SubscriptionFilter(prompts_list_changed=True)
    assert event == PromptsListChanged()
    assert next(p for p in before.prompts if p.name == "review-pr").title == (
        "Review a pull request (Acme)"
    )
    assert next(p for p in after.prompts if p.name == "review-pr").title == (
        "Review a pull request (Acme, v2)"
    )


async def test_a_listen_stream_ends_gracefully_when_the_server_stops(
    mcp_server: McpServer,
) -> None:
    """Graceful: the listen result is the stream's last frame (an abrupt end would raise
    `SubscriptionLost`). And at once: uvicorn waits for open responses to finish before the
    app's shutdown, so without `ListenStreams.close` first it would wait for ever."""

    async def remaining(stream: Subscription) -> list[ServerEvent]:
        return [event async for event in stream]

    async with (
        httpx2.AsyncClient(headers={"x-org-id": "acme"}, timeout=30) as http,
        Client(streamable_http_client(mcp_server.url, http_client=http)) as client,
        client.listen(prompts_list_changed=True, resources_list_changed=True) as stream,
    ):
        mcp_server.process.send_signal(signal.SIGTERM)
        events = await asyncio.wait_for(remaining(stream), SHUTDOWN_TIMEOUT)

    assert events == []
    mcp_server.process.wait(SHUTDOWN_TIMEOUT)
