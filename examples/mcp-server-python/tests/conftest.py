"""Fixtures: the real mcp-config binary (example bundle loaded) and this example server run as
a subprocess against it, each on free ports."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp_config_client.testing import ConfigService, Process, accepts, free_port, wait_until

REPO = Path(__file__).resolve().parents[3]
BINARY = Path(os.environ.get("MCP_CONFIG_BIN", REPO / "target" / "debug" / "mcp-config"))
BUNDLE = REPO / "examples" / "bundle.yaml"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ConfigService]:
    service = ConfigService(BINARY, tmp_path)
    service.start()
    service.import_bundle(BUNDLE)
    yield service
    service.kill()


@dataclass(frozen=True, slots=True)
class McpServer:
    url: str
    process: subprocess.Popen[bytes]
    """For tests of how it stops (a signal); it is killed after the test regardless."""


@pytest.fixture
def mcp_server(tmp_path: Path, service: ConfigService) -> Iterator[McpServer]:
    """The example MCP server for `github`, following `service` through Watch."""
    port = free_port()
    server = Process(
        [
            sys.executable,
            "-m",
            "mcp_config_example",
            "--server",
            "github",
            "--config-endpoint",
            service.endpoint,
            "--port",
            str(port),
        ],
        tmp_path / "mcp-server.log",
    )
    process = server.spawn()
    wait_until(lambda: accepts(port), "the example MCP server", process)
    yield McpServer(f"http://127.0.0.1:{port}/mcp", process)
    server.kill()


@pytest.fixture
def mcp_url(mcp_server: McpServer) -> str:
    return mcp_server.url
