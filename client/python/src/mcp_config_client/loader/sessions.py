"""The MCP sessions of each org, and the task that tells them their lists changed.

Sessions exist on the protocols with `initialize`; a 2026-07-28 client has none and is told on
its `subscriptions/listen` stream instead (`listen.py`).

A session's org is the one its requests carry; it is (re)recorded on every request the loader
answers. Over streamable HTTP a session is known by the transport's session id (a stateless
request has none, and cannot be told anything later); a stream transport (stdio) carries one
client, known as that transport's. A change from mcp-config for (org, server, kind) becomes one
`list_changed` notification on each session of that org (every org's, for a default); when the
forwarding task fell behind and changes were lost, every session is told both lists changed. A
session that cannot be reached any more is forgotten.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from mcp.server import ServerRequestContext
from mcp.server.session import ServerSession
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ..cache import ViewKind
from ..changes import Changed, Lagged, Subscription
from .lists import changed_lists

log = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"

#: The key of the one client of a stream transport (stdio), which has no session id.
STREAM = ""


@dataclass(slots=True)
class _Known:
    org: str
    session: ServerSession


class Sessions:
    """Open MCP sessions by transport session id."""

    def __init__(self) -> None:
        self._by_id: dict[str, _Known] = {}

    def remember(self, ctx: ServerRequestContext[Any], org: str) -> None:
        """Records that the session of `ctx` speaks for `org` (a 2026-07-28 request and a
        stateless one have no session to record)."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return
        session_id = ctx.request.headers.get(SESSION_HEADER) if ctx.request is not None else STREAM
        if session_id is not None:
            self._by_id[session_id] = _Known(org, ctx.session)

    async def announce(self, item: Changed | Lagged, server: str) -> None:
        """Sends `list_changed` for `item` to every session it concerns (`changed_lists`: both
        lists to every session after lost changes)."""
        for session_id, known in list(self._by_id.items()):
            try:
                for kind in changed_lists(item, known.org, server):
                    if kind is ViewKind.PROMPTS:
                        await known.session.send_prompt_list_changed()
                    else:
                        await known.session.send_resource_list_changed()
            except Exception as error:  # a closed transport fails in transport-specific ways
                log.debug("forgetting session %r: %s", session_id, error)
                self._by_id.pop(session_id, None)

    async def forward(self, changes: Subscription, server: str) -> None:
        """Announces every change (and every loss) until `changes` ends."""
        async for item in changes:
            await self.announce(item, server)
