/** An MCP server of the official SDK (v1 `McpServer`, v1 low-level `Server`, v2 `McpServer`)
 * with a tool of its own and a `ConfigLoader` installed for an org, connected in memory to a
 * client of the same SDK that counts the `list_changed` notifications it hears. */
import { Client as V2Client } from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport as V1Memory } from "@modelcontextprotocol/sdk/inMemory.js";
import { Server as V1Server } from "@modelcontextprotocol/sdk/server/index.js";
import { McpServer as V1McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { McpServer as V2McpServer, InMemoryTransport as V2Memory } from "@modelcontextprotocol/server";
import type { ConfigLoader } from "../src/index.js";

/** What the checks need of a client: v1's and v2's `Client` both have it. */
export interface Reader {
  getServerCapabilities(): Record<string, unknown> | undefined;
  listTools(): Promise<{ tools: Array<{ name: string }> }>;
  callTool(params: { name: string }): Promise<Record<string, unknown>>;
  listPrompts(): Promise<{ prompts: Array<{ name: string }> }>;
  getPrompt(params: { name: string; arguments?: Record<string, string> }): Promise<{ messages: Array<{ role: string; content: unknown }> }>;
  listResources(): Promise<{ resources: Array<{ uri: string }> }>;
  listResourceTemplates(): Promise<{ resourceTemplates: Array<{ uriTemplate: string }> }>;
  readResource(params: { uri: string }): Promise<{ contents: unknown[] }>;
  close(): Promise<void>;
}

/** A connected client, and the `list_changed` notifications it heard so far. */
export interface Connected {
  client: Reader;
  heard: { prompts: number; resources: number };
}

export type Flavour = "SDK v1" | "SDK v1 low-level" | "SDK v2";
export const FLAVOURS: Flavour[] = ["SDK v1", "SDK v1 low-level", "SDK v2"];
export const ECHO = { content: [{ type: "text" as const, text: "hello" }] };

/** The three lines of a server (after its own tool) for `org`, and a client of the same SDK
 * connected. */
export async function connect(flavour: Flavour, loader: ConfigLoader, org: string): Promise<Connected> {
  const heard = { prompts: 0, resources: 0 };
  if (flavour !== "SDK v2") {
    const server = flavour === "SDK v1" ? v1McpServer() : v1Server();
    loader.install(server, org);
    const [serverSide, clientSide] = V1Memory.createLinkedPair();
    await server.connect(serverSide);
    const client = new V1Client({ name: "loader-test", version: "1.0.0" });
    client.setNotificationHandler(PromptListChangedNotificationSchema, async () => void (heard.prompts += 1));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, async () => void (heard.resources += 1));
    await client.connect(clientSide);
    return { client, heard };
  }
  const server = new V2McpServer({ name: "tools-and-config", version: "1.0.0" });
  server.registerTool("echo", { description: "Says hello" }, async () => ECHO);
  loader.install(server, org);
  const [serverSide, clientSide] = V2Memory.createLinkedPair();
  await server.connect(serverSide);
  const client = new V2Client({ name: "loader-test", version: "1.0.0" });
  client.setNotificationHandler("notifications/prompts/list_changed", () => void (heard.prompts += 1));
  client.setNotificationHandler("notifications/resources/list_changed", () => void (heard.resources += 1));
  await client.connect(clientSide);
  return { client, heard };
}

function v1McpServer(): V1McpServer {
  const server = new V1McpServer({ name: "tools-and-config", version: "1.0.0" });
  server.registerTool("echo", { description: "Says hello" }, async () => ECHO);
  return server;
}

/** The same tool on a low-level server, whose handlers v1 registers by zod schema. */
function v1Server(): V1Server {
  const server = new V1Server({ name: "tools-and-config", version: "1.0.0" }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [{ name: "echo", description: "Says hello", inputSchema: { type: "object" as const } }],
  }));
  server.setRequestHandler(CallToolRequestSchema, async () => ECHO);
  return server;
}
