"""Fixtures: a throwaway Redis and the real mcp-config binary per test, loaded with the
repository's example bundle."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_config_client.testing import ConfigService, RedisServer

REPO = Path(__file__).resolve().parents[3]
BINARY = Path(os.environ.get("MCP_CONFIG_BIN", REPO / "target" / "debug" / "mcp-config"))
BUNDLE = REPO / "examples" / "bundle.yaml"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def service(tmp_path: Path, redis_server: RedisServer) -> Iterator[ConfigService]:
    """The service publishing on `redis_server`, with the example bundle imported."""
    service = ConfigService(BINARY, tmp_path, redis_server.url)
    service.start()
    service.import_bundle(BUNDLE)
    yield service
    service.kill()


@pytest.fixture
def chatty_service(tmp_path: Path, redis_server: RedisServer) -> Iterator[ConfigService]:
    """`service`, announcing progress on the channel every second instead of every five."""
    service = ConfigService(BINARY, tmp_path, redis_server.url, extra=["--watch-progress-secs", "1"])
    service.start()
    service.import_bundle(BUNDLE)
    yield service
    service.kill()
