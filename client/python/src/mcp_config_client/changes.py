"""Change notifications for callers: which (org, server, kind) changed, as an async iterator.

An MCP server turns each into `notifications/prompts/list_changed` (or resources) for its own
clients. Every subscription has its own bounded queue, so a slow consumer never blocks the
invalidation source or the other consumers; one that falls more than `capacity` behind loses
the oldest notifications (each is only a hint to re-list, and the cache is correct regardless).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType

from .cache import ViewKind

DEFAULT_CAPACITY = 1024


@dataclass(frozen=True, slots=True)
class Changed:
    """A view that changed. An empty `org` means a default changed: every org of `server`."""

    org: str
    server: str
    kind: ViewKind

    def concerns(self, org: str) -> bool:
        """Whether a view of `org` is affected."""
        return not self.org or self.org == org


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


_END = object()


class Subscription:
    """`async for change in subscription`; use `async with` (or `close()`) to unsubscribe."""

    def __init__(self, feed: ChangeFeed, capacity: int) -> None:
        self._feed = feed
        self._queue: asyncio.Queue[Changed | object] = asyncio.Queue(capacity + 1)
        self._capacity = capacity
        self._closed = False

    def offer(self, change: Changed) -> None:
        if self._closed:
            return
        if self._queue.qsize() >= self._capacity:
            self._queue.get_nowait()
        self._queue.put_nowait(change)

    def close(self) -> None:
        """Unsubscribes; an iteration in progress ends after the notifications already queued."""
        if not self._closed:
            self._closed = True
            self._feed._forget(self)
            self._queue.put_nowait(_END)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Changed:
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)
            raise StopAsyncIteration
        assert isinstance(item, Changed)
        return item

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
