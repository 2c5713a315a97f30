"""`ConfigLoader` over `FakeConfigClient`, as a user's unit test of an MCP server drives it: the
SDK's in-process client lists and gets prompts and reads resources of its org from the views the
test set, is told `list_changed` when the test sets them again (on either protocol), and gets
the server's fallback while the fake fails as in an outage, then the fake's views once it
answers again. No service, no network."""

from __future__ import annotations

import asyncio
from typing import Any

import mcp_types as types
import pytest
from helpers import PROPAGATION
from mcp import Client
from mcp.client.subscriptions import PromptsListChanged
from mcp.server import MCPServer, Server
from mcp.shared.exceptions import MCPError
from mcp_config.v1 import config_pb2

from mcp_config_client import Unavailable
from mcp_config_client.loader import ConfigLoader, Fallback, FallbackPrompt
from mcp_config_client.testing import FakeConfigClient


def prompt(name: str, text: str) -> config_pb2.Prompt:
    return config_pb2.Prompt(
        name=name,
        arguments=[config_pb2.PromptArgument(name="repo", required=True)],
        messages=[config_pb2.PromptMessage(role="user", text=text)],
    )


REVIEW = prompt("review-pr", "Review {{ repo }}.")
ACME_REVIEW = prompt("review-pr", "Review {{ repo }}, Acme's way.")
GUIDE = config_pb2.Resource(
    uri="file:///guide.md", name="guide", mime_type="text/markdown", text="# Guide"
)

FALLBACK = Fallback(
    prompts=[
        FallbackPrompt(
            types.Prompt(name="hard-coded"),
            [types.PromptMessage(role="user", content=types.TextContent(text="Hard-coded."))],
        )
    ]
)


def faked() -> FakeConfigClient:
    fake = FakeConfigClient()
    fake.set_prompts("", "github", [REVIEW])
    fake.set_resources("", "github", [GUIDE])
    fake.set_prompts("acme", "github", [ACME_REVIEW])
    return fake


def text_of(result: types.GetPromptResult) -> str:
    content = result.messages[0].content
    assert isinstance(content, types.TextContent)
    return content.text


async def names(client: Client) -> list[str]:
    """The prompts listed, asked of the server (not the SDK client's cache of lists)."""
    return [p.name for p in (await client.list_prompts(cache_mode="bypass")).prompts]


async def test_a_server_serves_the_fakes_views_and_tells_its_client_when_they_change() -> None:
    fake = faked()
    server: Server[Any] = Server("github")
    ConfigLoader(fake, server="github").install(server, org_of=lambda _: "acme")
    prompts_changed = asyncio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.PromptListChangedNotification):
            prompts_changed.set()

    async with Client(server, mode="legacy", message_handler=on_message) as mcp:
        before = await names(mcp)
        review = await mcp.get_prompt("review-pr", {"repo": "acme/api"})
        with pytest.raises(MCPError) as missing:
            await mcp.get_prompt("review-pr", {})
        guide = await mcp.read_resource("file:///guide.md")
        fake.set_prompts("acme", "github", [ACME_REVIEW, prompt("triage", "Triage {{ repo }}.")])
        await asyncio.wait_for(prompts_changed.wait(), PROPAGATION)
        after = await names(mcp)

    assert before == ["review-pr"]
    assert text_of(review) == "Review acme/api, Acme's way."
    assert missing.value.error.code == types.INVALID_PARAMS
    assert missing.value.error.message == 'arguments.repo: missing argument "repo"'
    assert guide.contents == [
        types.TextResourceContents(
            uri="file:///guide.md", mime_type="text/markdown", text="# Guide"
        )
    ]
    assert after == ["review-pr", "triage"]


async def test_a_modern_client_is_told_on_its_listen_stream() -> None:
    fake = faked()
    mcp_server = MCPServer("github")
    ConfigLoader(fake, server="github").install(mcp_server, org_of=lambda _: "globex")

    async with Client(mcp_server) as mcp, mcp.listen(prompts_list_changed=True) as stream:
        fake.set_prompts("acme", "github", [REVIEW])  # another org's: not told
        fake.set_prompts("", "github", [prompt("review-pr", "Review {{ repo }} now.")])
        event = await asyncio.wait_for(anext(stream), PROPAGATION)
        review = await mcp.get_prompt("review-pr", {"repo": "globex/web"})

    assert event == PromptsListChanged()
    assert text_of(review) == "Review globex/web now.", "globex reads the defaults"


async def test_an_outage_serves_the_fallback_until_the_fake_answers_again() -> None:
    fake = faked()
    server: Server[Any] = Server("github")
    ConfigLoader(fake, server="github", fallback=FALLBACK).install(server, org_of=lambda _: "acme")
    prompts_changed = asyncio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.PromptListChangedNotification):
            prompts_changed.set()

    fake.fail_with(Unavailable("the mcp-config service is unreachable"))
    async with Client(server, mode="legacy", message_handler=on_message) as mcp:
        during = await names(mcp)
        hard_coded = await mcp.get_prompt("hard-coded", {})
        with pytest.raises(MCPError) as unreadable:
            await mcp.read_resource("file:///guide.md")  # no fallback resources
        fake.fail_with(None)
        # The loader asks again every second; the view it gets back is announced.
        await asyncio.wait_for(prompts_changed.wait(), PROPAGATION)
        after = await names(mcp)

    assert during == ["hard-coded"]
    assert text_of(hard_coded) == "Hard-coded."
    assert unreadable.value.error.code == types.INTERNAL_ERROR
    assert unreadable.value.error.message == "the mcp-config service is unreachable"
    assert after == ["review-pr"]
