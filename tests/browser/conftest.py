"""Fixtures of the browser tests: the real mcp-config binary (on SQLite, with JWT sign-in, or as
two replicas on a throwaway PostgreSQL and Redis), and Debian's Chromium driven by Playwright.

Chromium is the system's (`/usr/bin/chromium`); Playwright never downloads a browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import BINARY, BUNDLE, CHROMIUM, SECRET, token
from mcp_config_client.testing import ConfigService, RedisServer, free_port



@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    # A closed network: Chromium's own background connections would only fail.
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


class Service(ConfigService):
    """`mcp-config serve` with extra flags, on SQLite or on `database_url`."""

    def __init__(self, workdir: Path, extra: list[str], database_url: str | None = None) -> None:
        super().__init__(BINARY, workdir, extra=extra)
        if database_url is not None:
            at = self._command.index("--database-url")
            self._command[at + 1] = database_url


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ConfigService]:
    """Auth `none` on SQLite with the example bundle: nobody signs in."""
    service = ConfigService(BINARY, tmp_path)
    service.start()
    service.import_bundle(BUNDLE)
    yield service
    service.kill()


@pytest.fixture
def jwt_service(tmp_path: Path) -> Iterator[Service]:
    """Auth `jwt`: the UI asks for a token. The example bundle is imported by a global admin."""
    service = start_with_the_bundle(Service(tmp_path, ["--auth", "jwt", "--jwt-secret", SECRET]))
    yield service
    service.kill()


def start_with_the_bundle(service: Service) -> Service:
    """Starts a service in mode jwt and imports the example bundle as a global admin."""
    service.start()
    subprocess.run(
        [str(BINARY), "import", "--admin-url", service.http_url, str(BUNDLE)],
        check=True,
        capture_output=True,
        env={**os.environ, "MCP_CONFIG_TOKEN": token("root", None, ["admin"])},
    )
    return service


class Postgres:
    """A throwaway cluster: initdb in a temp dir, pg_ctl on a free port (as `postgres` when
    run as root, which initdb refuses)."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        assert bins, "PostgreSQL server binaries not found under /usr/lib/postgresql"
        self.bin = bins[-1]
        # Not under pytest's temp dir: its parents are closed to the `postgres` user.
        self.dir = Path(tempfile.mkdtemp(prefix="mcp-config-pg-"))
        self.port = free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        options = f"-p {self.port} -k {self.dir} -h 127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(data), "-l", str(self.dir / "server.log"), "-o", options, "-w", "start")

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self.as_postgres, str(self.bin / program), *args], check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def remove(self) -> None:
        """Stops the server at once and deletes the cluster."""
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    """Two replicas on one PostgreSQL and one Redis, the example bundle loaded."""
    postgres = Postgres()
    redis = RedisServer(tmp_path)
    redis.start()
    started = []
    try:
        for name in ("a", "b"):
            workdir = tmp_path / name
            workdir.mkdir()
            replica = Service(workdir, ["--redis-url", redis.url], database_url=postgres.url)
            replica.start()
            started.append(replica)
        started[0].import_bundle(BUNDLE)
        yield started[0], started[1]
    finally:
        for replica in started:
            replica.kill()
        redis.kill()
        postgres.remove()

