/**
 * Clients of the protocols with `initialize`: a session per client, its org the one its
 * `initialize` request carried (a later request of the session for another org is refused), told
 * of changes with `notifications/*\/list_changed` on the session's stream.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ConfigLoader } from "@mcp-config/client";
import { NodeStreamableHTTPServerTransport } from "@modelcontextprotocol/node";
import { isInitializeRequest } from "@modelcontextprotocol/server";
import { mcpServer } from "./server.js";

interface Session {
  org: string;
  transport: NodeStreamableHTTPServerTransport;
}

export class LegacySessions {
  private readonly byId = new Map<string, Session>();

  constructor(private readonly loader: ConfigLoader) {}

  async handle(req: IncomingMessage, res: ServerResponse, org: string, body: unknown): Promise<void> {
    const id = req.headers["mcp-session-id"];
    const session = typeof id === "string" ? this.byId.get(id) : undefined;
    if (session !== undefined) {
      if (session.org !== org) return refuse(res, 403, "this session belongs to another org");
      return session.transport.handleRequest(req, res, body);
    }
    if (typeof id === "string") return refuse(res, 404, "unknown session");
    if (req.method !== "POST" || !isInitializeRequest(body)) {
      return refuse(res, 400, "no session: send initialize first");
    }
    await (await this.open(org)).handleRequest(req, res, body);
  }

  /** A new session's transport, connected to a server of `org` told of `org`'s changes. */
  private async open(org: string): Promise<NodeStreamableHTTPServerTransport> {
    const server = mcpServer(this.loader, org);
    let stopListening = () => {};
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => {
        this.byId.set(id, { org, transport });
        // A session that cannot be reached any more fails the send: nothing to do about it.
        stopListening = this.loader.listen(org, {
          promptsChanged: () => void server.sendPromptListChanged().catch(() => {}),
          resourcesChanged: () => void server.sendResourceListChanged().catch(() => {}),
        });
      },
    });
    transport.onclose = () => {
      stopListening();
      if (transport.sessionId !== undefined) this.byId.delete(transport.sessionId);
    };
    await server.connect(transport);
    return transport;
  }

  /** Closes every session. */
  async close(): Promise<void> {
    await Promise.all([...this.byId.values()].map(({ transport }) => transport.close()));
  }
}

function refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }));
}
