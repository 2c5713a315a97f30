"""An MCP server whose prompts and resources come from mcp-config.

Each request's org comes from its HTTP headers (`org.py`); `mcp_config_client.loader` answers
the prompts and resources of that org and turns the client's changes into
`notifications/prompts/list_changed` (or resources) for the MCP clients of that org: on their
sessions, or for 2026-07-28 clients, which have none, on their `subscriptions/listen` streams.
"""
