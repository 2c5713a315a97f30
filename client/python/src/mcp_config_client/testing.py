"""For tests of code built on this client: `FakeConfigClient`, an in-memory stand-in for the
client in unit tests (no service, no network; see `mcp_config_client.fake`), and throwaway Redis
and mcp-config processes for tests against the real service.

Each process runs on free ports in a directory of its own (never on the standard ports, never a
shared instance) and can be killed and started again on the same ports, to test outages.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .fake import FakeConfigClient

__all__ = [
    "ConfigService",
    "FakeConfigClient",
    "Process",
    "RedisServer",
    "accepts",
    "free_port",
    "wait_until",
]

START_TIMEOUT = 20.0


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes]) -> None:
    """Polls `ready` until true; fails early if `process` exits, or after START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not become ready in {START_TIMEOUT} s")
        time.sleep(0.02)


def accepts(port: int) -> bool:
    """Whether something listens on the local `port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class Process:
    """A child process that can be stopped and started again with the same command."""

    def __init__(self, command: list[str], log: Path) -> None:
        self._command = command
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(self._command, stdout=log, stderr=subprocess.STDOUT)
        return self._process

    def freeze(self) -> None:
        """Stops it running (SIGSTOP): its connections stay open and nothing answers, as in a
        partition or a stalled failover."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Lets a frozen process run again (SIGCONT)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Stops it at once, as a crash would."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None


class RedisServer(Process):
    """`redis-server` on a free port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        super().__init__(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            workdir / "redis.log",
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        process = self.spawn()
        wait_until(lambda: accepts(self.port), "redis-server", process)


class ConfigService(Process):
    """`mcp-config serve` on a SQLite file, free gRPC and HTTP ports, and Redis when given."""

    def __init__(
        self, binary: Path, workdir: Path, redis_url: str | None = None, extra: list[str] | None = None
    ) -> None:
        self.binary = binary
        self.grpc_port = free_port()
        self.http_port = free_port()
        command = [
            str(binary),
            "serve",
            "--database-url",
            f"sqlite://{workdir / 'mcp-config.db'}",
            "--grpc-addr",
            f"127.0.0.1:{self.grpc_port}",
            "--http-addr",
            f"127.0.0.1:{self.http_port}",
            "--relay-poll-ms",
            "200",
        ]
        if redis_url is not None:
            command += ["--redis-url", redis_url]
        command += extra or []
        super().__init__(command, workdir / "mcp-config.log")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        """Starts it and waits until `/readyz` says it can serve."""
        process = self.spawn()
        wait_until(self._ready, "mcp-config", process)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/readyz", timeout=0.5) as response:
                return response.status == 200
        except OSError:
            return False

    def import_bundle(self, path: Path) -> None:
        """Loads a bundle with the CLI, as an operator would, and waits until its changes are
        published (so their events cannot reach a client subscribed afterwards)."""
        subprocess.run(
            [str(self.binary), "import", "--admin-url", self.http_url, str(path)],
            check=True,
            capture_output=True,
        )
        self.wait_until_published()

    def wait_until_published(self) -> None:
        """Waits until the relay has published every change committed so far."""
        deadline = time.monotonic() + START_TIMEOUT
        while not all(c["published"] for c in self.admin("GET", "/changes?limit=1000")["changes"]):
            if time.monotonic() > deadline:
                raise RuntimeError(f"changes still unpublished after {START_TIMEOUT} s")
            time.sleep(0.05)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """One admin API call (`path` under `/admin/v1`); returns the decoded JSON answer."""
        request = urllib.request.Request(
            f"{self.http_url}/admin/v1{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
