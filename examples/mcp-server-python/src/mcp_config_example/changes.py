"""Which of mcp-config's changes an MCP client hears about.

One rule for both ways a client is told (a legacy session, `sessions.py`; a 2026-07-28
`subscriptions/listen` stream, `listen.py`), so the two can never disagree on who is told.
"""

from __future__ import annotations

from mcp_config_client import Changed


def affects(change: Changed, org: str, server: str) -> bool:
    """Whether `change` touches what `org` sees from `server`: its own entries, or a default
    (empty org) that every org inherits. Another server's changes never do."""
    return change.server == server and change.concerns(org)
