"""What several test modules do: edit a prompt through the admin API, wait for the client to be
told, and wait for a condition rather than for a guessed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mcp_config.v1 import config_pb2

from mcp_config_client import Changed, Subscription, View, ViewKind
from mcp_config_client.testing import ConfigService

#: Bound on waiting for a change to propagate (a publish is milliseconds; a reconnection with
#: backoff a few seconds).
PROPAGATION = 10.0

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Calls `probe` until it returns something other than None, and returns that; fails after
    `PROPAGATION` seconds. A bound for a wait that would otherwise hang, never a timing check."""
    deadline = time.monotonic() + PROPAGATION
    while (found := await probe()) is None:
        assert time.monotonic() < deadline, f"{what}: not within {PROPAGATION} s"
        await asyncio.sleep(0.02)
    return found


def put_prompt(service: ConfigService, org: str, name: str, text: str) -> None:
    """Saves a new version of `org`'s prompt `name` with one message and a `repo` argument."""
    service.admin(
        "PUT",
        f"/orgs/{org}/servers/github/prompts/{name}",
        {
            "content": {
                "title": f"{name} (edited)",
                "arguments": [{"name": "repo", "required": True}],
                "messages": [{"role": "user", "text": text}],
            },
            "message": "edited by a test",
        },
    )


async def next_change(changes: Subscription, wanted: Changed) -> None:
    """Waits (bounded) until `wanted` is announced, skipping other notifications."""

    async def until_wanted() -> None:
        async for change in changes:
            if change == wanted:
                return

    await asyncio.wait_for(until_wanted(), PROPAGATION)


ACME_GITHUB_PROMPTS = Changed("acme", "github", ViewKind.PROMPTS)


def texts(prompts: View[config_pb2.Prompt]) -> dict[str, str]:
    """Prompt name -> its first message's text."""
    return {p.name: p.messages[0].text for p in prompts.items}
