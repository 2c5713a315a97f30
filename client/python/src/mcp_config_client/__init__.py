"""Python client of mcp-config for MCP servers: cached prompts and resources per org, kept
current by the service's `Watch` stream or its Redis channel, served stale while the service is
down.

```python
import asyncio
from mcp_config_client import ConfigClient, Watch

async def main() -> None:
    async with ConfigClient("127.0.0.1:50051", source=Watch()) as client:
        prompts = await client.prompts("acme", "github")
        print([p.name for p in prompts.items], prompts.revision, prompts.stale)

asyncio.run(main())
```

The generated protobuf messages are `mcp_config.v1.config_pb2` (built from the repository's
proto at install time). `mcp_config_client.loader` puts the prompts and resources into a server
built on the MCP SDK (the `mcp` extra); nothing here imports it. `ConfigReader` is what such
code reads of a client, so its unit tests can pass `mcp_config_client.testing.FakeConfigClient`
instead.
"""

from .cache import View, ViewKind
from .changes import Changed, Lagged, Subscription
from .client import ConfigClient
from .errors import (
    ConfigError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Rejected,
    RenderError,
    Unavailable,
)
from .reader import ConfigReader
from .render import render_locally
from .sources import Redis, Source, Watch
from .status import Status, StatusEvent

__all__ = [
    "Changed",
    "ConfigClient",
    "ConfigError",
    "ConfigReader",
    "InvalidArgument",
    "Lagged",
    "NotFound",
    "PermissionDenied",
    "Redis",
    "Rejected",
    "RenderError",
    "Source",
    "Status",
    "StatusEvent",
    "Subscription",
    "Unavailable",
    "View",
    "ViewKind",
    "Watch",
    "render_locally",
]
