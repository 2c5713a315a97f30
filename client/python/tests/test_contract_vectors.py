"""The client-contract vectors (client/contract-vectors/*.json, the same files the Rust and
TypeScript suites run): each step feeds the real tracker one Redis message (through the Redis
source's own `apply_json`) or one source event, then checks what it did to a cache holding the
vector's views, with the tracker at the vector's `label` (none: production). The format is the
folder's README."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mcp_config_client.cache import Cache, Trust, ViewId, ViewKind
from mcp_config_client.changes import Changed, ChangeFeed
from mcp_config_client.sources import apply_json
from mcp_config_client.tracker import Tracker

VECTORS = Path(__file__).resolve().parents[2] / "contract-vectors"
PATHS = sorted(VECTORS.glob("*.json"))


class Recorder(ChangeFeed):
    """A change feed that keeps what was announced."""

    def __init__(self) -> None:
        super().__init__()
        self.announced: list[Changed] = []

    def publish(self, change: Changed) -> None:
        self.announced.append(change)
        super().publish(change)


def view_id(view: dict[str, str]) -> ViewId:
    return ViewId(ViewKind(view["kind"]), view["org"], view["server"])


def names(view_ids: list[ViewId]) -> list[str]:
    return sorted(f"{v.kind.value} {v.org!r} {v.server!r}" for v in view_ids)


def expected(expect: dict[str, Any], views: list[ViewId]) -> tuple[list[str], list[str], bool]:
    """What an action does to the views: the ones it announces, the ones it leaves out of date,
    and whether it raises the generation (a flush or a connection)."""
    action = expect["action"]
    if action == "ignore":
        return [], [], False
    if action == "drop_view":
        view = view_id(expect["view"])
        named = [
            v
            for v in views
            if v.kind == view.kind
            and v.server == view.server
            and (not view.org or v.org == view.org)
        ]
        return names([view]), names(named), False
    if action == "drop_all":
        return names(views), names(views), True
    if action == "distrust_all":
        return [], names(views), True
    if action == "unfollow":
        return [], names(views), False
    raise AssertionError(f"unknown action {action!r}")


def test_the_vectors_are_there() -> None:
    assert PATHS, f"no vectors in {VECTORS}"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_contract_vectors(path: Path) -> None:
    vector = json.loads(path.read_text())
    required = {"name", "scenario", "rules", "description", "views", "steps"}
    assert required <= set(vector) <= required | {"label"}
    views = [view_id(v) for v in vector["views"]]
    cache = Cache()
    feed = Recorder()
    tracker = Tracker(cache, feed, vector.get("label", ""))
    for n, step in enumerate(vector["steps"], 1):
        at = f"{vector['name']} ({vector['scenario']}) step {n}"
        assert set(step) <= {"input", "expect", "note"}, at
        for v in views:
            cache.store(v, 1, [], Trust.CURRENT)
        generation = cache.generation
        feed.announced.clear()
        given = step["input"]
        chain = given.get("channel", "")
        if set(given) <= {"message", "channel"} and "message" in given:
            message = given["message"]
            text = message if isinstance(message, str) else json.dumps(message)
            apply_json(text.encode(), tracker, chain)
        elif given == {"source": "connected"}:
            tracker.on_connected()
        elif given == {"source": "disconnected"}:
            tracker.on_disconnected()
        else:
            raise AssertionError(f"{at}: an input is one message, or one source event: {given}")

        entries = {v: cache.get(v) for v in views}
        observed = (
            names([ViewId(c.kind, c.org, c.server) for c in feed.announced]),
            names([v for v, entry in entries.items() if entry is None or not entry.current]),
            cache.generation != generation,
        )
        expect = step["expect"]
        assert set(expect) <= {"action", "view", "last"}, at
        assert observed == expected(expect, views), (
            f"{at}: {expect['action']} (announced, out of date, generation raised)"
        )
        if "last" in expect:
            assert tracker.last_on(chain) == int(expect["last"]), f"{at}: last revision"
