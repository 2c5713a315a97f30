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

    `stale` is true when the service could not be reached and this is the last known view;
    `age` is the number of seconds since the service last confirmed it.
    """

    items: Sequence[T]
    revision: int
    stale: bool
    age: float


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached view. `confirmed` is on the monotonic clock; `wanted` is the revision of the last
    event seen for the view, which any answer about it from now on must have reached."""

    revision: int
    items: tuple[Any, ...]
    confirmed: float
    current: bool
    wanted: int = 0

    def age(self) -> float:
        return time.monotonic() - self.confirmed

    def is_fresh(self, revalidate_after: float) -> bool:
        """Current, and young enough that the safety-net revalidation is not due."""
        return self.current and self.age() < revalidate_after

    def view(self, stale: bool = False) -> View[Any]:
        return View(items=self.items, revision=self.revision, stale=stale, age=self.age())


class Cache:
    """Views by id, plus an epoch that counts invalidations.

    An answer is stored as current only if it can be trusted to include every change announced
    so far. Two races could otherwise hide a change until the next one: a read that started
    before an invalidation may be answered with the old view after it (so a fetch notes the
    epoch before calling, and an invalidation meanwhile makes its answer not current), and a
    service replica may answer with the old view after its event reached this client (so an
    answer older than the view's `wanted` revision is not current either).
    """

    def __init__(self) -> None:
        self._entries: dict[ViewId, Entry] = {}
        self._epoch = 0

    @property
    def epoch(self) -> int:
        return self._epoch

    def get(self, view_id: ViewId) -> Entry | None:
        return self._entries.get(view_id)

    def wanted(self, view_id: ViewId) -> int:
        """The revision an answer about the view must have reached to be current."""
        entry = self._entries.get(view_id)
        return entry.wanted if entry is not None else 0

    def store(self, view_id: ViewId, revision: int, items: Sequence[Any], epoch: int) -> Entry:
        """Keeps a fetched view."""
        wanted = self.wanted(view_id)
        entry = Entry(
            revision, tuple(items), time.monotonic(), self._trusted(revision, wanted, epoch), wanted
        )
        self._entries[view_id] = entry
        return entry

    def revalidated(self, view_id: ViewId, known: Entry, revision: int, epoch: int) -> Entry:
        """The service said the view `known` holds is still the latest it has, at `revision`."""
        entry = replace(
            known,
            revision=revision,
            confirmed=time.monotonic(),
            current=self._trusted(revision, known.wanted, epoch),
        )
        self._entries[view_id] = entry
        return entry

    def _trusted(self, revision: int, wanted: int, epoch: int) -> bool:
        return epoch == self._epoch and revision >= wanted

    def invalidate(self, kind: ViewKind, org: str, server: str, revision: int) -> None:
        """Marks the views an event names out of date (an empty org: every org of `server`)."""
        self._epoch += 1
        for view_id, entry in self._entries.items():
            if (
                view_id.kind == kind
                and view_id.server == server
                and (not org or view_id.org == org)
            ):
                self._entries[view_id] = replace(
                    entry, current=False, wanted=max(entry.wanted, revision)
                )

    def invalidate_all(self) -> list[ViewId]:
        """Marks every view out of date; returns their ids."""
        self._epoch += 1
        for view_id, entry in self._entries.items():
            self._entries[view_id] = replace(entry, current=False)
        return list(self._entries)

    def items(self) -> list[tuple[ViewId, Entry]]:
        return list(self._entries.items())

    def restore(self, view_id: ViewId, entry: Entry) -> None:
        """Adds a view loaded from a snapshot, unless a fetched one is already there."""
        self._entries.setdefault(view_id, entry)
