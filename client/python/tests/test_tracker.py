"""The tracker's rules, on a cache and feed of its own: duplicates are ignored, a default
concerns every org, and a gap marks everything out of date."""

from __future__ import annotations

from mcp_config.v1 import config_pb2

from mcp_config_client import Changed, ViewKind
from mcp_config_client.cache import Cache, ViewId
from mcp_config_client.changes import ChangeFeed
from mcp_config_client.tracker import Tracker

ACME = ViewId(ViewKind.PROMPTS, "acme", "github")
GLOBEX = ViewId(ViewKind.PROMPTS, "globex", "github")
SLACK = ViewId(ViewKind.PROMPTS, "acme", "slack")


def event(
    revision: int, previous: int, org: str, server: str = "github"
) -> config_pb2.InvalidationEvent:
    return config_pb2.InvalidationEvent(
        revision=revision,
        previous_revision=previous,
        org_id=org,
        server=server,
        kind=config_pb2.PROMPTS,
    )


def tracked() -> tuple[Cache, Tracker]:
    cache = Cache()
    for view_id in (ACME, GLOBEX, SLACK):
        cache.store(view_id, 1, [], cache.epoch)
    return cache, Tracker(cache, ChangeFeed())


def current(cache: Cache, view_id: ViewId) -> bool:
    entry = cache.get(view_id)
    return entry is not None and entry.current


def test_a_default_change_concerns_every_org_of_that_server_only() -> None:
    cache, tracker = tracked()
    tracker.on_event(event(5, 4, ""))
    assert not current(cache, ACME) and not current(cache, GLOBEX)
    assert current(cache, SLACK)
    assert Changed("", "github", ViewKind.PROMPTS).concerns("globex")


def test_a_gap_marks_every_view_and_a_replayed_event_is_ignored() -> None:
    cache, tracker = tracked()
    tracker.on_event(event(5, 4, "globex"))
    assert current(cache, ACME) and current(cache, SLACK)
    cache.store(GLOBEX, 5, [], cache.epoch)
    tracker.on_event(event(5, 4, "globex"))
    assert current(cache, GLOBEX), "revision 5 again: already applied"
    tracker.on_event(event(7, 6, "globex"))
    assert not any(current(cache, v) for v in (ACME, GLOBEX, SLACK)), "revision 6 was missed"


def test_an_answer_older_than_the_event_is_not_kept_as_current() -> None:
    cache, tracker = tracked()
    tracker.on_event(event(9, 8, "acme"))
    cache.store(ACME, 1, [], cache.epoch)
    assert not current(cache, ACME), "the service answered from before revision 9"
    cache.store(ACME, 9, [], cache.epoch)
    assert current(cache, ACME)


def test_a_progress_event_is_no_change_unless_the_tracker_is_behind() -> None:
    cache, tracker = tracked()
    tracker.on_event(event(5, 4, "acme"))
    cache.store(ACME, 5, [], cache.epoch)
    progress = config_pb2.InvalidationEvent(revision=5, previous_revision=5)

    tracker.on_event(progress)
    assert current(cache, ACME), "at the latest: nothing changed"
    assert tracker.last == 5

    tracker.on_event(config_pb2.InvalidationEvent(revision=7, previous_revision=7))
    assert not current(cache, ACME), "behind: every view is out of date"
    assert tracker.last == 7
