"""docs/migration.md, run: every `sh` block of the guide, in order, in one directory, against a
real service and a hard-coded MCP server (tests/legacy_server.py), each required to succeed — so
the guide cannot drift from the product."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_config_client.testing import ConfigService

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "migration.md"


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", markdown, flags=re.M | re.S)


async def test_every_command_of_the_migration_guide_works_in_order(
    tmp_path: Path, service: ConfigService, legacy_url: str
) -> None:
    blocks = shell_blocks(GUIDE.read_text())
    assert len(blocks) >= 5, "the guide's commands were not found"
    env = {
        **os.environ,
        "PATH": f"{service.binary.parent}{os.pathsep}{os.environ['PATH']}",
        "MCP_CONFIG_ADMIN_URL": service.http_url,
        "LEGACY_URL": legacy_url,
    }
    outputs = []
    for block in blocks:
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, f"{block}\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
        outputs.append(run.stdout)

    everything = "".join(outputs)
    assert 'prompt "marks" not captured' in everything, "the capture report is shown"
    assert "mcp-config serves what the server served" in everything
    # Step 4's override is acme's alone.
    for org, expected in (
        ("acme", "Write the stand-up notes of platform, blockers first."),
        ("globex", "Write the stand-up notes of platform."),
    ):
        async with (
            httpx2.AsyncClient(headers={"x-org-id": org}, timeout=30) as http,
            streamable_http_client(f"{service.http_url}/mcp/tickets", http_client=http) as (
                read,
                write,
            ),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            result = await session.get_prompt("standup", {"team": "platform"})
        assert result.messages[0].content.text == expected, org
