"""The MCP requests the loader answers, each for the org of the request: thin handlers (org
from the request, view from the client, MCP types out; the fallback while the client has no
view to serve)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import mcp_types as types
from mcp.server import ServerRequestContext
from mcp.shared.exceptions import MCPError

from ..cache import View, ViewKind
from ..errors import ConfigError, InvalidArgument, NotFound, Unavailable
from ..reader import ConfigReader
from . import convert
from .fallback import Fallback
from .listen import ListenStreams
from .recovery import Recovery
from .sessions import Sessions

T = TypeVar("T")

OrgOf = Callable[[ServerRequestContext[Any]], str]
"""Decides the org of a request (`""`: defaults only); raise an `MCPError` to refuse it."""


class Handlers:
    """Answers prompts, resources, completion and `subscriptions/listen` for one MCP server of
    mcp-config (`server`)."""

    def __init__(
        self,
        client: ConfigReader,
        server: str,
        org_of: OrgOf,
        fallback: Fallback,
        sessions: Sessions,
        streams: ListenStreams,
        recovery: Recovery,
    ) -> None:
        self._client = client
        self._server = server
        self._org_of = org_of
        self._fallback = fallback
        self._sessions = sessions
        self._streams = streams
        self._recovery = recovery

    def _org(self, ctx: ServerRequestContext[Any]) -> str:
        """The request's org; also records the session as one of that org's."""
        org = self._org_of(ctx)
        self._sessions.remember(ctx, org)
        return org

    async def _items(self, kind: ViewKind, org: str) -> Sequence[Any] | None:
        """The items of `org`'s view of `kind`; None when the client cannot serve it and the
        fallback stands in (until the service answers for it: `Recovery`)."""
        try:
            return (await read_view(self._client, self._server, kind, org)).items
        except Unavailable:
            if not self._fallback.covers(kind):
                raise
        self._recovery.watch(org, kind)
        return None

    async def list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        items = await _answer(self._items(ViewKind.PROMPTS, self._org(ctx)))
        if items is None:
            return types.ListPromptsResult(prompts=[p.prompt for p in self._fallback.prompts])
        return types.ListPromptsResult(prompts=[convert.prompt(p) for p in items])

    async def get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        """The prompt rendered by mcp-config; the fallback's messages while it is unreachable
        and the org's prompts are the fallback's (never while its own view is served stale)."""
        org = self._org(ctx)
        given = (
            self._fallback.prompt(params.name)
            if self._recovery.serves_fallback(org, ViewKind.PROMPTS)
            else None
        )
        rendered = self._rendered(org, params.name, params.arguments or {})
        return await _answer(rendered, given.result if given else None)

    async def _rendered(
        self, org: str, name: str, arguments: Mapping[str, str]
    ) -> types.GetPromptResult:
        response = await self._client.prompt(org, self._server, name, arguments)
        return convert.rendered(response, response.description)

    async def list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        items = await _answer(self._items(ViewKind.RESOURCES, self._org(ctx)))
        if items is None:
            return types.ListResourcesResult(
                resources=[r.resource for r in self._fallback.resources]
            )
        return types.ListResourcesResult(resources=convert.resources(items))

    async def list_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        """The view's templates; a fallback has none."""
        items = await _answer(self._items(ViewKind.RESOURCES, self._org(ctx)))
        return types.ListResourceTemplatesResult(
            resource_templates=convert.resource_templates(items or ())
        )

    async def read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        """The resource read by mcp-config; the fallback's contents while it is unreachable and
        the org's resources are the fallback's."""
        org = self._org(ctx)
        given = (
            self._fallback.resource(params.uri)
            if self._recovery.serves_fallback(org, ViewKind.RESOURCES)
            else None
        )
        read = self._read(org, params.uri)
        return await _answer(read, given.result if given else None)

    async def _read(self, org: str, uri: str) -> types.ReadResourceResult:
        return convert.contents(await self._client.read_resource(org, self._server, uri))

    async def complete(
        self, ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        """The declared choices of a prompt argument that start with what was typed; a resource
        template's variables declare none."""
        if not isinstance(params.ref, types.PromptReference):
            return types.CompleteResult(completion=types.Completion(values=[]))
        view = await _answer(self._client.prompts(self._org(ctx), self._server))
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


async def read_view(client: ConfigReader, server: str, kind: ViewKind, org: str) -> View[Any]:
    """`org`'s view of `kind` on `server`."""
    if kind is ViewKind.PROMPTS:
        return await client.prompts(org, server)
    return await client.resources(org, server)


async def _answer(call: Awaitable[T], stand_in: Callable[[], T] | None = None) -> T:
    """Awaits a client call; its errors become MCP errors that carry the service's message.
    While the service is unreachable, `stand_in`'s answer when there is one (the fallback's)."""
    try:
        return await call
    except Unavailable as error:
        if stand_in is None:
            raise _mcp_error(error) from error
        return stand_in()
    except ConfigError as error:
        raise _mcp_error(error) from error


def _mcp_error(error: ConfigError) -> MCPError:
    """The MCP error for a client error: the caller's mistakes are invalid params, anything else
    an internal error; both keep the service's message (an outage's names no address)."""
    if isinstance(error, NotFound | InvalidArgument):
        return MCPError(types.INVALID_PARAMS, error.message)
    return MCPError(types.INTERNAL_ERROR, error.message)
