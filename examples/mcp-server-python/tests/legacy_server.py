"""A team's MCP server before mcp-config: its prompts and resources hard-coded, on the Python
SDK's MCPServer (FastMCP, renamed in mcp 2.x). `mcp-config capture` reads it in test_capture.

Run: python legacy_server.py PORT (streamable HTTP at /mcp)."""

from __future__ import annotations

import base64
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5E"
    "rkJggg=="
)

server = MCPServer("Legacy Python Server")


@server.prompt(description="Reviews a pull request.")
def review_pr(repo: str, number: str) -> str:
    # Braces Jinja would read as syntax, quotes and a trailing newline: all must survive.
    return (
        f"Review pull request #{number} in {repo}.\n"
        f"Keep {{{{ placeholders }}}} and {{% tags %}} as they are; say 'done' when {repo} passes.\n"
    )


@server.prompt(title="Stand-up notes")
def standup(team: str) -> list[dict]:
    return [
        {"role": "user", "content": f"Write the stand-up notes of {team}."},
        {"role": "assistant", "content": f"Here are the notes of {team}:"},
    ]


@server.prompt(description="Repeats a mark a number of times.")
def marks(count: int) -> str:
    # A number only: the capture's placeholder is refused, and the capture must say so.
    return "*" * count


@server.resource("file:///guides/style.md", name="style", mime_type="text/markdown")
def style() -> str:
    return "# Style\nShort sentences. One idea each.\n"


@server.resource("file:///brand/logo.png", name="logo", mime_type="image/png")
def logo() -> bytes:
    return PNG


@server.resource("users://{user}/profile", name="profile")
def profile(user: str) -> str:
    return f"Profile of {user}"


if __name__ == "__main__":
    app = server.streamable_http_app()
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
