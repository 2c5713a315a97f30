"""An MCP SDK server's prompts and resources from mcp-config, per org, with `list_changed`.

```python
from mcp.server import MCPServer
from mcp_config_client import ConfigClient
from mcp_config_client.loader import ConfigLoader

mcp = MCPServer("github")  # its tools stay its own

client = ConfigClient("127.0.0.1:50051")
loader = ConfigLoader(client, server="github")
loader.install(mcp, org_of=lambda ctx: ctx.request.headers.get("x-org-id", ""))
```

Needs the MCP SDK (`mcp` 2.x), an optional dependency of this package
(`pip install 'mcp-config-client[mcp]'`): nothing else in the package imports this module.
"""

try:
    import mcp.server  # noqa: F401  (only to say what is missing)
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        "mcp_config_client.loader needs the MCP SDK: pip install 'mcp-config-client[mcp]'",
        name=error.name,
    ) from error

from .fallback import Fallback, FallbackPrompt, FallbackResource
from .handlers import OrgOf
from .install import ConfigLoader

__all__ = ["ConfigLoader", "Fallback", "FallbackPrompt", "FallbackResource", "OrgOf"]
