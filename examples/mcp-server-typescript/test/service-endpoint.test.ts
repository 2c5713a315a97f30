/**
 * Stock MCP SDK clients against the service's own MCP endpoint (`/mcp/github` on its HTTP
 * port, no MCP server in between), the service running with JWT auth and Redis: the TypeScript
 * SDK v1 (`@modelcontextprotocol/sdk`, legacy `initialize` sessions) and v2
 * (`@modelcontextprotocol/client`, legacy sessions and 2026-07-28 `subscriptions/listen`) read
 * image and embedded-resource prompts and a resource template, and hear
 * `notifications/resources/updated` after an admin saves a resource they subscribed to.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ConfigService, RedisServer, eventually } from "@mcp-config/client/testing";
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1Transport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { BINARY, ORG, PNG, STYLE_URI, SUMMARY_TEMPLATE, bounded, contentBundle, jwt } from "./support.js";

const JWT_SECRET = "the service's secret, thirty-two bytes or more";

/** What the reads below need of a client: v1's and v2's `Client` both have it. */
interface Reader {
  getPrompt(params: { name: string; arguments?: Record<string, string> }): Promise<{ messages: Array<{ role: string; content: unknown }> }>;
  listResources(): Promise<{ resources: Array<{ uri: string }> }>;
  listResourceTemplates(): Promise<{ resourceTemplates: Array<{ uriTemplate: string }> }>;
  readResource(params: { uri: string }): Promise<{ contents: unknown[] }>;
  close(): Promise<void>;
}

/** A connected client, and how it asks to hear of `uri`'s changes: once subscribed, `updated`
 * resolves with the URI of the first `notifications/resources/updated` it gets (wrapped: an
 * async function returning a promise would wait for it). */
interface Connected {
  client: Reader;
  subscribe(uri: string): Promise<{ updated: Promise<string> }>;
}

type Flavour = "SDK v1" | "SDK v2 legacy" | "SDK v2 modern";
const FLAVOURS: Flavour[] = ["SDK v1", "SDK v2 legacy", "SDK v2 modern"];

describe("stock MCP SDK clients against the service's /mcp endpoint", () => {
  let dir: string;
  let redis: RedisServer;
  let service: ConfigService;
  const clients: Reader[] = [];
  // A user of initech: the token's org claim decides the org, no header needed.
  const userToken = jwt({ sub: "initech-user", org: ORG, roles: ["reader"] }, JWT_SECRET);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mcp-endpoint-ts-"));
    redis = await RedisServer.create(dir);
    await redis.start();
    service = await ConfigService.create(BINARY, dir, redis.url, ["--auth", "jwt", "--jwt-secret", JWT_SECRET]);
    service.adminToken = jwt({ sub: "test-admin", roles: ["admin"] }, JWT_SECRET);
    await service.start();
    await service.importBundle(contentBundle(dir));
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await service.kill();
    await redis.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  async function connect(flavour: Flavour): Promise<Connected> {
    const url = new URL(`${service.httpUrl}/mcp/github`);
    const requestInit = { headers: { authorization: `Bearer ${userToken}` } };
    if (flavour === "SDK v1") {
      const client = new V1Client({ name: "endpoint-v1", version: "1.0.0" });
      await client.connect(new V1Transport(url, { requestInit }));
      clients.push(client);
      return {
        client,
        async subscribe(uri) {
          const updated = new Promise<string>((resolve) =>
            client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => resolve(n.params.uri)),
          );
          await client.subscribeResource({ uri });
          return { updated };
        },
      };
    }
    const modern = flavour === "SDK v2 modern";
    const client = new V2Client({ name: "endpoint-v2", version: "1.0.0" }, modern ? { versionNegotiation: { mode: { pin: "2026-07-28" } } } : {});
    await client.connect(new V2Transport(url, { requestInit }));
    clients.push(client);
    return {
      client,
      async subscribe(uri) {
        const updated = new Promise<string>((resolve) =>
          client.setNotificationHandler("notifications/resources/updated", (n) => resolve(n.params.uri)),
        );
        // 2026-07-28 has no resources/subscribe: a listen stream carries the subscription.
        if (modern) await client.listen({ resourceSubscriptions: [uri] });
        else await client.subscribeResource({ uri });
        return { updated };
      },
    };
  }

  test("MCP-E0 the endpoint refuses a request without a token (auth is on)", async () => {
    const response = await fetch(`${service.httpUrl}/mcp/github`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    assert.equal(response.status, 401);
  });

  for (const flavour of FLAVOURS) {
    test(`MCP-E1 ${flavour}: image and embedded-resource prompts are MCP content blocks`, async () => {
      const { client } = await connect(flavour);
      const screenshot = await client.getPrompt({ name: "describe-screenshot" });
      assert.deepEqual(screenshot.messages[0], { role: "user", content: { type: "image", data: PNG, mimeType: "image/png" } });
      const styled = await client.getPrompt({ name: "apply-style-guide", arguments: { file: "tps.md" } });
      assert.deepEqual(styled.messages.map((m) => m.content), [
        { type: "resource", resource: { uri: STYLE_URI, mimeType: "text/markdown", text: await styleText() } },
        { type: "text", text: "Apply the style guide above to tps.md." },
      ]);
    });

    test(`MCP-E2 ${flavour}: a resource template is listed apart and a URI it matches is read`, async () => {
      const { client } = await connect(flavour);
      const uris = (await client.listResources()).resources.map((r) => r.uri);
      assert.deepEqual(uris, [STYLE_URI], "the template is not a resource");
      const templates = (await client.listResourceTemplates()).resourceTemplates;
      assert.deepEqual(templates.map((t) => t.uriTemplate), [SUMMARY_TEMPLATE]);
      const read = await client.readResource({ uri: "github://repos/initech/tps/summary" });
      assert.deepEqual(read.contents, [{ uri: "github://repos/initech/tps/summary", mimeType: "text/plain", text: "Summary of initech/tps." }]);
    });

    test(`MCP-E3 ${flavour}: resources/updated after an admin saves a subscribed resource`, async () => {
      const { client, subscribe } = await connect(flavour);
      const { updated } = await subscribe(STYLE_URI);
      // A legacy session's notifications travel on its standalone SSE stream, which the SDK
      // client opens in the background after `initialize`: a change made before it is open is
      // told to nobody, so edits are repeated until one is heard (a bounded wait, no timing).
      let edits = 0;
      await eventually(async () => {
        edits += 1;
        await saveStyle(`# Initech style (${flavour}, edit ${edits})`);
        return Promise.race([updated.then(() => true), sleep(500).then(() => undefined)]);
      }, "notifications/resources/updated");
      assert.equal(await bounded(updated, "the updated URI"), STYLE_URI);
      const read = await client.readResource({ uri: STYLE_URI });
      assert.deepEqual(read.contents, [{ uri: STYLE_URI, mimeType: "text/markdown", text: await styleText() }], "the new contents");
    });
  }

  /** Saves initech's style guide with `text`, as an admin would. */
  async function saveStyle(text: string): Promise<void> {
    await service.admin("PUT", `/orgs/${ORG}/servers/github/resources/${encodeURIComponent(STYLE_URI)}`, {
      content: { name: "style-guide", mime_type: "text/markdown", text },
      message: "edited by a test",
    });
  }

  /** The style guide's text as the admin API has it now (earlier tests edit it). */
  async function styleText(): Promise<string> {
    const entry = (await service.admin("GET", `/orgs/${ORG}/servers/github/resources/${encodeURIComponent(STYLE_URI)}`)) as {
      content: { text: string };
    };
    return entry.content.text;
  }
});
