"""Never wait on a hung service: a read that has a view it may serve stale waits `read_budget` for
the service, not the call timeout; after consecutive failures to reach the service the breaker
stops calls for a cool-down; an unreachable service's error names no address. The service hangs
behind a proxy that accepts connections and forwards nothing, or answers late through it. The
budget never hides an announced change: a read of a view older than one waits for it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from helpers import PROPAGATION, eventually, put_prompt, texts
from mcp_config.v1 import config_pb2
from proxy import Proxy

from mcp_config_client import Changed, ConfigClient, Unavailable, View, ViewKind
from mcp_config_client.client import BREAKER_THRESHOLD
from mcp_config_client.testing import ConfigService, free_port

#: A bound on a read that must not wait for the call timeout (30 s below), never a timing check.
PROMPTLY = 5.0

#: Long enough that the reads below fit well inside it on a loaded machine.
COOLDOWN = 3.0

#: Time for a timed-out call's last frames (its RST_STREAM) to reach the proxy.
SETTLE = 0.3

#: The proxy's delay each way: an answer takes twice this, well past the 0.05 s read budget.
DELAY = 0.3


@pytest.fixture
async def proxy(service: ConfigService) -> AsyncIterator[Proxy]:
    async with Proxy(service.grpc_port) as proxy:
        yield proxy


async def test_s_hung_1_a_hung_service_leaves_a_cached_view_served_stale_then_the_change_arrives(
    service: ConfigService, proxy: Proxy
) -> None:
    # No source and revalidate_after 0: every read asks the service.
    async with ConfigClient(
        proxy.endpoint, source=None, revalidate_after=0.0, timeout=30.0
    ) as client:
        fresh = await client.prompts("acme", "github")
        proxy.blackhole()
        stale = await asyncio.wait_for(client.prompts("acme", "github"), PROMPTLY)
        again = await asyncio.wait_for(client.prompts("acme", "github"), PROMPTLY)
        put_prompt(service, "acme", "review-pr", "saved while the service hung")
        proxy.heal()

        async def changed() -> View[config_pb2.Prompt] | None:
            view = await client.prompts("acme", "github")
            return view if texts(view)["review-pr"] == "saved while the service hung" else None

        seen = await eventually(changed, "the change saved while the service hung")

    assert fresh.stale is None
    assert stale.stale is not None and again.stale is not None, "the cached view, served stale"
    assert stale.revision == fresh.revision
    assert [p.name for p in stale.items] == [p.name for p in fresh.items]
    assert seen.revision > fresh.revision


async def test_s_hung_1_the_breaker_stops_calls_after_consecutive_failures_until_the_cool_down(
    service: ConfigService, proxy: Proxy
) -> None:
    async with ConfigClient(
        proxy.endpoint,
        source=None,
        revalidate_after=0.0,
        timeout=0.5,
        breaker_cooldown=COOLDOWN,
    ) as client:
        await client.prompts("acme", "github")
        proxy.blackhole()
        # Nothing cached for globex: each read waits the call timeout and fails.
        for _ in range(BREAKER_THRESHOLD):
            with pytest.raises(Unavailable):
                await client.prompts("globex", "github")
        opened = time.monotonic()
        await asyncio.sleep(SETTLE)
        sent = proxy.received
        # Open: a cached view is served stale, an uncached read fails, nothing is sent.
        cached = [await client.prompts("acme", "github") for _ in range(5)]
        for _ in range(5):
            with pytest.raises(Unavailable) as refused:
                await client.prompts("globex", "github")
        # A prompt of the cached view is rendered locally (C-RENDER-1); of a view not held, not.
        arguments = {"repo": "acme/api", "number": "7"}
        local = await client.prompt("acme", "github", "review-pr", arguments)
        with pytest.raises(Unavailable):
            await client.prompt("globex", "github", "review-pr", arguments)
        sent_while_open = proxy.received - sent
        assert time.monotonic() - opened < COOLDOWN, "the reads above outlasted the cool-down"

        # Half-open: one call goes through; it fails, so the breaker opens again.
        await asyncio.sleep(COOLDOWN - (time.monotonic() - opened))
        with pytest.raises(Unavailable):
            await client.prompts("globex", "github")
        sent_by_probe = proxy.received - sent - sent_while_open
        reopened = time.monotonic()
        await asyncio.sleep(SETTLE)
        before = proxy.received
        with pytest.raises(Unavailable):
            await client.prompts("globex", "github")
        sent_while_reopened = proxy.received - before
        assert time.monotonic() - reopened < COOLDOWN

        # Healed: after the cool-down the probe succeeds and closes the breaker.
        proxy.heal()
        await asyncio.sleep(COOLDOWN)
        globex = await client.prompts("globex", "github")
        acme = await client.prompts("acme", "github")

    assert all(view.stale is not None for view in cached)
    assert "acme/api" in local.messages[0].text
    assert "unreachable" in refused.value.message
    assert sent_while_open == 0, "no request while the breaker is open"
    assert sent_by_probe > 0, "one request after the cool-down"
    assert sent_while_reopened == 0, "a failed probe opens the breaker again"
    assert globex.stale is None and [p.name for p in globex.items] == ["release-notes", "review-pr"]
    assert acme.stale is None, "closed again: reads ask the service"


async def test_s_hung_2_a_read_after_an_announced_change_waits_for_it_past_the_read_budget(
    service: ConfigService, proxy: Proxy
) -> None:
    # The Watch stream goes through the proxy too: the change is announced before the delay.
    async with ConfigClient(proxy.endpoint, timeout=30.0) as client:
        await client.wait_for_source(PROPAGATION)
        before = await client.prompts("acme", "github")
        async with client.changes() as changes:
            put_prompt(service, "acme", "review-pr", "announced before the read")

            async def announced() -> Changed:
                # The event's own notice (a flush's has revision 0 and raises no floor).
                async for change in changes:
                    if change == Changed("acme", "github", ViewKind.PROMPTS) and change.revision:
                        return change
                raise AssertionError("the change feed ended")

            change = await asyncio.wait_for(announced(), PROPAGATION)
        proxy.delay = DELAY
        after = await asyncio.wait_for(client.prompts("acme", "github"), PROMPTLY)

    assert before.stale is None
    assert change.revision > before.revision
    assert after.stale is None, "a view older than an announced change is not served stale"
    assert texts(after)["review-pr"] == "announced before the read"
    assert after.revision >= change.revision


async def test_s_hung_2_a_merely_old_view_is_served_stale_past_the_read_budget(
    service: ConfigService, proxy: Proxy
) -> None:
    # revalidate_after 0: every read revalidates, with no change announced.
    async with ConfigClient(proxy.endpoint, revalidate_after=0.0, timeout=30.0) as client:
        await client.wait_for_source(PROPAGATION)
        fresh = await client.prompts("acme", "github")
        proxy.delay = DELAY
        old = await asyncio.wait_for(client.prompts("acme", "github"), PROMPTLY)

    assert fresh.stale is None
    # The answer takes at least 2 × DELAY: a view not marked stale would mean the read waited.
    assert old.stale is not None, "served stale within the read budget"
    assert old.revision == fresh.revision
    assert [p.name for p in old.items] == [p.name for p in fresh.items]


ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+|\[?[0-9a-f:]*::[0-9a-f:]*\]?|:\d+|ipv[46]|localhost")


async def test_s_hung_1_an_unreachable_service_error_names_no_address() -> None:
    dead = f"127.0.0.1:{free_port()}"
    async with ConfigClient(dead, source=None, timeout=2.0) as client:
        with pytest.raises(Unavailable) as listing:
            await client.prompts("acme", "github")
        with pytest.raises(Unavailable) as rendering:
            await client.prompt("acme", "github", "review-pr", {"repo": "acme/api"})

    for error in (listing.value, rendering.value):
        assert "the mcp-config service is unreachable" in str(error)
        assert not ADDRESS.search(str(error)), str(error)
        # gRPC's own error, with the address, stays chained for logs.
        causes = []
        cause: BaseException | None = error
        while cause is not None:
            causes.append(cause)
            cause = cause.__cause__
        assert any(isinstance(c, grpc.aio.AioRpcError) for c in causes)
