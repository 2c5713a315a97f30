"""The gRPC side of the client: one channel, the generated stub, and the metadata every call
carries (the bearer token, and the caller's trace context when given).

The org travels in each request's `org_id` only, not also as `x-org-id` metadata: the service
checks that header first, so a bad org would be reported under the header's name rather than the
field the caller passed."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import grpc
from mcp_config.v1 import config_pb2_grpc

#: Views can be large; the service allows 64 MiB responses, so the client accepts them too.
MAX_MESSAGE_BYTES = 64 << 20

Metadata = tuple[tuple[str, str], ...]


def target_of(endpoint: str) -> tuple[str, bool]:
    """`host:port` and whether to use TLS, from `http(s)://host:port` or a bare `host:port`."""
    for scheme, secure in (("https://", True), ("http://", False)):
        if endpoint.startswith(scheme):
            return endpoint.removeprefix(scheme).rstrip("/"), secure
    return endpoint, False


class Transport:
    """Owns the channel; created inside the event loop that uses it (grpc.aio requires it)."""

    def __init__(
        self,
        endpoint: str,
        token: str | None,
        timeout: float,
        trace_context: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        target, secure = target_of(endpoint)
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            # Reconnect promptly after the service comes back, instead of gRPC's default of up
            # to two minutes, so stale views end as soon as they can.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2_000),
        ]
        self.channel = (
            grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options)
            if secure
            else grpc.aio.insecure_channel(target, options)
        )
        self.stub = config_pb2_grpc.ConfigServiceStub(self.channel)
        self.timeout = timeout
        self._auth: Metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._trace_context = trace_context

    @property
    def metadata(self) -> Metadata:
        """The token, and the W3C trace context (`traceparent`, `tracestate`) of the caller's
        current operation at the time of the call (C-TRANS-3)."""
        if self._trace_context is None:
            return self._auth
        traced = tuple((name.lower(), value) for name, value in self._trace_context().items())
        return self._auth + traced

    async def close(self) -> None:
        await self.channel.close()
