"""`mcp-config capture` against an MCP server nobody here wrote the protocol side of (the Python
SDK's MCPServer, with hard-coded prompts): the captured bundle imports, and every captured
prompt renders through mcp-config exactly as the original server renders it, for the same
arguments; what could not be captured is reported."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_config_client.testing import ConfigService

SERVER = "legacy-python-server"
ARGUMENTS = {
    "review_pr": {"repo": "acme/api", "number": "42"},
    "standup": {"team": "platform"},
}


async def rendered(url: str, headers: dict[str, str], name: str) -> list[tuple[str, dict]]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.get_prompt(name, ARGUMENTS[name])
    return [(m.role, m.content.model_dump(exclude_none=True)) for m in result.messages]


async def test_a_captured_server_renders_the_same_through_mcp_config(
    tmp_path: Path, service: ConfigService, legacy_url: str
) -> None:
    bundle = tmp_path / "captured.yaml"
    capture = subprocess.run(
        [str(service.binary), "capture", "--from", legacy_url, "--output", str(bundle)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert capture.returncode == 0, capture.stderr
    service.import_bundle(bundle)

    for name in ARGUMENTS:
        original = await rendered(legacy_url, {}, name)
        through_mcp_config = await rendered(
            f"{service.http_url}/mcp/{SERVER}", {"x-org-id": "acme"}, name
        )
        assert through_mcp_config == original, name

    reported = capture.stderr
    assert f"captured 2 prompts and 2 resources of server {SERVER}" in reported
    assert 'prompt "marks" not captured: it refused placeholder arguments' in reported
    assert 'resource "file:///brand/logo.png": binary (70 bytes), captured as a blob' in reported
    assert 'resource template "users://{user}/profile" not captured' in reported
    text = bundle.read_text()
    assert "{{ repo }}" in text and "marks" not in text
