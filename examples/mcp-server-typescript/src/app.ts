/**
 * The HTTP side: streamable HTTP at `/mcp`, each request's org from its headers (`org.ts`), a
 * 2026-07-28 request to that org's SDK handler (`modern.ts`), any other to the legacy sessions
 * (`legacy.ts`), as the SDK's own `isLegacyRequest` classifies it.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { ConfigLoader } from "@mcp-config/client";
import { localhostHostValidation, toWebRequest } from "@modelcontextprotocol/node";
import { isLegacyRequest } from "@modelcontextprotocol/server";
import { LegacySessions } from "./legacy.js";
import { ModernOrgs } from "./modern.js";
import { Unauthorized, orgOf } from "./org.js";

export interface AppOptions {
  loader: ConfigLoader;
  /** HS256 secret to verify bearer tokens; undefined: tokens are refused. */
  jwtSecret?: string | undefined;
  /** Refuse requests whose Host is not a loopback name (DNS rebinding), when serving loopback. */
  loopbackOnly: boolean;
}

export interface App {
  http: Server;
  /** Stops taking requests, ends every listen stream and session, and resolves once closed. */
  close(): Promise<void>;
}

export function createApp({ loader, jwtSecret, loopbackOnly }: AppOptions): App {
  const modern = new ModernOrgs(loader);
  const legacy = new LegacySessions(loader);
  const validHost = loopbackOnly ? localhostHostValidation() : () => true;

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (new URL(req.url ?? "/", "http://localhost").pathname !== "/mcp") return reply(res, 404, "not found");
    if (!validHost(req, res)) return;
    let org: string;
    try {
      org = orgOf(req.headers, jwtSecret);
    } catch (error) {
      if (error instanceof Unauthorized) return reply(res, 401, error.message);
      throw error;
    }
    const body = req.method === "POST" ? await readJson(req) : undefined;
    if (await isLegacyRequest(await toWebRequest(req, body), body)) {
      return legacy.handle(req, res, org, body);
    }
    return modern.handlerOf(org)(req, res, body);
  }

  const http = createServer((req, res) => {
    serve(req, res).catch((error: unknown) => {
      if (!res.headersSent) reply(res, 500, String(error));
      else res.destroy();
    });
  });
  return {
    http,
    async close() {
      const closed = new Promise((resolve) => http.close(resolve));
      await modern.close();
      await legacy.close();
      http.closeIdleConnections();
      await closed;
    },
  };
}

/** The JSON body of a POST (undefined when empty or not JSON: the SDK answers that). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return undefined;
  }
}

function reply(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: message }));
}
