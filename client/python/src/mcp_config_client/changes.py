"""Change notifications for callers: which (org, server, kind) changed, as an async iterator.

An MCP server turns each into `notifications/prompts/list_changed` (or resources) for its own
clients. Every subscription has its own bounded queue, so a slow consumer never blocks the
invalidation source or the other consumers. One that falls more than `capacity` behind loses
the oldest notifications, and is told so: its next item is `Lagged(missed)`, once per overflow,
before the notifications it still holds (the newest). Each notification is only a hint to
re-list, and the cache is correct regardless, so a consumer that lagged should assume that
anything may have changed (an MCP server: announce every list as changed), like a receiver of
the Rust client's broadcast channel on `RecvError::Lagged`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType

from .cache import ViewKind

DEFAULT_CAPACITY = 1024


@dataclass(frozen=True, slots=True)
class Changed:
    """A view that changed. An empty `org` means a default changed: every org of `server` (a
    default a rollout changed for some orgs only is one `Changed` per such org, C-TRACK-6)."""

    org: str
    server: str
    kind: ViewKind
    # The change's revision: reads of this view from now on answer at it or a newer one (or
    # stale). 0 when the view is announced because changes may have been missed (a gap, a
    # reconnection). Not part of equality: two notices of one view are the same change notice.
    revision: int = field(default=0, compare=False)

    def concerns(self, org: str) -> bool:
        """Whether a view of `org` is affected."""
        return not self.org or self.org == org


@dataclass(frozen=True, slots=True)
class Lagged:
    """The subscription fell behind and lost its `missed` oldest notifications: any view, of
    any org and server, may have changed without a `Changed` for it."""

    missed: int


class ChangeFeed:
    """Fans each notification out to every open subscription."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self, capacity: int = DEFAULT_CAPACITY) -> Subscription:
        """A subscription that receives every notification published from now on."""
        subscription = Subscription(self, capacity)
        self._subscriptions.add(subscription)
        return subscription

    def publish(self, change: Changed) -> None:
        for subscription in self._subscriptions:
            subscription.offer(change)

    def close(self) -> None:
        """Ends every subscription's iteration."""
        for subscription in list(self._subscriptions):
            subscription.close()

    def _forget(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)


class Subscription:
    """`async for item in subscription`: each item is a `Changed`, or `Lagged` when
    notifications were lost. Use `async with` (or `close()`) to unsubscribe."""

    def __init__(self, feed: ChangeFeed, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a subscription holds at least one notification, not {capacity}")
        self._feed = feed
        self._capacity = capacity
        self._pending: deque[Changed] = deque()
        #: Notifications dropped since the consumer was last told (by a `Lagged`).
        self._missed = 0
        self._ready = asyncio.Event()
        self._closed = False

    def offer(self, change: Changed) -> None:
        """Queues `change`; when full, drops the oldest queued one, to be reported as lost."""
        if self._closed:
            return
        if len(self._pending) >= self._capacity:
            self._pending.popleft()
            self._missed += 1
        self._pending.append(change)
        self._ready.set()

    def close(self) -> None:
        """Unsubscribes; an iteration in progress ends after the notifications already queued
        (and the report of any lost before them)."""
        if not self._closed:
            self._closed = True
            self._feed._forget(self)
            self._ready.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Changed | Lagged:
        while True:
            # The lost notifications were older than every queued one: reported first.
            if self._missed:
                missed, self._missed = self._missed, 0
                return Lagged(missed)
            if self._pending:
                return self._pending.popleft()
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
