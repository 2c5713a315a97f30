"""A subscription's bounded queue: a consumer that falls behind loses the oldest notifications
and is told so, once, before the newest."""

from __future__ import annotations

from mcp_config_client import Changed, Lagged, ViewKind
from mcp_config_client.changes import ChangeFeed


def change(n: int) -> Changed:
    return Changed(f"org-{n}", "github", ViewKind.PROMPTS)


async def test_s_feed_1_an_overflowed_subscription_reports_the_loss_before_the_newest_changes() -> None:
    feed = ChangeFeed()
    slow = feed.subscribe(capacity=3)
    with_room = feed.subscribe(capacity=10)
    for n in range(5):
        feed.publish(change(n))
    feed.close()

    assert [item async for item in slow] == [Lagged(2), change(2), change(3), change(4)]
    assert [item async for item in with_room] == [change(n) for n in range(5)], "never lagged"


async def test_each_overflow_is_reported_once() -> None:
    feed = ChangeFeed()
    async with feed.subscribe(capacity=1) as changes:
        feed.publish(change(0))
        feed.publish(change(1))
        assert await anext(changes) == Lagged(1)
        assert await anext(changes) == change(1)
        feed.publish(change(2))
        assert await anext(changes) == change(2), "caught up: nothing lost since"
        feed.publish(change(3))
        feed.publish(change(4))
        feed.publish(change(5))
        assert await anext(changes) == Lagged(2)
        assert await anext(changes) == change(5)
