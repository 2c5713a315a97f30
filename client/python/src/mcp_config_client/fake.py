"""`FakeConfigClient`: an in-memory stand-in for `ConfigClient` in the unit tests of code built
on it (an MCP server with the loader, a handler that reads prompts): no service, no network, no
Redis, nothing to wait for. Import it from `mcp_config_client.testing`.

The test sets the views the service would answer; each set is announced on `changes()` as the
service's invalidation would be, so the code's `list_changed` path runs too. `fail_with` makes
every call fail as the client's calls do in an outage (or with a refusal), or, with `stale`,
serves what was set flagged stale as the client serves what it holds while the service is down.
Prompts are rendered by the package's local renderer (`render_locally`, the service's rules), so
a missing argument is the service's `InvalidArgument`.

Of the service it models what a caller sees of orgs: a view is set as the org's effective items
(nothing is merged with the defaults here); an org that no view was set for and that was not
registered (`register_org`) is unknown, and reads the defaults-only view (org `""`) with
`org_unknown`; a registered org without a view of its own reads the defaults; a server nothing
was set for reads empty. Every set moves one revision counter, as the service's
change log does. Not modelled: resource templates (a URI is read only when a resource has exactly
it), an embedded resource that stands for the org's own (left unresolved, as `render_locally`
leaves it), labels, pages.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any, cast

import grpc
from mcp_config.v1 import config_pb2

from .cache import View, ViewId, ViewKind
from .changes import Changed, ChangeFeed, Subscription
from .client import resource_contents, why_unreached
from .errors import ConfigError, NotFound, Unavailable
from .render import render_locally
from .status import Status, StatusKeeper, StatusListener

#: What a view nothing was set for reads as: the service's answer for a server it does not know.
_NOTHING: View[Any] = View(items=(), revision=0, stale=None)


class FakeConfigClient:
    """A `ConfigClient` (its `ConfigReader` surface, `start`, `aclose`, `async with`,
    `wait_for_source`, `render_locally`) answering from views the test sets.

    ```python
    fake = FakeConfigClient()
    fake.set_prompts("", "github", [config_pb2.Prompt(name="review-pr", ...)])
    fake.set_prompts("acme", "github", [...])    # acme's effective prompts; acme is registered
    fake.fail_with(Unavailable("down"))          # every call fails, as in an outage
    fake.fail_with(None)                         # answers again
    ```
    """

    render_locally = staticmethod(render_locally)

    def __init__(self) -> None:
        self._views: dict[ViewId, View[Any]] = {}
        #: Registered orgs, with the revision each was registered at.
        self._orgs: dict[str, int] = {}
        self._revision = 0
        self._failure: ConfigError | None = None
        self._stale: float | None = None
        self._feed = ChangeFeed()
        self._status = StatusKeeper()

    # What the test does.

    def set_prompts(self, org: str, server: str, prompts: Iterable[config_pb2.Prompt]) -> int:
        """Sets `org`'s effective prompts on `server` (org `""`: the defaults, which every org
        without its own reads), registers `org`, announces the change; returns its revision."""
        return self._set(ViewKind.PROMPTS, org, server, prompts)

    def set_resources(self, org: str, server: str, resources: Iterable[config_pb2.Resource]) -> int:
        """As `set_prompts`, for the resources (templates included, `is_template`)."""
        return self._set(ViewKind.RESOURCES, org, server, resources)

    def register_org(self, org: str) -> int:
        """Registers `org`, as creating it through the admin API does: the views it read as an
        unknown org read as its own from now on (`org_unknown` False), and each is announced
        changed. Returns the registration's revision (an org already registered: none, 0)."""
        if not org:
            raise ValueError("the defaults-only view (org '') belongs to no org")
        if org in self._orgs:
            return 0
        self._revision += 1
        self._orgs[org] = self._revision
        for server in sorted({view_id.server for view_id in self._views}):
            for kind in ViewKind:
                self._announce(kind, org, server)
        return self._revision

    def fail_with(self, error: ConfigError | None, *, stale: float | None = None) -> None:
        """Every call from now on fails with `error` (a copy of it); None: the fake answers
        again. An `Unavailable` is an outage in which the client holds nothing it may serve; with
        `stale` (seconds), one in which it serves what it holds, as a `ConfigClient` does while
        the service cannot be reached: each view that was set (or the defaults an org reads) is
        answered with `stale` set to that age, its prompts rendered locally and its resources
        read by exact URI; anything else fails with `error`. A `Rejected` error is the service
        refusing every call."""
        if stale is not None and not isinstance(error, Unavailable):
            raise ValueError("only an outage (Unavailable) is served stale")
        self._failure = error
        self._stale = stale

    # What the code under test does: the `ConfigClient` surface.

    @property
    def status(self) -> Status:
        """As the client's: `starting` until the first call, then `ready` after one answered
        or refused, `stale` after one failed with `Unavailable` (or was served stale)."""
        return self._status.status

    def on_status(self, callback: StatusListener) -> Callable[[], None]:
        """Calls `callback(StatusEvent)` on each change of `status`; returns the unsubscriber."""
        return self._status.subscribe(callback)

    def changes(self) -> Subscription:
        """Every set and registration from now on, as a `Changed`."""
        return self._feed.subscribe()

    async def prompts(self, org: str, server: str) -> View[config_pb2.Prompt]:
        """`org`'s prompts on `server`, as set (see the module for an org or server not set)."""
        return cast(View[config_pb2.Prompt], self._read(ViewKind.PROMPTS, org, server))

    async def resources(self, org: str, server: str) -> View[config_pb2.Resource]:
        """`org`'s resources on `server`, as set."""
        return cast(View[config_pb2.Resource], self._read(ViewKind.RESOURCES, org, server))

    async def prompt(
        self, org: str, server: str, name: str, arguments: Mapping[str, str] | None = None
    ) -> config_pb2.GetPromptResponse:
        """The prompt `name` of `org`'s prompts rendered by `render_locally` (the service's
        rules: a missing argument is `InvalidArgument`); `NotFound` when there is none."""
        view = self._read(ViewKind.PROMPTS, org, server)
        prompt = next((p for p in view.items if p.name == name), None)
        if prompt is None:
            raise self._refused(NotFound(_not_found("name", name, org, server)))
        return config_pb2.GetPromptResponse(
            description=prompt.description,
            messages=render_locally(prompt, arguments or {}),
            revision=view.revision,
        )

    async def read_resource(
        self, org: str, server: str, uri: str
    ) -> config_pb2.ReadResourceResponse:
        """The contents of the resource of `org` whose URI is exactly `uri` (not a template);
        `NotFound` when there is none (the fake does not expand resource templates)."""
        view = self._read(ViewKind.RESOURCES, org, server)
        resource = next((r for r in view.items if r.uri == uri and not r.is_template), None)
        if resource is None:
            raise self._refused(NotFound(_not_found("uri", uri, org, server)))
        return config_pb2.ReadResourceResponse(
            contents=[resource_contents(resource)], revision=view.revision
        )

    # The client's lifecycle, for code that starts and closes the client it is given.

    async def start(self) -> None:
        """Nothing to connect to."""

    async def aclose(self) -> None:
        """Ends every `changes()`, as the client's `aclose` does."""
        self._feed.close()

    async def wait_for_source(self, timeout: float) -> None:
        """Changes are announced as they are set: nothing to wait for."""

    async def __aenter__(self) -> FakeConfigClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # Inside.

    def _set(self, kind: ViewKind, org: str, server: str, items: Iterable[Any]) -> int:
        self._revision += 1
        if org:
            self._orgs.setdefault(org, self._revision)
        self._views[ViewId(kind, org, server)] = View(tuple(items), self._revision, None)
        self._announce(kind, org, server)
        return self._revision

    def _announce(self, kind: ViewKind, org: str, server: str) -> None:
        self._feed.publish(Changed(org, server, kind, self._revision))

    def _read(self, kind: ViewKind, org: str, server: str) -> View[Any]:
        """The view a read answers, or the failure `fail_with` set; the status follows."""
        if self._failure is None:
            self._status.reached()
            return self._view(kind, org, server)
        if self._stale is not None and self._held(kind, org, server):
            self._unreached(self._failure)
            return replace(self._view(kind, org, server), stale=self._stale)
        raise self._failed(self._failure)

    def _view(self, kind: ViewKind, org: str, server: str) -> View[Any]:
        """`org`'s view of `kind` on `server`: its own, else the defaults (flagged when the org
        is unknown)."""
        own = self._views.get(ViewId(kind, org, server))
        if own is not None:
            return own
        defaults = self._views.get(ViewId(kind, "", server))
        registered = self._orgs.get(org)
        if org and registered is None:
            return replace(defaults or _NOTHING, org_unknown=True)
        if defaults is None or registered is None:
            return defaults or _NOTHING
        # Registering the org moved its views' revision, as the service's does.
        return replace(defaults, revision=max(defaults.revision, registered))

    def _held(self, kind: ViewKind, org: str, server: str) -> bool:
        """Whether the view derives from one that was set (its own, or the defaults), so a
        client would hold it while the service is down."""
        return any(ViewId(kind, o, server) in self._views for o in (org, ""))

    def _refused(self, error: ConfigError) -> ConfigError:
        """`error` when a view was answered but has no such item: while served stale, the
        client would not know either, and fails with the outage's error instead."""
        if self._failure is not None:
            return self._failed(self._failure)
        return error

    def _failed(self, error: ConfigError) -> ConfigError:
        """A fresh copy of `error` to raise (one instance raised again and again would pile up
        tracebacks), the status following it."""
        if isinstance(error, Unavailable):
            self._unreached(error)
        else:
            self._status.reached()
        return copy.copy(error)

    def _unreached(self, error: ConfigError) -> None:
        self._status.unreached(why_unreached(error.code or grpc.StatusCode.UNAVAILABLE))


def _not_found(field: str, key: str, org: str, server: str) -> str:
    """The service's words for a missing prompt or resource."""
    scope = f"org {org}" if org else "the defaults"
    return f"{field} {json.dumps(key)} of server {server} in {scope} not found"
