"""The background tasks that feed the tracker: the service's `Watch` stream or the Redis
channel, each reconnecting by itself with backoff.

Each tells the tracker when it is connected (subscribed, so no later change can be missed) and
when it lost the connection; the tracker decides what that means for the cached views.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
import redis.asyncio
from google.protobuf import json_format
from mcp_config.v1 import config_pb2
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .tracker import Tracker
from .transport import Transport

log = logging.getLogger(__name__)


class Backoff:
    """Exponential delay between reconnection attempts, reset once connected."""

    FIRST = 0.1
    MAX = 5.0

    def __init__(self) -> None:
        self._next = self.FIRST

    def reset(self) -> None:
        self._next = self.FIRST

    async def sleep(self) -> None:
        delay, self._next = self._next, min(self._next * 2, self.MAX)
        await asyncio.sleep(delay)


@dataclass(frozen=True, slots=True)
class Watch:
    """Invalidations from the service's own `Watch` stream (no Redis needed)."""


@dataclass(frozen=True, slots=True)
class Redis:
    """Invalidations from the Redis channel the service publishes on."""

    url: str
    channel: str = "mcp-config:invalidations"

    def __post_init__(self) -> None:
        # A bad URL fails here, not in the background task (C-SRC-10). The `redis` package is a
        # dependency of this one: without it, importing mcp_config_client fails already.
        redis.asyncio.connection.parse_url(self.url)

    def describe(self) -> str:
        """The source for a log: its URL without credentials, and its channel."""
        parts = urllib.parse.urlsplit(self.url)
        where = parts.hostname or parts.path
        if parts.port is not None:
            where = f"{where}:{parts.port}"
        return f"the Redis source {parts.scheme}://{where} (channel {self.channel})"


Source = Watch | Redis | None
"""Where invalidations come from; `None`: views are revalidated after `revalidate_after` only."""


#: How long a source may say nothing before it is taken as cut off — the Watch stream, or the
#: Redis channel, where the service's relay announces progress too (a hung service or Redis, or
#: a partition, delivers nothing and closes nothing): three of the service's progress intervals.
SILENCE = 15.0

# Waits are bounded with `asyncio.timeout`, not `asyncio.wait_for`: on Python 3.11 `wait_for`
# swallows a cancellation that arrives as its awaitable completes (a message just received),
# and `aclose()` then waited forever for a source that never stopped.


async def watch(
    transport: Transport,
    tracker: Tracker,
    silence: float = SILENCE,
    servers: Sequence[str] = (),
    reached: Callable[[], None] = lambda: None,
) -> None:
    """Follows `Watch` from the last revision seen, so a reconnection replays what it missed;
    only `servers`' events when given (the service then chains `previous_revision` through the
    events it sends, so another server's change is no gap), and only events touching the views of
    the tracker's label, or naming no label (C-TRACK-5). `reached` is told each time the stream
    opens: the service is there (C-STALE-5)."""
    backoff = Backoff()
    while True:
        request = config_pb2.WatchRequest(
            since_revision=tracker.last, servers=servers, label=tracker.label
        )
        call = transport.stub.Watch(request, metadata=transport.metadata)
        try:
            # A hung service may take the request and never answer it: opening is bounded too.
            async with asyncio.timeout(silence):
                await call.wait_for_connection()
            reached()
            tracker.on_connected()
            backoff.reset()
            while True:
                async with asyncio.timeout(silence):
                    event = await call.read()
                if event is grpc.aio.EOF:
                    break
                tracker.on_event(event)
        except TimeoutError:
            log.debug("the Watch stream said nothing for %s s; reconnecting", silence)
        except grpc.aio.AioRpcError as error:
            log.debug("the Watch stream failed (%s); reconnecting", error.code().name)
            if error.code() == grpc.StatusCode.OUT_OF_RANGE:
                # The resume point was pruned from the change log: start over from live events.
                tracker.last = 0
        finally:
            call.cancel()
            tracker.on_disconnected()
        await backoff.sleep()


def channels_of(source: Redis, servers: Sequence[str]) -> list[str]:
    """The global channel, or only `servers`' own channels (`<channel>:<server>`), where each
    server's events and progress go too."""
    if not servers:
        return [source.channel]
    return [f"{source.channel}:{server}" for server in dict.fromkeys(servers)]


async def subscribe(
    source: Redis, tracker: Tracker, silence: float = SILENCE, servers: Sequence[str] = ()
) -> None:
    """Follows the Redis channel, or `servers`' own channels, each a chain of revisions of its
    own; silence on all of them for `silence` is taken as a cut. A failure to connect is logged
    once as an error, and again only after the source connected and failed anew (C-SRC-10)."""
    channels = channels_of(source, servers)
    backoff = Backoff()
    told = False
    while True:
        # No retries inside redis-py: a lost connection surfaces here, where it is counted as a
        # reconnection, and this loop is the one place that decides when to try again.
        client = redis.asyncio.Redis.from_url(
            source.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2, socket_keepalive=True
        )
        pubsub = client.pubsub()
        # Connected once every channel's subscription is confirmed (C-SRC-2, C-SRC-7).
        unconfirmed = set(channels)
        failure: str | None = None
        try:
            async with asyncio.timeout(silence):
                await pubsub.subscribe(*channels)
            while True:
                async with asyncio.timeout(silence):
                    message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                channel = message["channel"].decode()
                if message["type"] == "subscribe" and channel in unconfirmed:
                    unconfirmed.discard(channel)
                    if not unconfirmed:
                        tracker.on_connected()
                        backoff.reset()
                        told = False
                elif message["type"] == "message":
                    apply_json(message["data"], tracker, channel)
        except TimeoutError:
            failure = f"it said nothing for {silence:g} s"
            log.debug("the Redis channel said nothing for %s s; reconnecting", silence)
        except (redis.RedisError, OSError) as error:
            failure = f"{type(error).__name__}: {error}"
            log.debug("the Redis subscription failed (%s); reconnecting", error)
        finally:
            if failure is not None and unconfirmed and not told:
                told = True
                log.error(
                    "%s cannot connect or subscribe (%s): check that Redis runs there and the "
                    "URL is right, or use the Watch source; retrying in the background, reads "
                    "revalidate with the service meanwhile (logged again only once it has "
                    "connected and failed anew)",
                    source.describe(),
                    failure,
                )
            tracker.on_disconnected()
            # A hung Redis may not answer a goodbye either.
            with contextlib.suppress(TimeoutError, redis.RedisError, OSError):
                async with asyncio.timeout(1.0):
                    await pubsub.aclose()
                async with asyncio.timeout(1.0):
                    await client.aclose()
        await backoff.sleep()


def apply_json(data: bytes | str, tracker: Tracker, channel: str) -> None:
    """Applies one message of `channel`; an unreadable one may hide a change, so it flushes."""
    try:
        # An event is a JSON object: `json_format.Parse` reads `[]` or `"text"` as an empty
        # event (a progress event at revision 0, ignored), and raises no ParseError for bytes
        # that are not UTF-8.
        fields = json.loads(data)
        if not isinstance(fields, dict):
            raise json_format.ParseError("an invalidation event is a JSON object")
        event = json_format.ParseDict(
            fields, config_pb2.InvalidationEvent(), ignore_unknown_fields=True
        )
    except (ValueError, json_format.ParseError):
        log.warning("unreadable invalidation event %r: marking every view out of date", data)
        tracker.flush()
        return
    tracker.on_event(event, channel)
