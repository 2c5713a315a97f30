"""`ConfigClient`: the effective prompts and resources of an (org, server), cached and kept right.

- An invalidation source (the service's `Watch` stream, or the Redis channel) marks views out of
  date the moment a change is published; the next read revalidates with `known_revision`, so an
  unchanged view costs a tiny `not_modified` answer.
- A reconnection of that source, or a gap in the revisions it saw, marks every view out of date.
- When the service is unreachable, the last known view is served with `stale` set to its age,
  for up to `max_stale` seconds; then reads raise `Unavailable`.
- The rules are docs/client-contract.md's; comments cite their ids.
- An optional snapshot file lets a cold process start while the service is down.
- `changes()` tells the caller which (org, server, kind) changed, so an MCP server can send
  `notifications/prompts/list_changed` to its own clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import grpc
from google.protobuf.message import Message
from mcp_config.v1 import config_pb2

from . import sources
from .cache import Cache, Entry, Trust, View, ViewId, ViewKind
from .changes import ChangeFeed, Subscription
from .errors import Unavailable, from_rpc_error
from .render import render_locally
from .snapshot import load_snapshot, save_snapshot
from .sources import Source, Watch
from .tracker import Tracker
from .transport import Transport

log = logging.getLogger(__name__)

#: How often, and how patiently, a read asks again while the service answers with a view older
#: than an event the client already saw for it: 50 ms × n before the n-th retry (contract
#: C-FLOOR-2).
BEHIND_RETRIES = 5
BEHIND_BACKOFF = 0.05

#: Per kind: the list RPC, its request type and the repeated field holding the items.
_LIST_RPCS: dict[ViewKind, tuple[str, type[Message], str]] = {
    ViewKind.PROMPTS: ("GetPrompts", config_pb2.GetPromptsRequest, "prompts"),
    ViewKind.RESOURCES: ("GetResources", config_pb2.GetResourcesRequest, "resources"),
}


class ConfigClient:
    """A client of mcp-config. Use `async with ConfigClient(...) as client:`, or call
    `await client.aclose()` when done; it connects lazily, on the first read, so it starts even
    while the service is down.

    `max_stale`: seconds the last known view may be served while the service is unreachable.
    `revalidate_after`: a view older than this is revalidated even without an invalidation (a
    safety net). `snapshot`: a JSON file the views are saved to after each fetch and loaded from
    at start. `timeout`: seconds per call. `token`: a bearer token (a `service` JWT) for a service
    that runs with authentication. `silence`: seconds the invalidation source may say nothing
    before it is taken as cut off (the service sends progress every 5 s on the Watch stream and
    on the Redis channel; keep this at three times that). `trace_context`: returns the W3C
    trace-context headers (`traceparent`, `tracestate`) of the caller's current operation,
    sent with every call; with OpenTelemetry, a function that calls `propagate.inject` on a
    new dict and returns it. `servers`: the MCP servers whose views this process reads
    (`["github"]`); empty: every server. Invalidations of other servers are then never received:
    the Watch stream is filtered, and the Redis source subscribes to these servers' own channels
    (`<channel>:<server>`) instead of the global one (C-SRC-9).
    """

    render_locally = staticmethod(render_locally)

    def __init__(
        self,
        endpoint: str,
        source: Source = Watch(),
        *,
        max_stale: float = 3600.0,
        revalidate_after: float = 300.0,
        token: str | None = None,
        snapshot: str | Path | None = None,
        timeout: float = 5.0,
        silence: float = sources.SILENCE,
        trace_context: Callable[[], Mapping[str, str]] | None = None,
        servers: Iterable[str] = (),
    ) -> None:
        if isinstance(servers, str):
            raise TypeError("servers is a list of server names, not one name")
        self._endpoint = endpoint
        self._servers = tuple(servers)
        self._silence = silence
        self._trace_context = trace_context
        self._source = source
        self._max_stale = max_stale
        self._revalidate_after = revalidate_after
        self._token = token
        self._timeout = timeout
        self._snapshot = Path(snapshot) if snapshot is not None else None
        self._cache = Cache()
        self._feed = ChangeFeed()
        self._tracker = Tracker(self._cache, self._feed)
        self._transport: Transport | None = None
        self._source_task: asyncio.Task[None] | None = None
        # The list requests in flight, by (view, known revision), each with the cache generation
        # it was sent at: concurrent reads of one view share one request.
        self._asking: dict[tuple[ViewId, int], asyncio.Future[tuple[Any, int]]] = {}
        if self._snapshot is not None:
            load_snapshot(self._snapshot, self._cache)
        # With no source there is nothing to follow: views are current until revalidate_after.
        self._cache.following = source is None

    async def __aenter__(self) -> ConfigClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Opens the channel and starts following the invalidation source (once)."""
        if self._transport is not None:
            return
        self._transport = Transport(
            self._endpoint, self._token, self._timeout, self._trace_context
        )
        match self._source:
            case sources.Watch():
                follow = sources.watch(self._transport, self._tracker, self._silence, self._servers)
            case sources.Redis() as redis:
                follow = sources.subscribe(redis, self._tracker, self._silence, self._servers)
            case None:
                return
        self._source_task = asyncio.create_task(follow, name="mcp-config invalidations")
        self._source_task.add_done_callback(_report_crash)

    async def aclose(self) -> None:
        """Stops the invalidation source, closes the channel and ends every `changes()`."""
        if self._source_task is not None:
            self._source_task.cancel()
            await asyncio.gather(self._source_task, return_exceptions=True)
            self._source_task = None
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        self._feed.close()

    async def wait_for_source(self, timeout: float) -> None:
        """Waits until the invalidation source follows the changes (so none made from now on can
        be missed); `TimeoutError` after `timeout` seconds. For readiness checks and tests."""
        await self.start()
        if self._source is not None:
            await asyncio.wait_for(self._tracker.wait_connected(), timeout)

    def changes(self) -> Subscription:
        """Notifications of changed views from now on: `async for change in client.changes()`.

        An empty `change.org` means a default changed, so every org of that server is affected
        (`change.concerns(org)` says whether an org's view is). A consumer more than 1024
        notifications behind loses the oldest and is told by a `Lagged` item instead: anything
        may have changed.
        """
        return self._feed.subscribe()

    async def prompts(self, org: str, server: str) -> View[config_pb2.Prompt]:
        """The effective prompts of `org` (empty: defaults only) for `server`."""
        return cast(View[config_pb2.Prompt], await self._view(ViewKind.PROMPTS, org, server))

    async def resources(self, org: str, server: str) -> View[config_pb2.Resource]:
        """The effective resources of `org` (empty: defaults only) for `server`."""
        return cast(View[config_pb2.Resource], await self._view(ViewKind.RESOURCES, org, server))

    async def prompt(
        self, org: str, server: str, name: str, arguments: Mapping[str, str] | None = None
    ) -> config_pb2.GetPromptResponse:
        """One prompt rendered by the service (a missing argument: `InvalidArgument`)."""
        request = config_pb2.GetPromptRequest(
            org_id=org, server=server, name=name, arguments=dict(arguments or {})
        )
        return await self._call("GetPrompt", request)

    async def read_resource(
        self, org: str, server: str, uri: str
    ) -> config_pb2.ReadResourceResponse:
        """One resource's contents."""
        request = config_pb2.ReadResourceRequest(org_id=org, server=server, uri=uri)
        return await self._call("ReadResource", request)

    async def _call(self, method: str, request: Message) -> Any:
        """One call to the service, its failure raised as the client's exception."""
        await self.start()
        transport = cast(Transport, self._transport)
        rpc = getattr(transport.stub, method)
        try:
            return await rpc(request, metadata=transport.metadata, timeout=transport.timeout)
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from error

    async def _view(self, kind: ViewKind, org: str, server: str) -> View[Any]:
        """The cached view if it is fresh (C-VIEW-2); else revalidated or fetched (C-VIEW-3),
        asked again while behind (C-FLOOR-2); else served stale (C-STALE-1)."""
        view_id = ViewId(kind, org, server)
        method, request_type, field = _LIST_RPCS[kind]
        behind_retries = 0
        while True:
            known = self._cache.get(view_id)
            if known is not None and known.is_fresh(self._revalidate_after):
                return known.view()
            known_revision = known.revision if known is not None else 0
            request = request_type(org_id=org, server=server, known_revision=known_revision)
            try:
                response, generation = await self._ask_shared((view_id, known_revision), method, request)
            except Unavailable as error:
                return self._stale_or_raise(known, error)
            trust = self._cache.trust(view_id, response.revision, generation)
            if response.not_modified and known is not None:
                entry = self._cache.revalidated(view_id, known, response.revision, trust)
            else:
                entry = self._cache.store(view_id, response.revision, getattr(response, field), trust)
                if self._snapshot is not None:
                    save_snapshot(self._snapshot, self._cache)
            # The replica that answered has not applied a change already announced (its own
            # invalidation is on its way): ask again shortly, a few times, then serve the
            # answer as stale (C-FLOOR-2): older than a change the caller may have been told
            # of, so never current; the next read revalidates.
            if trust is not Trust.BEHIND or behind_retries == BEHIND_RETRIES:
                return entry.view(stale=trust is Trust.BEHIND)
            behind_retries += 1
            await asyncio.sleep(BEHIND_BACKOFF * behind_retries)

    async def _ask_shared(
        self, key: tuple[ViewId, int], method: str, request: Message
    ) -> tuple[Any, int]:
        """`_call`, shared by every caller asking the same while it is in flight; with the
        cache generation it was sent at (C-FLUSH-1)."""
        in_flight = self._asking.get(key)
        if in_flight is not None:
            return await asyncio.shield(in_flight)
        generation = self._cache.generation

        async def ask() -> tuple[Any, int]:
            try:
                return await self._call(method, request), generation
            finally:
                del self._asking[key]

        task = asyncio.ensure_future(ask())
        self._asking[key] = task
        return await asyncio.shield(task)

    def _stale_or_raise(self, known: Entry | None, error: Unavailable) -> View[Any]:
        """The last known view while younger than `max_stale` (C-STALE-1)."""
        if known is not None and known.age() <= self._max_stale:
            return known.view(stale=True)
        raise Unavailable(
            f"the service is unreachable and no view younger than {self._max_stale:g} s "
            f"is known: {error.message}",
            error.code,
        ) from error


def _report_crash(task: asyncio.Task[None]) -> None:
    """A source loop handles its own failures; anything escaping it is a bug worth a log."""
    if not task.cancelled() and task.exception() is not None:
        log.error("the invalidation source stopped", exc_info=task.exception())
