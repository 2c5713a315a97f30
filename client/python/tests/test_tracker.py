"""The tracker's rules, on a cache and feed of its own: duplicates are ignored, a default
concerns every org (or only the orgs a rollout's event names), and a gap marks everything out of
date."""

from __future__ import annotations

from mcp_config.v1 import config_pb2

from mcp_config_client import Changed, ViewKind
from mcp_config_client.cache import Cache, Trust, ViewId
from mcp_config_client.changes import ChangeFeed
from mcp_config_client.tracker import Tracker

ACME = ViewId(ViewKind.PROMPTS, "acme", "github")
GLOBEX = ViewId(ViewKind.PROMPTS, "globex", "github")
SLACK = ViewId(ViewKind.PROMPTS, "acme", "slack")
ACME_CHANGED = Changed("acme", "github", ViewKind.PROMPTS)


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
    tracker = Tracker(cache, ChangeFeed())
    tracker.on_connected()
    for view_id in (ACME, GLOBEX, SLACK):
        cache.store(view_id, 1, [], Trust.CURRENT)
    return cache, tracker


def current(cache: Cache, view_id: ViewId) -> bool:
    entry = cache.get(view_id)
    return entry is not None and entry.current


def test_s_inv_2_a_default_change_concerns_every_org_of_that_server_only() -> None:
    cache, tracker = tracked()
    tracker.on_event(event(5, 4, ""))
    assert not current(cache, ACME) and not current(cache, GLOBEX)
    assert current(cache, SLACK)
    assert Changed("", "github", ViewKind.PROMPTS).concerns("globex")


def test_s_gap_2_a_gap_marks_every_view_and_a_replayed_event_is_ignored() -> None:
    cache, tracker = tracked()
    tracker.on_event(event(5, 4, "globex"))
    assert current(cache, ACME) and current(cache, SLACK)
    cache.store(GLOBEX, 5, [], Trust.CURRENT)
    tracker.on_event(event(5, 4, "globex"))
    assert current(cache, GLOBEX), "revision 5 again: already applied"
    tracker.on_event(event(7, 6, "globex"))
    assert not any(current(cache, v) for v in (ACME, GLOBEX, SLACK)), "revision 6 was missed"


def test_s_floor_1_an_answer_below_a_floor_is_behind_for_a_view_not_cached_yet_too() -> None:
    cache, tracker = tracked()
    generation = cache.generation
    resources = ViewId(ViewKind.RESOURCES, "initech", "github")
    initech = ViewId(ViewKind.PROMPTS, "initech", "github")
    tracker.on_event(event(9, 8, "initech"))
    assert cache.trust(initech, 8, generation) is Trust.BEHIND, "not cached, floor kept"
    assert cache.trust(initech, 9, generation) is Trust.CURRENT
    assert cache.trust(ACME, 8, generation) is Trust.CURRENT, "another org"
    assert cache.trust(resources, 1, generation) is Trust.CURRENT, "another kind"
    tracker.on_event(event(10, 9, ""))
    assert cache.trust(ACME, 9, generation) is Trust.BEHIND, "a default"


def test_a_change_is_announced_past_a_view_only_by_an_event_about_it_not_by_a_flush() -> None:
    cache, tracker = tracked()
    tracker.on_event(event(5, 4, "acme"))
    assert cache.announced_past(ACME, 1) and not cache.announced_past(ACME, 5)
    assert not cache.announced_past(GLOBEX, 1), "another org"
    tracker.on_event(event(6, 5, ""))
    assert cache.announced_past(GLOBEX, 5), "a default"
    assert not cache.announced_past(SLACK, 1), "another server"
    tracker.flush()
    assert not cache.announced_past(SLACK, 1), "a flush marks views old, announces no revision"


def test_s_flush_1_an_event_does_not_raise_the_generation_a_flush_does() -> None:
    cache, tracker = tracked()
    generation = cache.generation
    tracker.on_event(event(5, 4, "acme"))
    assert cache.trust(SLACK, 1, generation) is Trust.CURRENT, "covered by the floor"
    tracker.on_event(event(7, 6, "acme"))
    assert cache.trust(SLACK, 1, generation) is Trust.UNSURE, "asked before a flush"


def test_s_src_2_a_view_fetched_before_the_first_connection_is_not_trusted_after_it() -> None:
    cache = Cache()
    tracker = Tracker(cache, ChangeFeed())
    cache.store(ACME, 3, [], cache.trust(ACME, 3, cache.generation))
    tracker.on_connected()
    assert not current(cache, ACME), "a change before the subscription may be missing"


def test_s_src_4_a_disconnect_announces_nothing_and_the_reconnection_announces() -> None:
    cache = Cache()
    feed = ChangeFeed()
    tracker = Tracker(cache, feed)
    changes = feed.subscribe()
    tracker.on_connected()
    cache.store(ACME, 1, [], Trust.CURRENT)
    tracker.on_disconnected()
    assert not current(cache, ACME)
    assert not changes._pending, "nothing announced yet"
    tracker.on_connected()
    assert list(changes._pending) == [ACME_CHANGED]


def test_s_track_1_a_progress_event_is_no_change_unless_the_tracker_is_behind() -> None:
    cache, tracker = tracked()
    tracker.on_event(event(5, 4, "acme"))
    cache.store(ACME, 5, [], Trust.CURRENT)
    progress = config_pb2.InvalidationEvent(revision=5, previous_revision=5)

    tracker.on_event(progress)
    assert current(cache, ACME), "at the latest: nothing changed"
    assert tracker.last == 5

    tracker.on_event(config_pb2.InvalidationEvent(revision=7, previous_revision=7))
    assert not current(cache, ACME), "behind: every view is out of date"
    assert tracker.last == 7


def test_s_src_9_each_channel_is_a_chain_of_its_own_with_its_own_progress() -> None:
    cache, tracker = tracked()
    github, slack = "mcp-config:invalidations:github", "mcp-config:invalidations:slack"
    tracker.on_event(event(5, 3, "globex"), github)
    tracker.on_event(event(6, 4, "", server="slack"), slack)
    assert current(cache, ACME), "4 is slack's previous change: no gap"

    tracker.on_event(config_pb2.InvalidationEvent(revision=5, previous_revision=5), github)
    tracker.on_event(config_pb2.InvalidationEvent(revision=6, previous_revision=6), slack)
    assert current(cache, ACME), "each channel's progress at its own last change"

    tracker.on_event(event(8, 5, "globex"), github)
    assert current(cache, ACME), "6 was slack's, not github's"

    tracker.on_event(config_pb2.InvalidationEvent(revision=9, previous_revision=9), github)
    assert not current(cache, ACME), "github's channel is at 9: its change 9 was missed"


def labelled(revision: int, previous: int, org: str, *labels: str) -> config_pb2.InvalidationEvent:
    changed = event(revision, previous, org)
    changed.labels.extend(labels)
    return changed


def test_s_label_1_other_labels_changes_change_nothing_and_the_chain_advances() -> None:
    cache = Cache()
    feed = ChangeFeed()
    tracker = Tracker(cache, feed, "staging")
    changes = feed.subscribe()
    tracker.on_connected()
    cache.store(ACME, 1, [], Trust.CURRENT)
    generation = cache.generation

    tracker.on_event(labelled(5, 4, "acme", "latest", "production"))
    assert current(cache, ACME), "only latest and production moved"
    assert not changes._pending, "nothing announced"
    assert tracker.last == 5, "not a replay or a gap: the chain advances"
    assert cache.trust(ACME, 1, generation) is Trust.CURRENT, "no floor raised"

    tracker.on_event(labelled(6, 5, "acme", "staging"))
    assert not current(cache, ACME), "staging moved; 5 was seen, so no gap"
    assert list(changes._pending) == [Changed("acme", "github", ViewKind.PROMPTS)]
    assert cache.generation == generation, "a change of the view, not a flush"

    cache.store(ACME, 6, [], Trust.CURRENT)
    tracker.on_event(event(7, 6, "acme"))
    assert not current(cache, ACME), "no labels: every label's views"

    cache.store(ACME, 7, [], Trust.CURRENT)
    unknown = labelled(8, 7, "acme", "latest")
    unknown.kind = 99
    tracker.on_event(unknown)
    assert not current(cache, ACME), "an unknown kind flushes, whatever labels it names"
    assert cache.generation != generation


def test_a_client_naming_no_label_reads_at_production() -> None:
    cache, tracker = tracked()
    tracker.on_event(labelled(5, 4, "acme", "latest"))
    assert current(cache, ACME) and tracker.last == 5
    tracker.on_event(labelled(6, 5, "acme", "production"))
    assert not current(cache, ACME)


def test_s_label_2_a_rollouts_event_drops_and_announces_only_the_orgs_it_names() -> None:
    cache = Cache()
    feed = ChangeFeed()
    tracker = Tracker(cache, feed)
    changes = feed.subscribe()
    tracker.on_connected()
    initech = ViewId(ViewKind.PROMPTS, "initech", "github")
    defaults = ViewId(ViewKind.PROMPTS, "", "github")
    for view_id in (ACME, GLOBEX, initech, defaults, SLACK):
        cache.store(view_id, 1, [], Trust.CURRENT)
    generation = cache.generation

    rollout = labelled(5, 4, "", "production")
    rollout.orgs.extend(["acme", "initech"])
    tracker.on_event(rollout)
    assert not current(cache, ACME) and not current(cache, initech), "the orgs it names"
    assert current(cache, GLOBEX), "an org it does not name"
    assert current(cache, defaults), "not the defaults-only view"
    assert current(cache, SLACK), "another server"
    assert list(changes._pending) == [
        Changed("acme", "github", ViewKind.PROMPTS, 5),
        Changed("initech", "github", ViewKind.PROMPTS, 5),
    ], "one change per org it names, never one for every org"
    assert [c.revision for c in changes._pending] == [5, 5]
    assert cache.trust(ACME, 4, generation) is Trust.BEHIND, "each named org's floor raised"
    assert cache.trust(GLOBEX, 4, generation) is Trust.CURRENT, "no other org's floor"
    assert cache.trust(defaults, 4, generation) is Trust.CURRENT, "nor the defaults' floor"
    assert cache.generation == generation, "a change of views, not a flush"

    ignored = labelled(6, 5, "", "staging")
    ignored.orgs.append("globex")
    tracker.on_event(ignored)
    assert current(cache, GLOBEX), "another label's rollout: C-TRACK-5 first"
    assert tracker.last == 6

    tracker.on_event(event(7, 6, ""))
    assert not any(current(cache, v) for v in (GLOBEX, defaults)), "no orgs: every org's view"
    assert list(changes._pending)[2:] == [Changed("", "github", ViewKind.PROMPTS)]
