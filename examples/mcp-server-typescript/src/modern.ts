/**
 * 2026-07-28 clients (no sessions; change notifications on `subscriptions/listen` streams): one
 * SDK handler per org, so the SDK's own listen router serves each org's streams, and a change
 * is published on the handlers of the orgs it concerns only (every org's, for a default).
 */
import type { ConfigLoader } from "@mcp-config/client";
import { type NodeMcpRequestHandler, toNodeHandler } from "@modelcontextprotocol/node";
import { type McpHttpHandler, createMcpHandler } from "@modelcontextprotocol/server";
import { mcpServer } from "./server.js";

interface OrgHandler {
  handler: McpHttpHandler;
  node: NodeMcpRequestHandler;
  stopListening: () => void;
}

export class ModernOrgs {
  private readonly byOrg = new Map<string, OrgHandler>();

  constructor(private readonly loader: ConfigLoader) {}

  /** The Node request handler serving `org`'s modern requests. */
  handlerOf(org: string): NodeMcpRequestHandler {
    let known = this.byOrg.get(org);
    if (known === undefined) {
      const handler = createMcpHandler(() => mcpServer(this.loader, org), { legacy: "reject" });
      const stopListening = this.loader.listen(org, {
        promptsChanged: () => handler.notify.promptsChanged(),
        resourcesChanged: () => handler.notify.resourcesChanged(),
      });
      known = { handler, node: toNodeHandler(handler), stopListening };
      this.byOrg.set(org, known);
    }
    return known.node;
  }

  /** Ends every listen stream gracefully (the listen result as last frame). */
  async close(): Promise<void> {
    for (const { handler, stopListening } of this.byOrg.values()) {
      stopListening();
      await handler.close();
    }
    this.byOrg.clear();
  }
}
