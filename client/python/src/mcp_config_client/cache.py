"""The client's views: the last one fetched per (kind, org, server), and whether it is known to
be current.

An invalidation never deletes a view: it only marks it out of date, so the next read can
revalidate it cheaply with `known_revision` and, if the service is down, still serve it stale.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ViewKind(enum.Enum):
    """The two lists a server exposes (the values are the Rust client's snapshot spelling)."""

    PROMPTS = "Prompts"
    RESOURCES = "Resources"


@dataclass(frozen=True, slots=True)
class ViewId:
    """Which view: an empty `org` is the defaults-only view."""

    kind: ViewKind
    org: str
    server: str


@dataclass(frozen=True, slots=True)
class View(Generic[T]):
    """A view as a caller gets it.

    `stale` is None when the service confirmed the view; when the service could not be reached
    and this is the last known view, it is the view's age: the seconds since the service last
    confirmed it (contract C-STALE-3).

    `org_unknown` is True when the org names no registered org: an unknown org reads the
    defaults, as an org without overrides does, and this tells the two apart (a typo in an org
    id, an org not registered yet). False for a registered org and for the defaults-only view
    (org `""`).
    """

    items: Sequence[T]
    revision: int
    stale: float | None
    org_unknown: bool = False


class Trust(enum.Enum):
    """How far an answer can be trusted (contract C-FLOOR-1, C-FLUSH-2)."""

    CURRENT = "current"
    BEHIND = "behind"
    """Older than an event about its view: ask again."""
    UNSURE = "unsure"
    """A flush happened while it was in flight: keep it, revalidate on the next read."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached view. `confirmed` is on the monotonic clock. `org_unknown` is the service's
    word on the org when it last sent the view: a `not_modified` answer does not repeat it, and
    needs not (registering an org moves its views' revision)."""

    revision: int
    items: tuple[Any, ...]
    confirmed: float
    current: bool
    org_unknown: bool = False

    def age(self) -> float:
        return time.monotonic() - self.confirmed

    def is_fresh(self, revalidate_after: float) -> bool:
        """Current, and young enough that the safety-net revalidation is not due."""
        return self.current and self.age() < revalidate_after

    def view(self, stale: bool = False) -> View[Any]:
        return View(
            items=self.items,
            revision=self.revision,
            stale=self.age() if stale else None,
            org_unknown=self.org_unknown,
        )


class Cache:
    """Views by id, and what the invalidations seen so far require of an answer before it may be
    called current.

    Two races could otherwise hide a change until the next one. A service replica may answer
    with the old view after its event reached this client: each (kind, org, server) keeps a
    *floor*, the revision of the last event about it, whether or not the view is cached yet, and
    an answer below it is behind. And a read that started before a flush (a gap, a reconnection)
    may predate a change that was missed: a fetch notes the *generation* before calling, and a
    flush meanwhile makes its answer unsure. While the source is not *following*, no view is
    current.
    """

    def __init__(self) -> None:
        self._entries: dict[ViewId, Entry] = {}
        self._floors: dict[ViewId, int] = {}
        self._generation = 0
        self.following = False

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, view_id: ViewId) -> Entry | None:
        entry = self._entries.get(view_id)
        if entry is None or self.following:
            return entry
        return replace(entry, current=False)

    def trust(self, view_id: ViewId, revision: int, generation: int) -> Trust:
        """Whether an answer at `revision` to a request sent at `generation` is current."""
        if revision < self._floor(view_id):
            return Trust.BEHIND
        return Trust.CURRENT if generation == self._generation else Trust.UNSURE

    def announced_past(self, view_id: ViewId, revision: int) -> bool:
        """Whether an event announced a change of the view newer than `revision` (its floor is
        above it): a view at `revision` is then known to be outdated, not merely unconfirmed."""
        return revision < self._floor(view_id)

    def _floor(self, view_id: ViewId) -> int:
        """The revision of the last event about the view: of its org, or of a default."""
        return max(
            self._floors.get(ViewId(view_id.kind, org, view_id.server), 0)
            for org in ("", view_id.org)
        )

    def store(
        self,
        view_id: ViewId,
        revision: int,
        items: Sequence[Any],
        trust: Trust,
        org_unknown: bool = False,
    ) -> Entry:
        """Keeps a fetched view."""
        entry = Entry(revision, tuple(items), time.monotonic(), trust is Trust.CURRENT, org_unknown)
        self._entries[view_id] = entry
        return entry

    def revalidated(self, view_id: ViewId, known: Entry, revision: int, trust: Trust) -> Entry:
        """The service said the view `known` holds is still the latest it has, at `revision`."""
        entry = replace(
            known, revision=revision, confirmed=time.monotonic(), current=trust is Trust.CURRENT
        )
        self._entries[view_id] = entry
        return entry

    def invalidate(self, kind: ViewKind, org: str, server: str, revision: int) -> None:
        """Marks the views an event names out of date (an empty org: every org of `server`) and
        raises their floor."""
        floor = ViewId(kind, org, server)
        self._floors[floor] = max(self._floors.get(floor, 0), revision)
        for view_id, entry in self._entries.items():
            if (
                view_id.kind == kind
                and view_id.server == server
                and (not org or view_id.org == org)
            ):
                self._entries[view_id] = replace(entry, current=False)

    def invalidate_all(self) -> list[ViewId]:
        """Marks every view out of date and raises the generation; returns their ids."""
        self._generation += 1
        for view_id, entry in self._entries.items():
            self._entries[view_id] = replace(entry, current=False)
        return list(self._entries)

    def items(self) -> list[tuple[ViewId, Entry]]:
        return list(self._entries.items())

    def restore(self, view_id: ViewId, entry: Entry) -> None:
        """Adds a view loaded from a snapshot, unless a fetched one is already there."""
        self._entries.setdefault(view_id, entry)
