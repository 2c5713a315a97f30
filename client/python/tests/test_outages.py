"""Stale-if-error: while the service is down the last known view is served, flagged stale with
its age, up to `max_stale`; a snapshot lets a cold process do the same."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from helpers import PROPAGATION

from mcp_config_client import ConfigClient, Unavailable, Watch
from mcp_config_client.testing import ConfigService


async def test_a_stopped_service_is_served_stale_then_refused_then_fresh_again(
    service: ConfigService,
) -> None:
    async with ConfigClient(service.endpoint, source=Watch(), max_stale=1.0, timeout=1.0) as client:
        await client.wait_for_source(PROPAGATION)
        fresh = await client.prompts("acme", "github")
        service.kill()
        await asyncio.sleep(0.3)
        stale = await client.prompts("acme", "github")
        await asyncio.sleep(1.0 - stale.age + 0.1)
        with pytest.raises(Unavailable) as refused:
            await client.prompts("acme", "github")
        service.start()
        # The Watch stream reconnecting shows the service is reachable again.
        await client.wait_for_source(PROPAGATION)
        again = await client.prompts("acme", "github")

    assert not fresh.stale
    assert stale.stale and 0.3 <= stale.age < 1.0
    assert [p.name for p in stale.items] == [p.name for p in fresh.items]
    assert "no view younger than 1 s" in refused.value.message
    assert not again.stale and again.revision == fresh.revision


async def test_a_cold_client_starts_from_its_snapshot_while_the_service_is_down(
    service: ConfigService, tmp_path: Path
) -> None:
    snapshot = tmp_path / "views.json"
    async with ConfigClient(service.endpoint, source=None, snapshot=snapshot) as warm:
        known = await warm.prompts("globex", "github")
    service.kill()

    async with ConfigClient(service.endpoint, source=None, snapshot=snapshot, timeout=1.0) as cold:
        served = await cold.prompts("globex", "github")
        with pytest.raises(Unavailable):
            await cold.prompts("acme", "github")

    assert served.stale
    assert served.revision == known.revision
    assert [p.name for p in served.items] == ["release-notes", "review-pr"]
