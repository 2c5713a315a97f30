"""The client's `label` goes with every read and with `Watch`: checked against an in-process
gRPC server that records the requests it gets (no service binary needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from mcp_config.v1 import config_pb2, config_pb2_grpc

from mcp_config_client import ConfigClient, Watch


class Recording(config_pb2_grpc.ConfigServiceServicer):
    """Answers every read with an empty view and keeps every request, by method."""

    def __init__(self) -> None:
        self.requests: dict[str, list[Any]] = {}
        self.watching = asyncio.Event()

    def _keep(self, method: str, request: Any) -> None:
        self.requests.setdefault(method, []).append(request)

    async def GetPrompts(self, request: Any, context: Any) -> config_pb2.GetPromptsResponse:
        self._keep("GetPrompts", request)
        return config_pb2.GetPromptsResponse(revision=1)

    async def GetResources(self, request: Any, context: Any) -> config_pb2.GetResourcesResponse:
        self._keep("GetResources", request)
        return config_pb2.GetResourcesResponse(revision=1)

    async def GetPrompt(self, request: Any, context: Any) -> config_pb2.GetPromptResponse:
        self._keep("GetPrompt", request)
        return config_pb2.GetPromptResponse(revision=1)

    async def ReadResource(self, request: Any, context: Any) -> config_pb2.ReadResourceResponse:
        self._keep("ReadResource", request)
        return config_pb2.ReadResourceResponse(revision=1)

    async def Watch(
        self, request: Any, context: Any
    ) -> AsyncIterator[config_pb2.InvalidationEvent]:
        self._keep("Watch", request)
        await context.send_initial_metadata(())
        self.watching.set()
        await asyncio.Event().wait()  # open until the client goes
        yield config_pb2.InvalidationEvent()


async def reads_with(label: str | None) -> dict[str, list[Any]]:
    """Every read once, by a Watch client with `label` (None: the option left out)."""
    recording = Recording()
    server = grpc.aio.server()
    config_pb2_grpc.add_ConfigServiceServicer_to_server(recording, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        options = {} if label is None else {"label": label}
        async with ConfigClient(f"127.0.0.1:{port}", source=Watch(), **options) as client:
            await client.wait_for_source(5.0)
            await client.prompts("acme", "github")
            await client.resources("acme", "github")
            await client.prompt("acme", "github", "review-pr", {"repo": "acme/api"})
            await client.read_resource("acme", "github", "file:///readme")
    finally:
        await server.stop(None)
    return recording.requests


async def test_the_label_goes_with_every_read_and_with_watch() -> None:
    requests = await reads_with("staging")
    assert sorted(requests) == ["GetPrompt", "GetPrompts", "GetResources", "ReadResource", "Watch"]
    for method, sent in requests.items():
        assert [r.label for r in sent] == ["staging"] * len(sent), method


async def test_no_label_reads_at_production() -> None:
    requests = await reads_with(None)
    for method in ("GetPrompts", "GetResources", "GetPrompt", "ReadResource"):
        assert [r.label for r in requests[method]] == [""], f"{method}: empty means production"
    assert [r.label for r in requests["Watch"]] == ["production"], "the tracker's label"
