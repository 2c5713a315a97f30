"""The views answered from the fallback, asked for again until the service answers for them.

The client has no copy of such a view, so no invalidation will ever name it: without asking,
an MCP client that listed the fallback would never hear that mcp-config's lists took its place.
One task asks for every such view every `PROBE_INTERVAL` seconds (the client's circuit breaker
keeps that from reaching a service it cannot reach), and announces each view the service answers
for as changed (revision 0, as a view announced after a reconnection). It runs only while some
view is on the fallback, and `close()` stops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..cache import View, ViewKind
from ..changes import Changed
from ..errors import Rejected, Unavailable

log = logging.getLogger(__name__)

#: Seconds between two asks for the views on the fallback.
PROBE_INTERVAL = 1.0


class Recovery:
    """Watches the views of one MCP server (`server`) answered from the fallback: `read(kind,
    org)` asks the client for one; `announce` is told of each the service answered for."""

    def __init__(
        self,
        server: str,
        read: Callable[[ViewKind, str], Awaitable[View[object]]],
        announce: Callable[[Changed], None],
    ) -> None:
        self._server = server
        self._read = read
        self._announce = announce
        self._on_fallback: set[tuple[str, ViewKind]] = set()
        self._task: asyncio.Task[None] | None = None

    def serves_fallback(self, org: str, kind: ViewKind) -> bool:
        """Whether `org`'s view of `kind` is the fallback's now."""
        return (org, kind) in self._on_fallback

    def watch(self, org: str, kind: ViewKind) -> None:
        """Notes that `org`'s view of `kind` was answered from the fallback."""
        if (org, kind) not in self._on_fallback:
            log.warning(
                "mcp-config unreachable: serving the fallback %s of %r on %s",
                kind.value,
                org,
                self._server,
            )
            self._on_fallback.add((org, kind))
        if self._task is None:
            self._task = asyncio.create_task(self._probe(), name="mcp-config fallback recovery")

    async def _probe(self) -> None:
        while self._on_fallback:
            await asyncio.sleep(PROBE_INTERVAL)
            for org, kind in list(self._on_fallback):
                if await self._answered(kind, org):
                    self._on_fallback.discard((org, kind))
                    log.info("mcp-config answers: %s of %r left the fallback", kind.value, org)
                    self._announce(Changed(org, self._server, kind))
        self._task = None

    async def _answered(self, kind: ViewKind, org: str) -> bool:
        """Whether the service answers for the view now: a refusal is an answer too (the next
        list shows it to the MCP client)."""
        try:
            await self._read(kind, org)
        except Unavailable:
            return False
        except Rejected:
            return True
        return True

    async def close(self) -> None:
        """Stops asking."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
