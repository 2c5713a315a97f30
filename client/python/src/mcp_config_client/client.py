"""`ConfigClient`: the effective prompts and resources of an (org, server), cached and kept right.

- An invalidation source (the service's `Watch` stream, or the Redis channel) marks views out of
  date the moment a change is published; the next read revalidates with `known_revision`, so an
  unchanged view costs a tiny `not_modified` answer.
- A reconnection of that source, or a gap in the revisions it saw, marks every view out of date.
- When the service is unreachable, the last known view is served with `stale` set to its age,
  for up to `max_stale` seconds; then reads raise `Unavailable`.
- A read that has such a view waits for the service `read_budget` seconds at most; past that it
  serves the view stale, and the request it started goes on and updates the cache when answered.
  Not when a change past that view was announced: that read waits up to `timeout`.
- After `BREAKER_THRESHOLD` consecutive failures to reach the service the client stops calling it
  for `breaker_cooldown` seconds (reads serve stale views or fail at once), then lets one call
  through: its success closes the breaker, its failure opens it again.
- The rules are docs/client-contract.md's; comments cite their ids.
- `status` says whether the last call reached the service (`starting`, `ready`, `stale` with
  since when and why); `on_status` tells each change once (C-STATUS-1, C-STATUS-2).
- An optional snapshot file lets a cold process start while the service is down.
- `changes()` tells the caller which (org, server, kind) changed, so an MCP server can send
  `notifications/prompts/list_changed` to its own clients.
- `label` picks the release label every read is at (`production` when none); changes that moved
  only other labels' views are not announced (C-TRACK-5).
"""

from __future__ import annotations

import asyncio
import logging
import time
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
from .errors import UNREACHABLE_MESSAGE, Unavailable, from_rpc_error
from .render import render_locally
from .snapshot import load_snapshot, save_snapshot
from .sources import Source, Watch
from .status import Status, StatusKeeper, StatusListener
from .tracker import Tracker
from .transport import Transport

log = logging.getLogger(__name__)

#: How often, and how patiently, a read asks again while the service answers with a view older
#: than an event the client already saw for it: 50 ms × n before the n-th retry (contract
#: C-FLOOR-2).
BEHIND_RETRIES = 5
BEHIND_BACKOFF = 0.05

#: Consecutive failures to reach the service (timeouts, connection errors) that open the breaker.
BREAKER_THRESHOLD = 3

#: The failures that count for the breaker: the codes of C-STALE-1, which mean the service could
#: not answer. Its own answers (NOT_FOUND, PERMISSION_DENIED, ...) show it is there.
_UNREACHED = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.CANCELLED,
    }
)

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
    (`<channel>:<server>`) instead of the global one (C-SRC-9). `read_budget`: seconds a read
    that has a view it may serve stale (younger than `max_stale`) waits for the service; past
    that it returns the view stale and the request goes on in the background, updating the cache
    when answered (`None`: wait up to `timeout`). A read with nothing cached, or whose view is
    older than a change an invalidation announced for it, waits up to `timeout`. `breaker_cooldown`: seconds the client stops calling the service after
    `BREAKER_THRESHOLD` consecutive failures to reach it; then one call is let through.
    `label`: the release label every read is at (`staging`, `latest`, …; empty: `production`),
    sent as `label` on every read and on `Watch`; an unknown label is `NotFound`. Changes that
    moved only other labels' views are no change to this client (C-TRACK-5).
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
        read_budget: float | None = 0.05,
        breaker_cooldown: float = 5.0,
        label: str = "",
    ) -> None:
        if isinstance(servers, str):
            raise TypeError("servers is a list of server names, not one name")
        if not isinstance(label, str):
            raise TypeError("label is one release label's name (empty: production)")
        self._endpoint = endpoint
        self._label = label
        self._servers = tuple(servers)
        self._silence = silence
        self._trace_context = trace_context
        self._source = source
        self._max_stale = max_stale
        self._revalidate_after = revalidate_after
        self._token = token
        self._timeout = timeout
        self._read_budget = read_budget
        self._breaker = Breaker(BREAKER_THRESHOLD, breaker_cooldown)
        self._status = StatusKeeper()
        self._snapshot = Path(snapshot) if snapshot is not None else None
        self._cache = Cache()
        self._feed = ChangeFeed()
        self._tracker = Tracker(self._cache, self._feed, label)
        self._transport: Transport | None = None
        self._source_task: asyncio.Task[None] | None = None
        # The list requests in flight, by (view, known revision), each with the cache generation
        # it was sent at: concurrent reads of one view share one request.
        # It stores its answer itself, so one a read stopped waiting for still updates the cache.
        self._asking: dict[tuple[ViewId, int], asyncio.Task[tuple[Entry, Trust]]] = {}
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
                follow = sources.watch(
                    self._transport,
                    self._tracker,
                    self._silence,
                    self._servers,
                    # An opened stream closes the breaker; the status follows calls only.
                    reached=self._breaker.answered,
                )
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

    @property
    def status(self) -> Status:
        """`starting` until a call reaches the service; then `ready` while the last call reached
        it (a refusal counts), `stale` (with `since` and `why`) while the last call could not or
        the breaker held it back (C-STATUS-1)."""
        return self._status.status

    def on_status(self, callback: StatusListener) -> Callable[[], None]:
        """Calls `callback(StatusEvent)` on each change of status, once: `ready` (first
        reached), `stale` (with `since` and `why`), `recovered` (with `stale_for`). Called
        synchronously, in the event loop, as the call's outcome is recorded; an exception it
        raises is logged. Returns the function that unsubscribes it (C-STATUS-2)."""
        return self._status.subscribe(callback)

    def _reached(self) -> None:
        """The service answered a call (a refusal too)."""
        self._breaker.answered()
        self._status.reached()

    def changes(self) -> Subscription:
        """Notifications of changed views from now on: `async for change in client.changes()`.

        An empty `change.org` means a default changed, so every org of that server is affected
        (`change.concerns(org)` says whether an org's view is). A consumer more than 1024
        notifications behind loses the oldest and is told by a `Lagged` item instead: anything
        may have changed.
        """
        return self._feed.subscribe()

    async def prompts(self, org: str, server: str) -> View[config_pb2.Prompt]:
        """The effective prompts of `org` (empty: defaults only) for `server`. An org that is
        not registered reads the defaults, with `org_unknown` set."""
        return cast(View[config_pb2.Prompt], await self._view(ViewKind.PROMPTS, org, server))

    async def resources(self, org: str, server: str) -> View[config_pb2.Resource]:
        """The effective resources of `org` (empty: defaults only) for `server`. An org that is
        not registered reads the defaults, with `org_unknown` set."""
        return cast(View[config_pb2.Resource], await self._view(ViewKind.RESOURCES, org, server))

    async def prompt(
        self, org: str, server: str, name: str, arguments: Mapping[str, str] | None = None
    ) -> config_pb2.GetPromptResponse:
        """One prompt rendered by the service (a missing argument: `InvalidArgument`). While the
        service cannot be reached, a prompt of a view the client holds (no older than
        `max_stale`, from a snapshot too) is rendered locally by the service's rules
        (C-RENDER-1, `render_locally`); any other stays `Unavailable`."""
        request = config_pb2.GetPromptRequest(
            org_id=org,
            server=server,
            name=name,
            arguments=dict(arguments or {}),
            label=self._label,
        )
        try:
            return await self._call("GetPrompt", request)
        except Unavailable:
            view_id = ViewId(ViewKind.PROMPTS, org, server)
            local = self._rendered_locally(view_id, name, request.arguments)
            if local is None:
                raise
            return local

    def _rendered_locally(
        self, view_id: ViewId, name: str, arguments: Mapping[str, str]
    ) -> config_pb2.GetPromptResponse | None:
        """The prompt `name` of the cached view `view_id` rendered locally (C-RENDER-1), when
        that view may be served stale (C-STALE-1) and holds it; its revision is the view's."""
        known = self._held(view_id)
        if known is None:
            return None
        prompt = next((p for p in known.items if p.name == name), None)
        if prompt is None:
            return None
        return config_pb2.GetPromptResponse(
            description=prompt.description,
            messages=render_locally(prompt, arguments),
            revision=known.revision,
        )

    def _held(self, view_id: ViewId) -> Entry | None:
        """The cached view `view_id` if it may be served stale (no older than `max_stale`, a
        snapshot's too): what a local answer may come from while the service is unreachable."""
        known = self._cache.get(view_id)
        if known is None or known.age() > self._max_stale:
            return None
        return known

    async def read_resource(
        self, org: str, server: str, uri: str
    ) -> config_pb2.ReadResourceResponse:
        """One resource's contents, read by the service. While the service cannot be reached,
        those of the resource with exactly that URI in the resources view the client holds (no
        older than `max_stale`, from a snapshot too), as the service would answer them
        (C-RENDER-2); a URI only a resource template matches stays `Unavailable`: rendering a
        template with a URI's variables is the service's."""
        request = config_pb2.ReadResourceRequest(
            org_id=org, server=server, uri=uri, label=self._label
        )
        try:
            return await self._call("ReadResource", request)
        except Unavailable:
            held = self._read_held(ViewId(ViewKind.RESOURCES, org, server), uri)
            if held is None:
                raise
            return held

    def _read_held(self, view_id: ViewId, uri: str) -> config_pb2.ReadResourceResponse | None:
        """The contents of the resource `uri` (not a template) of the cached view `view_id`,
        when that view may be served stale and holds it; its revision is the view's."""
        known = self._held(view_id)
        if known is None:
            return None
        resource = next((r for r in known.items if r.uri == uri and not r.is_template), None)
        if resource is None:
            return None
        return config_pb2.ReadResourceResponse(
            contents=[resource_contents(resource)], revision=known.revision
        )

    async def _call(self, method: str, request: Message) -> Any:
        """One call to the service, its failure raised as the client's exception; refused at
        once while the breaker is open."""
        await self.start()
        transport = cast(Transport, self._transport)
        rpc = getattr(transport.stub, method)
        probe = self._breaker.admit()
        if probe is None:
            self._status.unreached("not called: the service failed repeatedly (circuit open)")
            raise Unavailable(UNREACHABLE_MESSAGE, grpc.StatusCode.UNAVAILABLE)
        try:
            response = await rpc(request, metadata=transport.metadata, timeout=transport.timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() in _UNREACHED:
                self._breaker.failed()
                self._status.unreached(why_unreached(error.code()))
            else:
                self._reached()
            raise from_rpc_error(error) from error
        finally:
            if probe:
                self._breaker.probed()
        self._reached()
        return response

    async def _view(self, kind: ViewKind, org: str, server: str) -> View[Any]:
        """The cached view if it is fresh (C-VIEW-2); else revalidated or fetched (C-VIEW-3),
        asked again while behind (C-FLOOR-2); else served stale (C-STALE-1), also when a view
        that may be served stale, and no change past which was announced, is not answered
        within `read_budget`."""
        view_id = ViewId(kind, org, server)
        method, request_type, field = _LIST_RPCS[kind]
        behind_retries = 0
        while True:
            known = self._cache.get(view_id)
            if known is not None and known.is_fresh(self._revalidate_after):
                return known.view()
            known_revision = known.revision if known is not None else 0
            request = request_type(
                org_id=org, server=server, known_revision=known_revision, label=self._label
            )
            # With a view it may serve stale, a read waits only read_budget for the service;
            # unless a change past that view was announced (the caller may have been told
            # list_changed and be re-reading): then it waits up to the timeout for the change.
            servable = (
                known is not None
                and known.age() <= self._max_stale
                and not self._cache.announced_past(view_id, known.revision)
            )
            budget = self._read_budget if servable else None
            try:
                answer = await self._ask_shared(
                    (view_id, known_revision), method, request, known, field, budget
                )
            except Unavailable as error:
                return self._stale_or_raise(known, error)
            if answer is None:
                return cast(Entry, known).view(stale=True)
            entry, trust = answer
            # The replica that answered has not applied a change already announced (its own
            # invalidation is on its way): ask again shortly, a few times, then serve the
            # answer as stale (C-FLOOR-2): older than a change the caller may have been told
            # of, so never current; the next read revalidates.
            if trust is not Trust.BEHIND or behind_retries == BEHIND_RETRIES:
                return entry.view(stale=trust is Trust.BEHIND)
            behind_retries += 1
            await asyncio.sleep(BEHIND_BACKOFF * behind_retries)

    async def _ask_shared(
        self,
        key: tuple[ViewId, int],
        method: str,
        request: Message,
        known: Entry | None,
        field: str,
        budget: float | None,
    ) -> tuple[Entry, Trust] | None:
        """The list call for a view, shared by every caller asking the same while it is in
        flight, its answer stored in the cache with the trust the cache generation it was sent at
        allows (C-FLUSH-1). None when `budget` seconds pass first: the call goes on and stores
        its answer when it comes."""
        task = self._asking.get(key)
        if task is None:
            view_id = key[0]
            generation = self._cache.generation

            async def ask() -> tuple[Entry, Trust]:
                try:
                    response = await self._call(method, request)
                finally:
                    del self._asking[key]
                return self._keep(view_id, known, response, field, generation)

            task = asyncio.ensure_future(ask())
            # A failure nobody waited for any more is not an error worth a warning.
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._asking[key] = task
        # asyncio.wait neither cancels the call when the read is cancelled nor when it gives up.
        done, _ = await asyncio.wait({task}, timeout=budget)
        return task.result() if done else None

    def _keep(
        self, view_id: ViewId, known: Entry | None, response: Any, field: str, generation: int
    ) -> tuple[Entry, Trust]:
        """Stores a list answer: a `not_modified` one revalidates `known`, keeping its
        `org_unknown` (such an answer does not carry it)."""
        trust = self._cache.trust(view_id, response.revision, generation)
        if response.not_modified and known is not None:
            return self._cache.revalidated(view_id, known, response.revision, trust), trust
        entry = self._cache.store(
            view_id, response.revision, getattr(response, field), trust, response.org_unknown
        )
        if self._snapshot is not None:
            save_snapshot(self._snapshot, self._cache)
        return entry, trust

    def _stale_or_raise(self, known: Entry | None, error: Unavailable) -> View[Any]:
        """The last known view while younger than `max_stale` (C-STALE-1)."""
        if known is not None and known.age() <= self._max_stale:
            return known.view(stale=True)
        raise Unavailable(
            f"{UNREACHABLE_MESSAGE} and no view younger than {self._max_stale:g} s is known",
            error.code,
        ) from error


class Breaker:
    """Stops calls to a service that cannot be reached, so reads answer at once instead of each
    waiting out a timeout: open after `threshold` consecutive failures, for `cooldown` seconds;
    then half-open: one call goes through, its answer closes the breaker, its failure opens it
    again."""

    def __init__(self, threshold: int, cooldown: float) -> None:
        self._threshold = threshold
        self._cooldown = cooldown
        self._failures = 0
        self._opened: float | None = None
        self._probing = False

    def admit(self) -> bool | None:
        """None: the call may not go. True: it may, as the half-open probe (`probed` must
        follow it). False: it may, the breaker being closed."""
        if self._opened is None:
            return False
        if self._probing or time.monotonic() - self._opened < self._cooldown:
            return None
        self._probing = True
        return True

    def answered(self) -> None:
        """The service answered (a refusal too): it is reachable."""
        self._failures = 0
        self._opened = None

    def failed(self) -> None:
        """A call did not reach the service or timed out."""
        self._failures += 1
        if self._opened is not None or self._failures >= self._threshold:
            self._opened = time.monotonic()

    def probed(self) -> None:
        """The half-open probe ended, however (after `answered` or `failed` when it did)."""
        self._probing = False


def resource_contents(resource: config_pb2.Resource) -> config_pb2.ResourceContents:
    """What `ReadResource` answers for a resource of a view: its URI, MIME type and text or
    blob (none when it has neither)."""
    contents = config_pb2.ResourceContents(uri=resource.uri, mime_type=resource.mime_type)
    match resource.WhichOneof("contents"):
        case "text":
            contents.text = resource.text
        case "blob":
            contents.blob = resource.blob
    return contents


def why_unreached(code: grpc.StatusCode) -> str:
    """The kind of a failure to reach the service, for the status: never an address."""
    # The Rust client's words (client/src/status.rs).
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "the service did not answer in time"
    if code == grpc.StatusCode.UNAVAILABLE:
        return "the service is unreachable"
    if code == grpc.StatusCode.CANCELLED:
        return "the call was cancelled"
    return "the service failed to answer"


def _report_crash(task: asyncio.Task[None]) -> None:
    """A source loop handles its own failures; anything escaping it is a bug worth a log."""
    if not task.cancelled() and task.exception() is not None:
        log.error("the invalidation source stopped", exc_info=task.exception())
