/**
 * The MCP server instance for one org: a low-level SDK `Server` declaring `listChanged` for
 * prompts and resources, its handlers registered by the mcp-config `ConfigLoader`.
 */
import type { ConfigLoader } from "@mcp-config/client";
import { Server } from "@modelcontextprotocol/server";

export function mcpServer(loader: ConfigLoader, org: string): Server {
  const server = new Server(
    { name: `mcp-config-${loader.server}`, version: "0.1.0" },
    { capabilities: { prompts: { listChanged: true }, resources: { listChanged: true } } },
  );
  loader.install(server, () => org);
  return server;
}
