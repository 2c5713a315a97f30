"""An MCP server whose prompts and resources come from mcp-config.

Each request's org comes from its HTTP headers (`org.py`); the views come from
`mcp_config_client`, cached and invalidated; a change announced by the client becomes
`notifications/prompts/list_changed` (or resources) for the MCP clients of that org
(`changes.py`): on their sessions (`sessions.py`), or for 2026-07-28 clients, which have none, on
their `subscriptions/listen` streams (`listen.py`).
"""
