"""`ConfigReader`: what code built on the client reads of it, so such code can take either the
real `ConfigClient` or the in-memory `FakeConfigClient` of its unit tests
(`mcp_config_client.testing`) without the fake having to be a client, with a channel, a cache
and a breaker it would never use.

The loader (`mcp_config_client.loader`) is typed on it; type your own code on it too where a
test should be able to hand it the fake.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from mcp_config.v1 import config_pb2

from .cache import View
from .changes import Subscription
from .status import Status, StatusListener


class ConfigReader(Protocol):
    """The reads, change notifications and status of a `ConfigClient` (see its methods for
    what each answers)."""

    async def prompts(self, org: str, server: str) -> View[config_pb2.Prompt]: ...

    async def resources(self, org: str, server: str) -> View[config_pb2.Resource]: ...

    async def prompt(
        self, org: str, server: str, name: str, arguments: Mapping[str, str] | None = None
    ) -> config_pb2.GetPromptResponse: ...

    async def read_resource(
        self, org: str, server: str, uri: str
    ) -> config_pb2.ReadResourceResponse: ...

    def changes(self) -> Subscription: ...

    @property
    def status(self) -> Status: ...

    def on_status(self, callback: StatusListener) -> Callable[[], None]: ...
