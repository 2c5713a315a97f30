"""Fixtures: the real mcp-config binary (example bundle loaded, and the conformance bundle for
the tests of other content than text) and this example server run as a subprocess against it,
each on free ports."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp_config_client.testing import ConfigService, Process, accepts, free_port, wait_until

REPO = Path(__file__).resolve().parents[3]
BINARY = Path(os.environ.get("MCP_CONFIG_BIN", REPO / "target" / "debug" / "mcp-config"))
BUNDLE = REPO / "examples" / "bundle.yaml"
#: Defaults of the server `conformance`: prompts with an image, an embedded resource and argument
#: choices; a text, a binary, a template and a watched resource.
CONFORMANCE_BUNDLE = REPO / "tests" / "conformance" / "bundle.yaml"


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


@contextmanager
def example_server(tmp_path: Path, service: ConfigService, name: str) -> Iterator[McpServer]:
    """The example MCP server for the MCP server `name`, following `service` through Watch."""
    port = free_port()
    server = Process(
        [
            sys.executable,
            "-m",
            "mcp_config_example",
            "--server",
            name,
            "--config-endpoint",
            service.endpoint,
            "--port",
            str(port),
        ],
        tmp_path / f"mcp-server-{name}.log",
    )
    process = server.spawn()
    try:
        wait_until(lambda: accepts(port), "the example MCP server", process)
        yield McpServer(f"http://127.0.0.1:{port}/mcp", process)
    finally:
        server.kill()


@pytest.fixture
def mcp_server(tmp_path: Path, service: ConfigService) -> Iterator[McpServer]:
    """The example MCP server for `github`, following `service` through Watch."""
    with example_server(tmp_path, service, "github") as server:
        yield server


@pytest.fixture
def mcp_url(mcp_server: McpServer) -> str:
    return mcp_server.url


@pytest.fixture
def conformance_service(service: ConfigService) -> ConfigService:
    """`service` with the conformance bundle imported too (the server `conformance`)."""
    service.import_bundle(CONFORMANCE_BUNDLE)
    return service


@pytest.fixture
def conformance_mcp_url(tmp_path: Path, conformance_service: ConfigService) -> Iterator[str]:
    """The example MCP server for `conformance`."""
    with example_server(tmp_path, conformance_service, "conformance") as server:
        yield server.url


@pytest.fixture
def legacy_url(tmp_path: Path) -> Iterator[str]:
    """A hard-coded MCP server (tests/legacy_server.py), as a team runs before mcp-config."""
    port = free_port()
    legacy = Process(
        [sys.executable, str(Path(__file__).with_name("legacy_server.py")), str(port)],
        tmp_path / "legacy.log",
    )
    process = legacy.spawn()
    try:
        wait_until(lambda: accepts(port), "the legacy MCP server", process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        legacy.kill()
