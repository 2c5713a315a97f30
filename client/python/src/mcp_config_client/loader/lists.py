"""Which lists an MCP client is told changed, for each of mcp-config's changes.

One rule for both ways a client is told (a legacy session, `sessions.py`; a 2026-07-28
`subscriptions/listen` stream, `listen.py`), so the two can never disagree on who is told.
"""

from __future__ import annotations

from ..cache import ViewKind
from ..changes import Changed, Lagged

#: What a client is told when changes were lost: they may have been its own, of either kind.
EVERY_LIST = (ViewKind.PROMPTS, ViewKind.RESOURCES)


def affects(change: Changed, org: str, server: str) -> bool:
    """Whether `change` touches what `org` sees from `server`: its own entries, or a default
    (empty org) that every org inherits. Another server's changes never do."""
    return change.server == server and change.concerns(org)


def changed_lists(item: Changed | Lagged, org: str, server: str) -> tuple[ViewKind, ...]:
    """The lists to announce as changed to a client of `org` on `server` for one item of the
    mcp-config client's changes: the changed kind if it `affects` the client, nothing if not,
    and every list after a loss (the subscription fell behind: the missed changes may have
    concerned this client)."""
    if isinstance(item, Lagged):
        return EVERY_LIST
    return (item.kind,) if affects(item, org, server) else ()
