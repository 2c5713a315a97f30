"""`org_unknown`: an org the service does not know reads the defaults, and the view says so,
which tells it from a registered org without overrides; registering the org clears it (the
views move, so a `not_modified` answer never keeps a flag that no longer holds), and the cache
and the snapshot keep it."""

from __future__ import annotations

import asyncio
from typing import Any
from pathlib import Path

import pytest
from helpers import PROPAGATION

from mcp_config_client import Changed, ConfigClient, Subscription, View, ViewKind, Watch
from mcp_config_client.cache import Cache, Trust, ViewId
from mcp_config_client.snapshot import load_snapshot, save_snapshot
from mcp_config_client.testing import ConfigService

#: Never registered in the example bundle (acme and globex are).
NEWCO = "newco"


def register(service: ConfigService, org: str) -> None:
    """Creates `org` through the admin API, as an operator would."""
    service.admin("POST", "/orgs", {"slug": org, "name": org.title()})


async def announced(changes: Subscription, org: str, server: str) -> set[ViewKind]:
    """Waits (bounded) until both of `org`'s views on `server` were announced changed (by an
    event of the org, or of a default, which concerns it too); returns the kinds seen."""
    seen: set[ViewKind] = set()

    async def until_both() -> None:
        async for change in changes:
            if isinstance(change, Changed) and change.server == server and change.concerns(org):
                seen.add(change.kind)
                if seen == set(ViewKind):
                    return

    await asyncio.wait_for(until_both(), PROPAGATION)
    return seen


async def test_an_unknown_org_reads_the_defaults_flagged_org_unknown(
    service: ConfigService,
) -> None:
    async with ConfigClient(service.endpoint, source=None) as client:
        unknown = await client.prompts(NEWCO, "github")
        unknown_resources = await client.resources(NEWCO, "github")
        defaults = await client.prompts("", "github")
        defaults_resources = await client.resources("", "github")
        acme = await client.prompts("acme", "github")
        acme_resources = await client.resources("acme", "github")

    assert unknown.org_unknown and unknown_resources.org_unknown
    assert list(unknown.items) == list(defaults.items)
    assert list(unknown_resources.items) == list(defaults_resources.items)
    assert not defaults.org_unknown and not defaults_resources.org_unknown, "no org: not unknown"
    assert not acme.org_unknown and not acme_resources.org_unknown


async def test_registering_an_org_is_announced_and_its_next_read_is_not_org_unknown(
    service: ConfigService,
) -> None:
    async with ConfigClient(service.endpoint, source=Watch()) as client:
        await client.wait_for_source(PROPAGATION)
        before = await client.prompts(NEWCO, "github")
        before_resources = await client.resources(NEWCO, "github")
        async with client.changes() as changes:
            register(service, NEWCO)
            kinds = await announced(changes, NEWCO, "github")
        after = await client.prompts(NEWCO, "github")
        after_resources = await client.resources(NEWCO, "github")

    assert before.org_unknown and before_resources.org_unknown
    assert kinds == {ViewKind.PROMPTS, ViewKind.RESOURCES}
    assert not after.org_unknown and not after_resources.org_unknown
    assert after.stale is None and after.revision > before.revision
    assert list(after.items) == list(before.items), "no overrides: still the defaults"
    assert list(after_resources.items) == list(before_resources.items)


async def test_a_revalidated_view_keeps_org_unknown_until_the_org_is_registered(
    service: ConfigService,
) -> None:
    # revalidate_after=0: every read asks the service, with the revision the client holds.
    async with ConfigClient(service.endpoint, source=None, revalidate_after=0) as client:
        first = await client.prompts(NEWCO, "github")
        unchanged = await client.prompts(NEWCO, "github")
        register(service, NEWCO)

        # The registration reaches the service's own views through its relay and Redis, a
        # moment after the admin API answered: the client asks again until it has.
        async def until_registered() -> View[Any]:
            while (view := await client.prompts(NEWCO, "github")).org_unknown:
                await asyncio.sleep(0.05)
            return view

        registered = await asyncio.wait_for(until_registered(), PROPAGATION)

    assert unchanged.items is first.items, "a not_modified answer: the cached view"
    assert first.org_unknown and unchanged.org_unknown, "kept across not_modified"
    assert not registered.org_unknown and registered.revision > first.revision


async def test_a_snapshot_keeps_org_unknown(service: ConfigService, tmp_path: Path) -> None:
    snapshot = tmp_path / "views.json"
    async with ConfigClient(service.endpoint, source=None, snapshot=snapshot) as warm:
        await warm.prompts(NEWCO, "github")
        await warm.resources("acme", "github")
    service.kill()

    async with ConfigClient(service.endpoint, source=None, snapshot=snapshot, timeout=1.0) as cold:
        unknown = await cold.prompts(NEWCO, "github")
        acme = await cold.resources("acme", "github")

    assert unknown.stale is not None and unknown.org_unknown
    assert acme.stale is not None and not acme.org_unknown


def test_org_unknown_round_trips_through_a_snapshot_file(tmp_path: Path) -> None:
    written = Cache()
    written.store(ViewId(ViewKind.PROMPTS, NEWCO, "github"), 7, (), Trust.CURRENT, True)
    written.store(ViewId(ViewKind.RESOURCES, "acme", "github"), 8, (), Trust.CURRENT, False)
    save_snapshot(tmp_path / "views.json", written)

    read = Cache()
    load_snapshot(tmp_path / "views.json", read)

    flags = {view_id.org: entry.org_unknown for view_id, entry in read.items()}
    assert flags == {NEWCO: True, "acme": False}


@pytest.mark.parametrize("writer", ["python", "typescript", "rust"])
def test_a_snapshot_from_before_org_unknown_reads_as_registered_orgs(writer: str) -> None:
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / f"snapshot-{writer}.json"
    cache = Cache()
    load_snapshot(fixture, cache)

    assert cache.items(), "the fixture has views"
    assert not any(entry.org_unknown for _, entry in cache.items())
