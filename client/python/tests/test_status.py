"""The client's status (C-STATUS-1, C-STATUS-2): starting, ready once a call reached the service,
stale (since when, why, never an address) while calls cannot, recovered when they can again;
each change told once. And a Redis source that cannot connect says so once (C-SRC-10)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
from helpers import eventually
from proxy import Proxy

from mcp_config_client import ConfigClient, Redis, StatusEvent
from mcp_config_client.client import BREAKER_THRESHOLD
from mcp_config_client.testing import ConfigService, free_port

#: The breaker's cool-down here, short so that recovery comes soon after the service is back.
COOLDOWN = 0.5


@pytest.fixture
async def proxy(service: ConfigService) -> AsyncIterator[Proxy]:
    async with Proxy(service.grpc_port) as proxy:
        yield proxy


def _record(client: ConfigClient) -> list[StatusEvent]:
    events: list[StatusEvent] = []
    client.on_status(events.append)
    return events


async def _stale_until_event(client: ConfigClient, events: list[StatusEvent], count: int) -> None:
    """Reads (each may be served stale) until `count` events were told."""

    async def told() -> bool | None:
        await client.prompts("acme", "github")
        return True if len(events) >= count else None

    await eventually(told, f"{count} status events")


async def test_s_status_1_a_stopped_service_is_stale_once_then_recovered_once(
    service: ConfigService, caplog: pytest.LogCaptureFixture
) -> None:
    async with ConfigClient(
        service.endpoint, source=None, revalidate_after=0.0, timeout=1.0, breaker_cooldown=COOLDOWN
    ) as client:
        events = _record(client)
        # A failing listener is logged and does not keep the others from being told.
        client.on_status(lambda event: 1 / 0)
        dropped: list[StatusEvent] = []
        client.on_status(dropped.append)()
        assert client.status.state == "starting" and client.status.since is None

        await client.prompts("acme", "github")
        assert [e.type for e in events] == ["ready"]
        assert client.status.state == "ready"

        before = time.time()
        service.kill()
        await _stale_until_event(client, events, 2)
        # Repeated failures, past the breaker's threshold too, tell nothing more.
        for _ in range(BREAKER_THRESHOLD + 3):
            view = await client.prompts("acme", "github")
            assert view.stale is not None
        stale = client.status
        assert [e.type for e in events] == ["ready", "stale"]
        assert stale.state == "stale" and stale.why and "127.0.0.1" not in stale.why
        assert stale.since is not None and before <= stale.since <= time.time()
        assert events[1].since == stale.since and events[1].why == stale.why

        service.start()

        async def fresh() -> bool | None:
            return True if (await client.prompts("acme", "github")).stale is None else None

        await eventually(fresh, "a fresh view once the service is back")
        for _ in range(3):
            await client.prompts("acme", "github")

    assert [e.type for e in events] == ["ready", "stale", "recovered"]
    recovered = events[2]
    assert recovered.stale_for is not None
    assert recovered.stale_for == pytest.approx(recovered.since - stale.since)
    assert client.status.state == "ready" and client.status.since == recovered.since
    assert dropped == []
    assert any("status listener failed" in r.message for r in caplog.records)


async def test_s_status_1_a_hung_service_is_stale_timed_out_then_recovered(
    service: ConfigService, proxy: Proxy
) -> None:
    async with ConfigClient(
        proxy.endpoint, source=None, revalidate_after=0.0, timeout=1.0, breaker_cooldown=COOLDOWN
    ) as client:
        events = _record(client)
        await client.prompts("acme", "github")
        proxy.blackhole()
        await _stale_until_event(client, events, 2)
        for _ in range(BREAKER_THRESHOLD + 2):
            await client.prompts("acme", "github")
        await asyncio.sleep(1.5)  # the calls started meanwhile time out too
        assert [e.type for e in events] == ["ready", "stale"]
        assert client.status.why == "the service did not answer in time"
        proxy.heal()

        async def recovered() -> bool | None:
            await client.prompts("acme", "github")
            return True if client.status.state == "ready" else None

        await eventually(recovered, "the status ready again")

    assert [e.type for e in events] == ["ready", "stale", "recovered"]


async def test_s_src_10_a_refused_redis_is_logged_once_and_reads_go_on(
    service: ConfigService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mcp_config_client")
    closed = f"redis://127.0.0.1:{free_port()}"
    async with ConfigClient(service.endpoint, source=Redis(closed), read_budget=None) as client:
        deadline = time.monotonic() + 4.0  # several reconnection attempts (C-SRC-5)
        while time.monotonic() < deadline:
            view = await client.prompts("acme", "github")
            assert view.items and view.stale is None
            await asyncio.sleep(0.2)
        attempts = sum("Redis subscription failed" in r.message for r in caplog.records)

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert attempts >= 3
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert errors[0].name.startswith("mcp_config_client")
    assert "Redis source" in message and "mcp-config:invalidations" in message
    assert "check that Redis runs" in message


def test_c_src_10_a_bad_redis_url_fails_at_construction() -> None:
    with pytest.raises(ValueError):
        Redis("http://127.0.0.1:6379")
