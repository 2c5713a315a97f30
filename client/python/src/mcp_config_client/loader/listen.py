"""`subscriptions/listen` streams: how 2026-07-28 clients are told that a list changed.

That protocol has no sessions to notify: a client that wants change notifications keeps a
`subscriptions/listen` request open, and that request's response stream carries them. The SDK's
own `ListenHandler` fans every event out to every stream alike, but what a client is told
depends on its org, so each stream here follows the mcp-config client's changes itself and
forwards those that affect the org of its request (`changes.changed_lists`, the sessions' rule
too): both lists, as far as requested, when the stream fell behind and changes were lost.

A stream ends when the client closes it (its handler is cancelled), or gracefully, with the
listen result as its last frame, on `close()`: the server stopping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types
from mcp.server import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import (
    SUBSCRIPTION_ID_META_KEY,
    PromptsListChanged,
    ResourcesListChanged,
    ServerEvent,
    event_to_notification,
)

from ..cache import ViewKind
from ..changes import Subscription
from .lists import changed_lists


class ListenStreams:
    """Serves `subscriptions/listen` for one MCP server of mcp-config, and ends the open streams
    on `close()`. `changes` subscribes a stream to the changes it forwards (the client's)."""

    def __init__(self, changes: Callable[[], Subscription], server: str) -> None:
        self._changes = changes
        self._server = server
        self._open: set[Subscription] = set()
        self._closing = False

    async def serve(
        self, ctx: ServerRequestContext[Any], org: str, requested: types.SubscriptionFilter
    ) -> types.SubscriptionsListenResult:
        """One listen stream for `org`, open until the client closes it or `close()`.

        Only list changes of prompts and resources exist here, so only those are acknowledged
        (the ack says which of the requested notifications the stream will carry)."""
        if ctx.request_id is None:
            raise MCPError(types.INVALID_REQUEST, "subscriptions/listen requires a request id")
        honored = types.SubscriptionFilter(
            prompts_list_changed=requested.prompts_list_changed or None,
            resources_list_changed=requested.resources_list_changed or None,
        )
        events: dict[ViewKind, ServerEvent] = {}
        if honored.prompts_list_changed:
            events[ViewKind.PROMPTS] = PromptsListChanged()
        if honored.resources_list_changed:
            events[ViewKind.RESOURCES] = ResourcesListChanged()
        # Every frame names the stream it belongs to: the listen request's id.
        meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: ctx.request_id}

        # Subscribed before the ack is sent, so a change made right after the client has it
        # cannot be missed.
        async with self._changes() as changes:
            self._open.add(changes)
            if self._closing:
                changes.close()
            try:
                await ctx.session.send_notification(
                    types.SubscriptionsAcknowledgedNotification(
                        params=types.SubscriptionsAcknowledgedNotificationParams(
                            notifications=honored, _meta=meta
                        )
                    ),
                    related_request_id=ctx.request_id,
                )
                async for item in changes:
                    for kind in changed_lists(item, org, self._server):
                        event = events.get(kind)
                        if event is not None:
                            await ctx.session.send_notification(
                                event_to_notification(event, meta),
                                related_request_id=ctx.request_id,
                            )
            finally:
                self._open.discard(changes)
        return types.SubscriptionsListenResult(_meta=meta)

    def close(self) -> None:
        """Ends every open stream gracefully, and any opened from now on right after its ack.

        The HTTP server has to call this before it waits for open responses to finish (uvicorn
        does, before the app's shutdown): a listen stream never finishes by itself."""
        self._closing = True
        for changes in list(self._open):
            changes.close()
