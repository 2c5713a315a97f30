"""The MCP server: thin handlers (org from the request, view from mcp-config, MCP types out)
and the HTTP app that runs it next to the mcp-config client, the notification task of legacy
sessions and the `subscriptions/listen` streams of 2026-07-28 clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import mcp_types as types
from mcp.server import InitializationOptions, NotificationOptions, Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_config_client import ConfigClient, ConfigError, InvalidArgument, NotFound
from starlette.applications import Starlette
from starlette.routing import Mount

from . import convert
from .listen import ListenStreams
from .org import Unauthorized, org_of
from .sessions import Sessions

SESSION_HEADER = "mcp-session-id"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Settings:
    server: str
    """The MCP server name in mcp-config (`github`, `slack`, …)."""
    jwt_secret: str | None = None
    """HS256 secret to verify bearer tokens (the one mcp-config uses); None: tokens refused."""


class ListChangedServer(Server[Any]):
    """A lowlevel server that declares `listChanged` for prompts and resources.

    The streamable-HTTP session manager asks for initialization options without notification
    options, so the default has to be the one this server means."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options
            or NotificationOptions(prompts_changed=True, resources_changed=True),
            experimental_capabilities,
            extensions,
        )


class Handlers:
    """The MCP requests this server answers, each for the org of the request."""

    def __init__(
        self,
        settings: Settings,
        client: ConfigClient,
        sessions: Sessions,
        streams: ListenStreams,
    ) -> None:
        self._settings = settings
        self._client = client
        self._sessions = sessions
        self._streams = streams

    def _org(self, ctx: ServerRequestContext[Any]) -> str:
        """The request's org; also records the session as one of that org's."""
        headers = ctx.request.headers if ctx.request is not None else {}
        try:
            org = org_of(headers, self._settings.jwt_secret)
        except Unauthorized as error:
            raise MCPError(types.INVALID_REQUEST, str(error)) from error
        self._sessions.remember(headers.get(SESSION_HEADER), org, ctx.session)
        return org

    async def list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        view = await _answer(self._client.prompts(self._org(ctx), self._settings.server))
        return types.ListPromptsResult(prompts=[convert.prompt(p) for p in view.items])

    async def get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        org = self._org(ctx)
        server = self._settings.server
        rendered = await _answer(self._client.prompt(org, server, params.name, params.arguments))
        return convert.rendered(rendered, rendered.description)

    async def list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        view = await _answer(self._client.resources(self._org(ctx), self._settings.server))
        return types.ListResourcesResult(resources=convert.resources(view.items))

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        view = await _answer(self._client.resources(self._org(ctx), self._settings.server))
        return types.ListResourceTemplatesResult(
            resource_templates=convert.resource_templates(view.items)
        )

    async def read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        org = self._org(ctx)
        read = await _answer(self._client.read_resource(org, self._settings.server, params.uri))
        return convert.contents(read)

    async def complete(
        self, ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        """The declared choices of a prompt argument that start with what was typed; a resource
        template's variables declare none."""
        if not isinstance(params.ref, types.PromptReference):
            return types.CompleteResult(completion=types.Completion(values=[]))
        view = await _answer(self._client.prompts(self._org(ctx), self._settings.server))
        prompt = next((p for p in view.items if p.name == params.ref.name), None)
        if prompt is None:
            raise MCPError(types.INVALID_PARAMS, f"ref.name: no prompt {params.ref.name!r}")
        argument = next((a for a in prompt.arguments if a.name == params.argument.name), None)
        if argument is None:
            raise MCPError(
                types.INVALID_PARAMS,
                f"argument.name: prompt {prompt.name} has no argument {params.argument.name!r}",
            )
        return types.CompleteResult(completion=convert.completion(argument, params.argument.value))

    async def listen(
        self, ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        """A 2026-07-28 client's change notifications, for the org its listen request carries."""
        return await self._streams.serve(ctx, self._org(ctx), params.notifications)


async def _answer(call: Awaitable[T]) -> T:
    """Awaits a client call; its errors become MCP errors that carry the service's message."""
    try:
        return await call
    except (NotFound, InvalidArgument) as error:
        raise MCPError(types.INVALID_PARAMS, error.message) from error
    except ConfigError as error:
        raise MCPError(types.INTERNAL_ERROR, error.message) from error


def build(settings: Settings, client: ConfigClient) -> Starlette:
    """The streamable-HTTP app at `/mcp`. Its lifespan runs the mcp-config client and the task
    that turns the client's change notifications into `list_changed` on the org's sessions.

    `app.state.listen_streams` is for the HTTP server to close before it waits for open
    responses (see `ListenStreams.close`); the lifespan's end closes them too."""
    sessions = Sessions()
    streams = ListenStreams(client, settings.server)
    handlers = Handlers(settings, client, sessions, streams)
    server = ListChangedServer(
        f"mcp-config-{settings.server}",
        on_list_prompts=handlers.list_prompts,
        on_get_prompt=handlers.get_prompt,
        on_list_resources=handlers.list_resources,
        on_list_resource_templates=handlers.list_resource_templates,
        on_read_resource=handlers.read_resource,
        on_completion=handlers.complete,
        on_subscriptions_listen=handlers.listen,
    )
    mcp_app = server.streamable_http_app()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with client, server.session_manager.run():
            forwarding = asyncio.create_task(sessions.forward(client.changes(), settings.server))
            try:
                yield
            finally:
                streams.close()
                forwarding.cancel()

    app = Starlette(routes=[Mount("/", app=mcp_app)], lifespan=lifespan)
    app.state.listen_streams = streams
    return app
