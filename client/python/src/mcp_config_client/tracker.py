"""Applies invalidation events to the cache and tells callers what changed.

Events are gap-free: each names the revision before it. Seeing a `previous_revision` other than
the last revision seen means one was missed, so nothing cached can be trusted and every view is
marked out of date (`flush`). The same holds on every (re)connection of the source: correctness
never depends on a message arriving. Each source channel is a chain of its own: a server's own
Redis channel names that server's previous event, so several channels are tracked apart. A
client reads at one release label: a change that moved only other labels' views is no change to
it, though it still advances the chain (C-TRACK-5). A default's change that names orgs (a
rollout's cohort moved) concerns those orgs' views only (C-TRACK-6). The rules are
docs/client-contract.md's (C-TRACK-*, C-SRC-*).
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

from mcp_config.v1 import config_pb2

from .cache import Cache, ViewId, ViewKind
from .changes import Changed, ChangeFeed

_KINDS = {config_pb2.PROMPTS: ViewKind.PROMPTS, config_pb2.RESOURCES: ViewKind.RESOURCES}

#: The label a client naming none reads at, as events name it.
PRODUCTION = "production"


def label_name(label: str) -> str:
    """The label a client reads at, as events name it: `production` when it names none."""
    return label or PRODUCTION


class Action(enum.Enum):
    """What one event means for the cached views (`classify`)."""

    PROGRESS = "progress"
    """A progress event at or below the last revision seen: nothing changed (C-TRACK-1)."""
    REPLAY = "replay"
    """An event at or below the last revision seen: a replay, ignored (C-TRACK-2)."""
    FLUSH = "flush"
    """A change may have been missed — a progress event ahead of the last revision seen, a gap,
    an event of an unknown kind (C-TRACK-1, C-TRACK-3): every view is out of date."""
    INVALIDATE = "invalidate"
    """The views the event names are out of date: its kind and server, of its org or, when its
    org is empty (a default changed), of every org (C-TRACK-4) — of each org it lists in `orgs`
    only, when it lists any (C-TRACK-6, `changed_orgs`)."""
    OTHER_LABEL = "other_label"
    """A change of other labels' views than the client's: nothing to drop or announce, but no
    replay or gap either: the chain advances (C-TRACK-5)."""


@dataclass(frozen=True, slots=True)
class Step:
    """`classify`'s answer: the action, the chain's last revision after the event, and the
    kind of the views to invalidate (INVALIDATE only)."""

    action: Action
    last: int
    kind: ViewKind | None = None


def classify(event: config_pb2.InvalidationEvent, last: int, label: str = PRODUCTION) -> Step:
    """The tracker's rules (contract C-TRACK-1..5; which orgs, C-TRACK-6, is `changed_orgs`) in
    one place: what `event` means to a client reading at `label` (`production` when empty),
    given `last`, the last revision seen on its chain (0: none yet). The contract vectors
    (client/contract-vectors/) run through it."""
    # A progress event, the service's "nothing changed, the latest is R" on a quiet stream: no
    # kind, no server, and its revision is its previous one. Nothing changed if the chain is at
    # R; if it is behind, it missed what came between.
    if (
        event.kind == config_pb2.KIND_UNSPECIFIED
        and not event.server
        and event.revision == event.previous_revision
    ):
        behind = last != 0 and event.revision > last
        return Step(Action.FLUSH if behind else Action.PROGRESS, max(last, event.revision))
    if event.revision <= last:
        return Step(Action.REPLAY, last)
    if last != 0 and event.previous_revision != last:
        return Step(Action.FLUSH, event.revision)
    kind = _KINDS.get(event.kind)
    if kind is None:
        return Step(Action.FLUSH, event.revision)
    # An event naming labels concerns only their views; one naming none, every label's (an
    # event from before labels). Checked after the progress, replay and gap rules, and only for
    # a known kind: an unknown kind flushes whatever it names.
    if event.labels and label_name(label) not in event.labels:
        return Step(Action.OTHER_LABEL, event.revision)
    return Step(Action.INVALIDATE, event.revision, kind)


def changed_orgs(event: config_pb2.InvalidationEvent) -> list[str]:
    """The orgs whose views an event to apply (INVALIDATE) changed, each as an event's `org_id`:
    its own org, or `""` for every org (a default, C-TRACK-4); for a default that lists `orgs`
    (a rollout moved those orgs in or out of its cohort), each listed org and no other — not
    the defaults-only view either (C-TRACK-6)."""
    if not event.org_id and event.orgs:
        return list(event.orgs)
    return [event.org_id]


def is_progress(event: config_pb2.InvalidationEvent) -> bool:
    """Whether `event` is a progress event: `classify`'s rule, asked at the event's own revision
    (where any other event is a replay)."""
    return classify(event, event.revision).action is Action.PROGRESS


class Tracker:
    """The invalidation state shared by whichever source feeds it, for a client reading at
    `label` (empty: `production`)."""

    def __init__(self, cache: Cache, feed: ChangeFeed, label: str = "") -> None:
        self._cache = cache
        self._feed = feed
        #: The label the client reads at, as events name it (C-TRACK-5).
        self.label = label_name(label)
        self._connected = asyncio.Event()
        self._connected_before = False
        #: Per chain (the Watch stream, or one Redis channel), the last revision seen on it.
        self._last: dict[str, int] = {}

    @property
    def last(self) -> int:
        """The last revision seen on the default chain (0: none yet), for gap detection and
        Watch's resume point."""
        return self._last.get("", 0)

    @last.setter
    def last(self, revision: int) -> None:
        self._last[""] = revision

    def last_on(self, chain: str) -> int:
        """The last revision seen on `chain` (0: none yet)."""
        return self._last.get(chain, 0)

    def on_connected(self) -> None:
        """The source follows the changes (again). A view answered before may predate a change
        nobody heard of, so every one is made not current (C-SRC-2); after a reconnection that
        is announced too, since anything may have been missed while away (C-SRC-3)."""
        view_ids = self._cache.invalidate_all()
        if self._connected_before:
            self._announce(view_ids)
        self._connected_before = True
        self._cache.following = True
        self._connected.set()

    def on_disconnected(self) -> None:
        """Until the source is back no change can be seen, so no view is current; nothing is
        announced yet: the reconnection's flush does that (C-SRC-4)."""
        self._cache.following = False
        self._connected.clear()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def on_event(self, event: config_pb2.InvalidationEvent, chain: str = "") -> None:
        """Applies one event of `chain`: the Watch stream (the default chain), or the Redis
        channel it came on, whose revisions chain apart from the other channels' (a server's
        own channel chains that server's events, and announces that server's progress)."""
        step = classify(event, self._last.get(chain, 0), self.label)
        self._last[chain] = step.last
        if step.action is Action.FLUSH:
            self.flush()
        elif step.action is Action.INVALIDATE and step.kind is not None:
            for org in changed_orgs(event):
                self._cache.invalidate(step.kind, org, event.server, event.revision)
                self._feed.publish(Changed(org, event.server, step.kind, event.revision))

    def flush(self) -> None:
        """Marks every view out of date and announces each as changed."""
        self._announce(self._cache.invalidate_all())

    def _announce(self, view_ids: list[ViewId]) -> None:
        for view_id in view_ids:
            self._feed.publish(Changed(view_id.org, view_id.server, view_id.kind))
