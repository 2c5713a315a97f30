"""Stale-if-error: while the service is down the last known view is served, flagged stale with
its age, up to `max_stale`; a snapshot lets a cold process do the same."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import PROPAGATION, eventually
from mcp_config.v1 import config_pb2

from mcp_config_client import ConfigClient, Unavailable, View, Watch
from mcp_config_client.testing import ConfigService

#: Long enough that no stall of a loaded machine between the kill and the client noticing it
#: uses it up; every check below is an ordering the client's clock guarantees, not a duration.
MAX_STALE = 3.0


async def test_s_stale_1_a_stopped_service_is_served_stale_then_refused_then_fresh_again(
    service: ConfigService,
) -> None:
    async with ConfigClient(
        service.endpoint, source=Watch(), max_stale=MAX_STALE, timeout=1.0
    ) as client:
        await client.wait_for_source(PROPAGATION)
        fresh = await client.prompts("acme", "github")
        service.kill()
        killed = time.monotonic()

        asked = killed

        async def served_stale() -> View[config_pb2.Prompt] | None:
            # Until the client notices the lost Watch stream, the view is current and served
            # as fresh; then it asks the service, fails, and serves the view stale.
            nonlocal asked
            asked = time.monotonic()
            view = await client.prompts("acme", "github")
            return view if view.stale is not None else None

        async def refused() -> Unavailable | None:
            try:
                await client.prompts("acme", "github")
            except Unavailable as error:
                return error
            return None

        stale = await eventually(served_stale, "a stale view")
        refusal = await eventually(refused, "a refusal past max_stale")
        refused_at = time.monotonic()
        service.start()
        # The Watch stream reconnecting shows the service is reachable again.
        await client.wait_for_source(PROPAGATION)
        again = await client.prompts("acme", "github")

    assert fresh.stale is None
    assert stale.stale is not None
    assert [p.name for p in stale.items] == [p.name for p in fresh.items]
    # The service last confirmed the view before it was killed, and a stale view is never
    # older than max_stale.
    assert asked - killed <= stale.stale <= MAX_STALE
    # Refused only once the view was older than max_stale: at the latest, it was confirmed
    # `stale.age` before the read that served it stale began.
    assert refused_at - (asked - stale.stale) >= MAX_STALE
    assert "no view younger than 3 s" in refusal.message
    assert again.stale is None and again.revision == fresh.revision


async def test_s_src_6_a_hung_service_is_taken_as_cut_served_stale_then_fresh_again(
    chatty_service: ConfigService,
) -> None:
    # The service sends progress every second here; silent for three, the stream is cut.
    async with ConfigClient(
        chatty_service.endpoint, source=Watch(), silence=3.0, timeout=1.0
    ) as client:
        await client.wait_for_source(PROPAGATION)
        fresh = await client.prompts("acme", "github")
        # A frozen service closes nothing: only the silence bound tells the client.
        chatty_service.freeze()
        try:
            cached = await client.prompts("acme", "github")

            async def served_stale() -> View[config_pb2.Prompt] | None:
                view = await client.prompts("acme", "github")
                return view if view.stale is not None else None

            stale = await eventually(served_stale, "a stale view while the service hangs")
        finally:
            chatty_service.thaw()
        await client.wait_for_source(PROPAGATION)
        again = await client.prompts("acme", "github")

    assert cached.revision == fresh.revision
    assert [p.name for p in cached.items] == [p.name for p in fresh.items]
    assert stale.revision == fresh.revision, "the cached view, served stale"
    assert [p.name for p in stale.items] == [p.name for p in fresh.items]
    assert again.stale is None and again.revision == fresh.revision


async def test_s_snap_1_a_cold_client_starts_from_its_snapshot_while_the_service_is_down(
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

    assert served.stale is not None
    assert served.revision == known.revision
    assert [p.name for p in served.items] == ["release-notes", "review-pr"]


@pytest.mark.parametrize("writer", ["python", "typescript", "rust"])
async def test_s_snap_2_a_snapshot_written_by_another_client_is_read(writer: str) -> None:
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / f"snapshot-{writer}.json"
    # The fixture was written long ago: any age is accepted here.
    async with ConfigClient(
        "127.0.0.1:9", source=None, snapshot=fixture, timeout=0.5, max_stale=float("inf")
    ) as cold:
        prompts = await cold.prompts("globex", "github")
        resources = await cold.resources("acme", "github")

    assert prompts.stale is not None
    assert [p.name for p in prompts.items] == ["release-notes", "review-pr"]
    assert "file:///acme/oncall.md" in [r.uri for r in resources.items]
