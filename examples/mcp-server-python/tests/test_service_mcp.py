"""The service's own MCP endpoint (`/mcp/{server}`) with the official Python SDK's client, which
nobody here wrote: per-org views, rendering and its errors, and `list_changed` after an admin
edit; prompts with other content than text, resource templates, completion and
`resources/updated` (the conformance bundle's server). No MCP server of ours in between."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx2
import mcp_types as types
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_config_client.testing import ConfigService

NOTIFICATION_TIMEOUT = 10.0

INVALID_PARAMS = -32602

PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5E"
    "rkJggg=="
)

WATCHED = "test://watched-resource"
#: The admin API's key of `WATCHED`: one percent-encoded path segment.
WATCHED_KEY = quote(WATCHED, safe="")


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


def watched(text: str) -> dict[str, object]:
    """A version of the watched resource with `text` as its contents."""
    return {"content": {"name": "watched-resource", "mime_type": "text/plain", "text": text}}


# resources/subscribe is the 2025-era way (2026-07-28 has subscriptions/listen), and the session
# this client opens with `initialize` is of that era: the SDK's deprecation warning is expected.
@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_other_content_templates_completion_and_resource_updates(
    conformance_service: ConfigService,
) -> None:
    service = conformance_service
    updated: list[str] = []
    heard_update = asyncio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(message.params.uri)
            heard_update.set()

    async with (
        httpx2.AsyncClient(headers={"x-org-id": "acme"}, timeout=30) as http,
        streamable_http_client(endpoint(service, "conformance"), http_client=http) as (read, write),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        initialized = await session.initialize()
        image = await session.get_prompt("test_prompt_with_image")
        embedded = await session.get_prompt(
            "test_prompt_with_embedded_resource", {"resourceUri": "test://given"}
        )
        resources = await session.list_resources()
        templates = await session.list_resource_templates()
        through_template = await session.read_resource("test://template/42/data")
        completed = await session.complete(
            types.PromptReference(name="test_prompt_with_arguments"),
            {"name": "arg1", "value": "par"},
        )
        before = await session.read_resource(WATCHED)
        await session.subscribe_resource(WATCHED)
        # Another org's version first: acme's contents did not change, so acme hears nothing
        # of it (events are handled in revision order: it would come before acme's own).
        service.admin(
            "PUT",
            f"/orgs/globex/servers/conformance/resources/{WATCHED_KEY}",
            watched("Globex's watched content."),
        )
        service.admin(
            "PUT",
            f"/orgs/acme/servers/conformance/resources/{WATCHED_KEY}",
            watched("Acme's watched content."),
        )
        await asyncio.wait_for(heard_update.wait(), NOTIFICATION_TIMEOUT)
        after = await session.read_resource(WATCHED)

    capabilities = initialized.capabilities
    assert capabilities.resources is not None and capabilities.resources.subscribe
    assert capabilities.completions is not None
    assert [m.content for m in image.messages] == [
        types.ImageContent(data=PNG_BASE64, mime_type="image/png"),
        types.TextContent(text="Please analyze the image above."),
    ]
    assert embedded.messages[0].content == types.EmbeddedResource(
        resource=types.TextResourceContents(
            uri="test://given",
            mime_type="text/plain",
            text="Embedded resource content for testing.",
        )
    )
    assert WATCHED in [r.uri for r in resources.resources]
    assert "test://template/{id}/data" not in [r.uri for r in resources.resources]
    assert [t.uri_template for t in templates.resource_templates] == ["test://template/{id}/data"]
    assert through_template.contents == [
        types.TextResourceContents(
            uri="test://template/42/data",
            mime_type="application/json",
            text='{"id":"42","templateTest":true,"data":"Data for ID: 42"}',
        )
    ]
    assert completed.completion.values == ["paris", "park"]
    assert before.contents[0].text == "Watched resource content."
    assert updated == [WATCHED]
    assert after.contents[0].text == "Acme's watched content."


async def test_a_prompt_embeds_the_orgs_own_version_of_a_resource(
    conformance_service: ConfigService,
) -> None:
    service = conformance_service
    service.admin("POST", "/orgs", {"slug": "initech", "name": "Initech"})
    service.admin(
        "PUT",
        "/defaults/servers/conformance/prompts/embed-watched",
        {"content": {"messages": [{"role": "user", "resource": {"uri": WATCHED}}]}},
    )
    for org in ("acme", "globex"):
        service.admin(
            "PUT",
            f"/orgs/{org}/servers/conformance/resources/{WATCHED_KEY}",
            watched(f"{org}'s watched content."),
        )
    service.wait_until_published()

    embedded: dict[str, types.ContentBlock] = {}
    for org in ("acme", "globex", "initech"):
        async with (
            httpx2.AsyncClient(headers={"x-org-id": org}, timeout=30) as http,
            streamable_http_client(endpoint(service, "conformance"), http_client=http) as (
                read,
                write,
            ),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            embedded[org] = (await session.get_prompt("embed-watched")).messages[0].content

    def resource(text: str) -> types.EmbeddedResource:
        return types.EmbeddedResource(
            resource=types.TextResourceContents(uri=WATCHED, mime_type="text/plain", text=text)
        )

    assert embedded == {
        "acme": resource("acme's watched content."),
        "globex": resource("globex's watched content."),
        "initech": resource("Watched resource content."),
    }, "each org's own version; the default for an org without one"
