"""An MCP server whose prompts and resources come from mcp-config.

Each request's org comes from its HTTP headers (`org.py`); the views come from
`mcp_config_client`, cached and invalidated; a change announced by the client becomes
`notifications/prompts/list_changed` (or resources) on the MCP sessions of that org
(`sessions.py`).
"""
