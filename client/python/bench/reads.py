"""`python client/python/bench/reads.py [MCP_CONFIG_BIN]`: the cost of a read through the Python
client against the real service (a throwaway SQLite one, the example bundle imported), as
`client/typescript/bench/reads.ts` measures the TypeScript client's and the `clients` scenario
of `mcp-config-bench` the Rust client's: a cached read, a revalidation (`known_revision`,
`not_modified`) and a `GetPrompt`, sequential, after a warm-up; figures in microseconds."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from mcp_config_client import ConfigClient
from mcp_config_client.testing import ConfigService

REPO = Path(__file__).resolve().parents[3]


async def measure(read: Callable[[], Awaitable[object]], count: int) -> str:
    for _ in range(min(count // 10, 500)):
        await read()
    samples = []
    started = time.perf_counter()
    for _ in range(count):
        t = time.perf_counter()
        await read()
        samples.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    samples.sort()
    at = lambda q: samples[int(q * (len(samples) - 1))] * 1e6  # noqa: E731
    return f"p50 {at(0.5):.1f} µs, p99 {at(0.99):.1f} µs ({count / elapsed:.0f}/s)"


async def main(binary: Path) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        service = ConfigService(binary, Path(workdir))
        service.start()
        try:
            service.import_bundle(REPO / "examples" / "bundle.yaml")
            async with (
                ConfigClient(service.endpoint) as cached,
                ConfigClient(service.endpoint, source=None, revalidate_after=0.0) as revalidating,
            ):
                await cached.wait_for_source(10)
                print("cached read:", await measure(lambda: cached.prompts("acme", "github"), 50_000))
                print("revalidation:", await measure(lambda: revalidating.prompts("acme", "github"), 2_000))
                arguments = {"repo": "acme/api", "number": "7"}
                print(
                    "GetPrompt:",
                    await measure(lambda: revalidating.prompt("acme", "github", "review-pr", arguments), 2_000),
                )
        finally:
            service.kill()


if __name__ == "__main__":
    default = os.environ.get("MCP_CONFIG_BIN", REPO / "target" / "debug" / "mcp-config")
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else default)))
