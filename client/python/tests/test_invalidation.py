"""Invalidation: a change reaches the client through Watch or Redis, and whenever a message may
have been missed (a revision gap, a Redis restart) every view is revalidated."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio
from google.protobuf import json_format
from helpers import ACME_GITHUB_PROMPTS, PROPAGATION, eventually, next_change, put_prompt, texts
from mcp_config.v1 import config_pb2

from mcp_config_client import (
    Changed,
    ConfigClient,
    Lagged,
    Redis,
    Source,
    Subscription,
    View,
    ViewKind,
    Watch,
)
from mcp_config_client.testing import ConfigService, RedisServer
from mcp_config_client.tracker import is_progress

CHANNEL = "mcp-config:invalidations"


def source_named(name: str, redis_server: RedisServer) -> Source:
    return Watch() if name == "watch" else Redis(redis_server.url, CHANNEL)


async def heard_until(
    changes: Subscription, wanted: Changed, times: int
) -> list[Changed | Lagged]:
    """Every notification up to the `times`-th `wanted` one (bounded wait), and any already
    queued behind it."""
    heard: list[Changed | Lagged] = []

    async def until_wanted() -> None:
        async for change in changes:
            heard.append(change)
            if heard.count(wanted) == times:
                return

    await asyncio.wait_for(until_wanted(), PROPAGATION)
    changes.close()
    heard.extend([change async for change in changes])
    return heard


def put_default(service: ConfigService, server: str, name: str, text: str) -> None:
    """Saves a default prompt of `server` (a change for every org of that server)."""
    service.admin(
        "PUT",
        f"/defaults/servers/{server}/prompts/{name}",
        {"content": {"messages": [{"role": "user", "text": text}]}},
    )


@pytest.mark.parametrize("via", ["watch", "redis"])
async def test_s_inv_1_an_admin_edit_is_announced_and_seen_by_the_next_read(
    via: str, service: ConfigService, redis_server: RedisServer
) -> None:
    async with ConfigClient(service.endpoint, source=source_named(via, redis_server)) as client:
        await client.wait_for_source(PROPAGATION)
        before = await client.prompts("acme", "github")
        async with client.changes() as changes:
            put_prompt(service, "acme", "review-pr", "Review {{ repo }} in one line.")
            await next_change(changes, ACME_GITHUB_PROMPTS)
        after = await client.prompts("acme", "github")

    assert texts(after)["review-pr"] == "Review {{ repo }} in one line."
    assert after.revision > before.revision
    assert after.stale is None


async def test_s_inv_2_a_default_edit_concerns_every_org_of_that_server(service: ConfigService) -> None:
    async with ConfigClient(service.endpoint, source=Watch()) as client:
        await client.wait_for_source(PROPAGATION)
        await client.prompts("globex", "github")
        async with client.changes() as changes:
            service.admin(
                "PUT",
                "/defaults/servers/github/prompts/release-notes",
                {"content": {"messages": [{"role": "user", "text": "Notes, briefly."}]}},
            )
            default_change = Changed("", "github", ViewKind.PROMPTS)
            await next_change(changes, default_change)
        globex = await client.prompts("globex", "github")

    assert default_change.concerns("globex") and default_change.concerns("acme")
    assert texts(globex)["release-notes"] == "Notes, briefly."


async def test_s_gap_1_a_revision_gap_marks_every_view_out_of_date(
    service: ConfigService, redis_server: RedisServer
) -> None:
    publisher = redis.asyncio.Redis.from_url(redis_server.url)
    async with ConfigClient(service.endpoint, source=Redis(redis_server.url, CHANNEL)) as client:
        await client.wait_for_source(PROPAGATION)
        await client.prompts("acme", "github")
        await client.resources("globex", "slack")
        service.kill()
        served_from_cache = await client.prompts("acme", "github")

        async with client.changes() as changes:
            # Revision 1001 never arrives: the client must not trust anything it holds.
            for revision, previous in [(1000, 999), (1002, 1001)]:
                event = {
                    "revision": str(revision),
                    "previousRevision": str(previous),
                    "orgId": "initech",
                    "server": "jira",
                    "kind": "PROMPTS",
                }
                await publisher.publish(CHANNEL, json.dumps(event))
            await next_change(changes, ACME_GITHUB_PROMPTS)
            await next_change(changes, Changed("globex", "slack", ViewKind.RESOURCES))
        revalidated = await client.prompts("acme", "github")
    await publisher.aclose()

    assert served_from_cache.stale is None, "no invalidation yet: served from the cache as current"
    assert revalidated.stale is not None, "after the gap the client asked the (stopped) service"


async def test_s_redis_1_the_client_recovers_from_a_redis_restart(
    service: ConfigService, redis_server: RedisServer
) -> None:
    async with ConfigClient(service.endpoint, source=Redis(redis_server.url, CHANNEL)) as client:
        await client.wait_for_source(PROPAGATION)
        await client.prompts("acme", "github")
        async with client.changes() as changes:
            redis_server.kill()
            redis_server.start()
            # The reconnection's flush announces every view: anything may have been missed.
            await next_change(changes, ACME_GITHUB_PROMPTS)
        await client.wait_for_source(PROPAGATION)
        async with client.changes() as changes:
            put_prompt(service, "acme", "review-pr", "After the restart: {{ repo }}.")
            await next_change(changes, ACME_GITHUB_PROMPTS)
        after = await client.prompts("acme", "github")

    assert texts(after)["review-pr"] == "After the restart: {{ repo }}."
    assert after.stale is None


async def test_s_src_2_a_change_between_the_first_fetch_and_the_first_subscription_is_seen(
    service: ConfigService, tmp_path: Path
) -> None:
    # The client's Redis is down at first: its view is fetched before it can hear anything.
    late = RedisServer(tmp_path)
    async with ConfigClient(service.endpoint, source=Redis(late.url, CHANNEL)) as client:
        first = await client.prompts("acme", "github")
        put_prompt(service, "acme", "security-review", "Before the subscription: {{ repo }}.")
        late.start()
        await client.wait_for_source(PROPAGATION)
        after = await client.prompts("acme", "github")
    late.kill()

    assert after.revision > first.revision
    assert texts(after)["security-review"] == "Before the subscription: {{ repo }}."


async def test_s_src_6_a_silent_redis_channel_is_taken_as_cut_and_reads_revalidate(
    chatty_service: ConfigService, redis_server: RedisServer
) -> None:
    written = "Written while Redis hung: {{ repo }}."
    source = Redis(redis_server.url, CHANNEL)
    async with ConfigClient(chatty_service.endpoint, source=source, silence=3.0) as client:
        await client.wait_for_source(PROPAGATION)
        await client.prompts("acme", "github")
        redis_server.freeze()
        try:
            put_prompt(chatty_service, "acme", "review-pr", written)
            cached = await client.prompts("acme", "github")

            async def fresh() -> View[config_pb2.Prompt] | None:
                view = await client.prompts("acme", "github")
                return view if texts(view)["review-pr"] == written else None

            seen = await eventually(fresh, "a read after the channel went silent")
        finally:
            redis_server.thaw()

    assert texts(cached)["review-pr"] != written, "not told yet: the cached view"
    assert seen.stale is None


async def test_s_floor_2_an_answer_still_behind_after_the_retries_is_served_stale(
    service: ConfigService, redis_server: RedisServer
) -> None:
    publisher = redis.asyncio.Redis.from_url(redis_server.url)
    async with ConfigClient(service.endpoint, source=Redis(redis_server.url, CHANNEL)) as client:
        await client.wait_for_source(PROPAGATION)
        current = await client.prompts("acme", "github")
        latest = service.admin("GET", "/changes?limit=1000")["next_after"]
        # A change no replica has applied (forged on the channel): every answer stays behind.
        ahead = {
            "revision": str(latest + 1000),
            "previousRevision": str(latest),
            "orgId": "acme",
            "server": "github",
            "kind": "PROMPTS",
        }
        async with client.changes() as changes:
            await publisher.publish(CHANNEL, json.dumps(ahead))
            await next_change(changes, ACME_GITHUB_PROMPTS)
        behind = await client.prompts("acme", "github")
    await publisher.aclose()

    assert current.stale is None
    assert behind.revision == current.revision, "the answer the service has"
    assert behind.stale is not None, "older than a change the client was told of: not current"


@pytest.mark.parametrize("via", ["watch", "redis"])
async def test_s_src_9_a_client_of_one_server_hears_only_that_servers_changes(
    via: str, service: ConfigService, redis_server: RedisServer
) -> None:
    source = source_named(via, redis_server)
    async with ConfigClient(service.endpoint, source=source, servers=["github"]) as client:
        await client.wait_for_source(PROPAGATION)
        await client.prompts("acme", "github")
        await client.prompts("globex", "github")
        async with client.changes() as changes:
            put_prompt(service, "acme", "review-pr", "First: {{ repo }}.")
            # Between two of github's changes: neither heard nor a gap in github's chain.
            put_default(service, "slack", "one-server", "Only slack hears this.")
            put_prompt(service, "acme", "review-pr", f"Only github ({via}): {{{{ repo }}}}.")
            heard = await heard_until(changes, ACME_GITHUB_PROMPTS, 2)
        after = await client.prompts("acme", "github")

    # No slack change, and no flush (which would announce globex's view too).
    assert heard == [ACME_GITHUB_PROMPTS, ACME_GITHUB_PROMPTS]
    assert texts(after)["review-pr"] == f"Only github ({via}): {{{{ repo }}}}."
    assert after.stale is None


@pytest.mark.parametrize("via", ["watch", "redis"])
async def test_s_src_9_a_client_of_two_servers_follows_each_servers_chain_without_gaps(
    via: str, service: ConfigService, redis_server: RedisServer
) -> None:
    source = source_named(via, redis_server)
    slack_default = Changed("", "slack", ViewKind.PROMPTS)
    async with ConfigClient(service.endpoint, source=source, servers=["github", "slack"]) as client:
        await client.wait_for_source(PROPAGATION)
        await client.prompts("acme", "github")
        await client.prompts("acme", "slack")
        async with client.changes() as changes:
            put_prompt(service, "acme", "review-pr", "First: {{ repo }}.")
            put_default(service, "slack", "two-servers", "Slack hears this.")
            put_prompt(service, "acme", "review-pr", "Second: {{ repo }}.")
            heard = await heard_until(changes, ACME_GITHUB_PROMPTS, 2)

    # On Redis each server's channel chains its own events: slack's change is no gap in
    # github's channel, nor github's second change in slack's (a flush would announce
    # acme's slack view too).
    assert heard == [ACME_GITHUB_PROMPTS, slack_default, ACME_GITHUB_PROMPTS]


async def test_s_src_9_a_servers_own_progress_keeps_its_channel_followed(
    chatty_service: ConfigService, redis_server: RedisServer
) -> None:
    # The relay announces github's progress on github's channel every second here: a client that
    # hears that channel only is never silent for its three, and the progress (at github's last
    # change, not the newest of all) is no gap.
    observer = redis.asyncio.Redis.from_url(redis_server.url)
    observed = observer.pubsub()
    await observed.subscribe(f"{CHANNEL}:github")
    source = Redis(redis_server.url, CHANNEL)
    async with ConfigClient(
        chatty_service.endpoint, source=source, servers=["github"], silence=3.0
    ) as client:
        await client.wait_for_source(PROPAGATION)
        await client.prompts("acme", "github")
        async with client.changes() as changes:

            async def progress_beyond_the_silence_bound() -> None:
                # Six announcements span five seconds: past a cut (after three) and the
                # reconnection that would announce every view.
                progress = 0
                while progress < 6:
                    message = await observed.get_message(timeout=None)
                    if message is not None and message["type"] == "message":
                        event = json_format.Parse(message["data"], config_pb2.InvalidationEvent())
                        progress += is_progress(event)

            await asyncio.wait_for(progress_beyond_the_silence_bound(), 3 * PROPAGATION)
            changes.close()
            heard = [change async for change in changes]
        view = await client.prompts("acme", "github")
    await observed.aclose()
    await observer.aclose()

    assert heard == [], "no cut, no reconnection, no flush"
    assert view.stale is None
