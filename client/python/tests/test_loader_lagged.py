"""When the mcp-config client's changes overflow (the server fell behind and lost some), every
client is told both lists changed, on either protocol: the lost changes may have been its own.

No service and no timing: the changes come from a feed filled past its capacity and closed, so
forwarding them ends once they are announced."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import mcp_types as types
from mcp.server import ServerRequestContext
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY

from mcp_config_client import Changed, Subscription, ViewKind
from mcp_config_client.changes import ChangeFeed
from mcp_config_client.loader.listen import ListenStreams
from mcp_config_client.loader.sessions import Sessions

#: Changes that concern no client below (another server's): only the loss is announced.
ELSEWHERE = Changed("acme", "slack", ViewKind.PROMPTS)


def overflowed() -> Subscription:
    """A closed subscription that lost a change: `Lagged(1)`, then `ELSEWHERE` twice."""
    feed = ChangeFeed()
    changes = feed.subscribe(capacity=2)
    for _ in range(3):
        feed.publish(ELSEWHERE)
    feed.close()
    return changes


class RecordingSession:
    """What `Sessions` uses of a `ServerSession`, recording the notifications."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def request(self, session_id: str) -> ServerRequestContext[Any]:
        """What `Sessions` uses of a request's context: a request of this session over HTTP."""
        http = SimpleNamespace(headers={"mcp-session-id": session_id})
        return cast(
            ServerRequestContext[Any],
            SimpleNamespace(protocol_version="2025-11-25", request=http, session=self),
        )

    async def send_prompt_list_changed(self) -> None:
        self.sent.append("prompts")

    async def send_resource_list_changed(self) -> None:
        self.sent.append("resources")


async def test_every_session_is_told_both_lists_changed_after_lost_changes() -> None:
    sessions = Sessions()
    acme, globex = RecordingSession(), RecordingSession()
    sessions.remember(acme.request("1"), "acme")
    sessions.remember(globex.request("2"), "globex")

    await sessions.forward(overflowed(), "github")

    assert acme.sent == globex.sent == ["prompts", "resources"]


class RecordingStream:
    """What `ListenStreams.serve` uses of a request context, recording the notifications."""

    request_id = 7

    def __init__(self) -> None:
        self.session = self
        self.sent: list[types.ServerNotification] = []

    async def send_notification(
        self, notification: types.ServerNotification, related_request_id: Any = None
    ) -> None:
        assert related_request_id == self.request_id
        self.sent.append(notification)


async def test_a_listen_stream_is_told_both_requested_lists_changed_after_lost_changes() -> None:
    streams = ListenStreams(overflowed, "github")
    stream = RecordingStream()
    requested = types.SubscriptionFilter(prompts_list_changed=True, resources_list_changed=True)

    result = await streams.serve(cast(ServerRequestContext[Any], stream), "acme", requested)

    meta = {SUBSCRIPTION_ID_META_KEY: stream.request_id}
    assert [type(n) for n in stream.sent] == [
        types.SubscriptionsAcknowledgedNotification,
        types.PromptListChangedNotification,
        types.ResourceListChangedNotification,
    ]
    assert all(n.params is not None and n.params.meta == meta for n in stream.sent)
    assert result.meta == meta


async def test_a_listen_stream_is_told_only_of_the_lists_it_requested() -> None:
    streams = ListenStreams(overflowed, "github")
    stream = RecordingStream()
    requested = types.SubscriptionFilter(resources_list_changed=True)

    await streams.serve(cast(ServerRequestContext[Any], stream), "acme", requested)

    assert [type(n) for n in stream.sent] == [
        types.SubscriptionsAcknowledgedNotification,
        types.ResourceListChangedNotification,
    ]
