"""`ConfigLoader`: puts mcp-config's prompts and resources into an MCP SDK server.

The loader takes over the server's prompt, resource, completion and `subscriptions/listen`
requests and leaves the rest (its tools) alone. `install` registers the handlers on the server's
low-level `Server` (an `MCPServer` has one inside); it also wraps that server's lifespan, so the
task that turns the client's changes into `list_changed` notifications runs exactly while the
server does, and declares `listChanged`, which the SDK's transports ask for without saying so.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

import mcp_types as types
from mcp.server import InitializationOptions, MCPServer, NotificationOptions, Server

from ..changes import Changed, Subscription
from ..reader import ConfigReader
from .fallback import Fallback
from .handlers import Handlers, OrgOf, read_view
from .listen import ListenStreams
from .recovery import Recovery
from .sessions import Sessions

Lifespan = Callable[[Server[Any]], AbstractAsyncContextManager[Any]]


class ConfigLoader:
    """One MCP server's (`server`: `github`, `slack`, …) prompts and resources, per org, from
    `client` (a `ConfigClient`; in unit tests, `mcp_config_client.testing.FakeConfigClient`);
    `fallback` is what it serves while the service cannot answer and the client knows no copy
    of a view (see `Fallback`).

    ```python
    client = ConfigClient("127.0.0.1:50051")
    loader = ConfigLoader(client, server="github")
    loader.install(mcp, org_of=lambda ctx: ctx.request.headers.get("x-org-id", ""))
    ```
    """

    def __init__(
        self, client: ConfigReader, server: str, *, fallback: Fallback = Fallback()
    ) -> None:
        self._client = client
        self._server = server
        self._fallback = fallback
        self._sessions = Sessions()
        self._streams = ListenStreams(self._changes, server)
        self._recovery = Recovery(server, partial(read_view, client, server), self._announce)
        #: Every subscription that tells MCP clients of changes (the sessions' task, each listen
        #: stream), for the views leaving the fallback, which the client never announces.
        self._told: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._running = 0
        self._forwarding: tuple[Subscription, asyncio.Task[None]] | None = None

    def install(self, server: Server[Any] | MCPServer[Any], org_of: OrgOf) -> None:
        """Answers `server`'s prompts/list, prompts/get, resources/list,
        resources/templates/list, resources/read, completion/complete and subscriptions/listen
        for the org `org_of(ctx)` decides for each request (`""`: the defaults only; raise an
        `MCPError` to refuse a request). The server's own prompts and resources are no longer
        served (pass them as the fallback); its tools are untouched."""
        # MCPServer has no public handle on its low-level server; the SDK's own in-process
        # `Client` reaches it the same way.
        lowlevel = server._lowlevel_server if isinstance(server, MCPServer) else server
        handlers = Handlers(
            self._client,
            self._server,
            org_of,
            self._fallback,
            self._sessions,
            self._streams,
            self._recovery,
        )
        add = lowlevel.add_request_handler
        add("prompts/list", types.PaginatedRequestParams, handlers.list_prompts)
        add("prompts/get", types.GetPromptRequestParams, handlers.get_prompt)
        add("resources/list", types.PaginatedRequestParams, handlers.list_resources)
        add("resources/templates/list", types.PaginatedRequestParams, handlers.list_templates)
        add("resources/read", types.ReadResourceRequestParams, handlers.read_resource)
        add("completion/complete", types.CompleteRequestParams, handlers.complete)
        add("subscriptions/listen", types.SubscriptionsListenRequestParams, handlers.listen)
        lowlevel.lifespan = self._lifespan(lowlevel.lifespan)
        _declare_list_changed(lowlevel)

    def close_listen_streams(self) -> None:
        """Ends every open `subscriptions/listen` stream gracefully, and any opened from now on
        right after its ack. An HTTP server has to call this before it waits for open responses
        to finish (uvicorn does, before the app's shutdown): a listen stream never finishes by
        itself."""
        self._streams.close()

    def _lifespan(self, inner: Lifespan) -> Lifespan:
        @asynccontextmanager
        async def lifespan(server: Server[Any]) -> AsyncIterator[Any]:
            async with self._run(), inner(server) as state:
                yield state

        return lifespan

    @asynccontextmanager
    async def _run(self) -> AsyncIterator[None]:
        """Forwards the client's changes to the sessions while the server runs. A stream
        transport runs the server once per connection: the first run starts, the last stops."""
        if self._running == 0:
            changes = self._changes()
            self._forwarding = (
                changes,
                asyncio.create_task(self._sessions.forward(changes, self._server)),
            )
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            if self._running == 0:
                await self._stop()

    async def _stop(self) -> None:
        await self._recovery.close()
        if self._forwarding is not None:
            changes, task = self._forwarding
            changes.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._forwarding = None

    def _changes(self) -> Subscription:
        """The client's changes, to which the views leaving the fallback are added."""
        changes = self._client.changes()
        self._told.add(changes)
        return changes

    def _announce(self, change: Changed) -> None:
        for changes in list(self._told):
            changes.offer(change)


def _declare_list_changed(server: Server[Any]) -> None:
    """Makes `server` declare `listChanged` for prompts and resources on the protocols with
    `initialize`. The SDK derives that from notification options its transports never pass
    (on 2026-07-28 it derives it from `subscriptions/listen` being served, as it is here)."""
    create = server.create_initialization_options

    def create_with_list_changed(
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        given = notification_options or NotificationOptions()
        return create(
            NotificationOptions(
                prompts_changed=True, resources_changed=True, tools_changed=given.tools_changed
            ),
            experimental_capabilities,
            extensions,
        )

    server.create_initialization_options = create_with_list_changed  # type: ignore[method-assign]
