/**
 * The gateway: `/mcp/{server}` in front of the official reference server
 * (`@modelcontextprotocol/server-everything`, pinned, streamable HTTP), reached through a
 * recording proxy that shows what the gateway sends upstream. A stock SDK v1 client of an org
 * uses the reference server's tools and prompts through mcp-config, with the org's own
 * mcp-config prompts laid over them (and the prompts the org hides left out), and hears
 * `list_changed` after an admin save. The upstream learns who asks from the gateway's headers,
 * never from the client's, and never sees the client's token. Hostile upstreams (one that
 * redirects, one that never answers) fail the forwarded request with an MCP error, while
 * mcp-config's own prompts still answer.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, openSync, rmSync } from "node:fs";
import { type IncomingHttpHeaders, type Server, createServer, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { ConfigService, accepts, eventually, freePort } from "@mcp-config/client/testing";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError, PromptListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { BINARY, bounded, jwt } from "./support.js";

const EVERYTHING = fileURLToPath(
  new URL("../../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url),
);
const JWT_SECRET = "the gateway test's secret, thirty-two bytes or more";
const SERVER = "everything";
/** Upstreams that misbehave, each the upstream of a server of its own. */
const REDIRECTING = "redirecting";
const SILENT = "silent";
const SILENT_TIMEOUT_MS = 1000;

/** The trace the clients' requests belong to (W3C `traceparent`: version-traceid-parentid-flags). */
const TRACE_ID = randomBytes(16).toString("hex");
const TRACEPARENT = `00-${TRACE_ID}-${randomBytes(8).toString("hex")}-01`;

/** The reference server's own prompts. */
const UPSTREAM_PROMPTS = ["simple-prompt", "args-prompt", "completable-prompt", "resource-prompt"];

/** One HTTP request an upstream was sent, as it arrived. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP server of the test's on a free local port. */
async function listening(server: Server): Promise<number> {
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return port;
}

async function closed(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

async function bodyOf(req: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A proxy to `target` that records each request it is sent and passes requests and answers
 * on unchanged, SSE streams as they flow. */
function recordingProxy(target: URL, seen: Seen[]): Server {
  return createServer(async (req, res) => {
    const body = await bodyOf(req);
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: body.toString() });
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    // The gateway hung up on a stream still open: so does the proxy, upstream.
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.end(body);
  });
}

describe("the gateway in front of the reference server", () => {
  let dir: string;
  let service: ConfigService;
  let everything: ChildProcess;
  const seen: Seen[] = [];
  let proxy: Server;
  let proxyUrl: string;
  let redirecting: Server;
  let silent: Server;
  const silentHeard: string[] = [];
  const clients: Client[] = [];

  const acmeToken = jwt({ sub: "alice@acme", org: "acme", roles: ["reader"] }, JWT_SECRET);
  const globexToken = jwt({ sub: "gus@globex", org: "globex", roles: ["reader"] }, JWT_SECRET);
  // A reader without an org reads the defaults.
  const orglessToken = jwt({ sub: "olga@nowhere", roles: ["reader"] }, JWT_SECRET);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "gateway-ts-"));

    const everythingPort = await freePort();
    const log = openSync(join(dir, "everything.log"), "a");
    everything = spawn(process.execPath, [EVERYTHING, "streamableHttp"], {
      env: { ...process.env, PORT: String(everythingPort) },
      stdio: ["ignore", log, log],
    });
    await eventually(async () => ((await accepts(everythingPort)) ? true : undefined), "the reference server listening");

    proxy = recordingProxy(new URL(`http://127.0.0.1:${everythingPort}/mcp`), seen);
    proxyUrl = `http://127.0.0.1:${await listening(proxy)}/mcp`;
    // Sends every request on to the reference server (through the proxy, which shows whether
    // anyone followed).
    redirecting = createServer((req, res) => {
      req.resume();
      res.writeHead(307, { location: `${proxyUrl}?followed-redirect` }).end();
    });
    const redirectingPort = await listening(redirecting);
    // Takes every request and never answers.
    silent = createServer((req) => {
      silentHeard.push(req.method ?? "");
      req.resume();
    });
    const silentPort = await listening(silent);

    service = await ConfigService.create(BINARY, dir, undefined, ["--auth", "jwt", "--jwt-secret", JWT_SECRET]);
    service.adminToken = jwt({ sub: "test-admin", roles: ["admin"] }, JWT_SECRET);
    await service.start();

    for (const slug of ["acme", "globex"]) await service.admin("POST", "/orgs", { slug, name: slug });
    const register = (server: string, url: string, timeoutMs = 30_000) =>
      service.admin("PUT", `/servers/${server}/upstream`, {
        upstream: { url, timeout_ms: timeoutMs, pass_headers: ["x-request-id"], forward_token: false },
        message: "registered by the gateway test",
      });
    await register(SERVER, proxyUrl);
    await register(REDIRECTING, `http://127.0.0.1:${redirectingPort}/mcp`);
    await register(SILENT, `http://127.0.0.1:${silentPort}/mcp`, SILENT_TIMEOUT_MS);

    await savePrompt("acme", SERVER, "acme-triage", "Triage {{ ticket }} the Acme way.", "Acme triage");
    // Acme's own version of one of the reference server's prompts: it replaces the original.
    await savePrompt("acme", SERVER, "simple-prompt", "Acme's simple prompt about {{ ticket }}.", "Simple (Acme)");
    await savePrompt("globex", SERVER, "globex-welcome", "Welcome {{ ticket }} to Globex.", "Globex welcome");
    await service.admin("POST", `/orgs/globex/servers/${SERVER}/prompts/args-prompt/deactivate`);
    for (const server of [REDIRECTING, SILENT]) {
      await savePrompt("acme", server, "acme-triage", "Triage {{ ticket }} the Acme way.", "Acme triage");
    }
    await service.untilPublished();
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await service.kill();
    everything.kill("SIGKILL");
    await Promise.all([proxy, redirecting, silent].map(closed));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Saves `org`'s prompt `name` of `server`: one user message, one `ticket` argument. */
  function savePrompt(org: string, server: string, name: string, text: string, title: string): Promise<unknown> {
    return service.admin("PUT", `/orgs/${org}/servers/${server}/prompts/${name}`, {
      content: { title, arguments: [{ name: "ticket", required: true }], messages: [{ role: "user", text }] },
      message: "saved by the gateway test",
    });
  }

  /** A stock SDK v1 client of `/mcp/{server}`, sending what a hostile or careless client
   * might: another org's name in the gateway's own header, and headers for the upstream. */
  async function connect(token: string, requestId: string, server = SERVER): Promise<Client> {
    const client = new Client({ name: "gateway-test", version: "1.0.0" });
    const headers = {
      authorization: `Bearer ${token}`,
      "x-mcp-config-org": "evil",
      "x-request-id": requestId,
      traceparent: TRACEPARENT,
    };
    await client.connect(new StreamableHTTPClientTransport(new URL(`${service.httpUrl}/mcp/${server}`), { requestInit: { headers } }));
    clients.push(client);
    return client;
  }

  const names = (list: { prompts: Array<{ name: string }> }) => list.prompts.map((p) => p.name);
  const text = (result: { messages: Array<{ content: unknown }> }) =>
    result.messages.map((m) => (m.content as { type: string; text?: string }).text);

  test("GW-1 the reference server's tools are listed and called through the gateway", async () => {
    const acme = await connect(acmeToken, "req-1");
    const tools = (await acme.listTools()).tools.map((t) => t.name);
    assert.ok(tools.includes("echo") && tools.includes("get-sum"), `the reference server's tools: ${tools}`);
    const echoed = await acme.callTool({ name: "echo", arguments: { message: "hello through the gateway" } });
    assert.deepEqual(echoed.content, [{ type: "text", text: "Echo: hello through the gateway" }]);
  });

  test("GW-2 each org lists its mcp-config prompts and the upstream's that it neither defines nor hides", async () => {
    const acme = await connect(acmeToken, "req-1");
    const acmePrompts = await acme.listPrompts();
    // mcp-config's first, then the upstream's; acme's simple-prompt stands for the original.
    assert.deepEqual(names(acmePrompts), ["acme-triage", "simple-prompt", "args-prompt", "completable-prompt", "resource-prompt"]);
    assert.equal(acmePrompts.prompts.find((p) => p.name === "simple-prompt")?.title, "Simple (Acme)");

    const globex = await connect(globexToken, "req-2");
    const globexNames = names(await globex.listPrompts());
    assert.deepEqual(globexNames, ["globex-welcome", ...UPSTREAM_PROMPTS.filter((n) => n !== "args-prompt")]);
    assert.ok(!globexNames.includes("acme-triage"), "acme's prompt is acme's");
  });

  test("GW-3 a prompt mcp-config defines is rendered by it, any other is the upstream's, a hidden one is nobody's", async () => {
    const acme = await connect(acmeToken, "req-1");
    assert.deepEqual(text(await acme.getPrompt({ name: "acme-triage", arguments: { ticket: "T-7" } })), ["Triage T-7 the Acme way."]);
    assert.deepEqual(text(await acme.getPrompt({ name: "simple-prompt", arguments: { ticket: "T-8" } })), ["Acme's simple prompt about T-8."]);
    assert.deepEqual(text(await acme.getPrompt({ name: "args-prompt", arguments: { city: "Paris", state: "Texas" } })), [
      "What's weather in Paris, Texas?",
    ]);

    const globex = await connect(globexToken, "req-2");
    assert.deepEqual(text(await globex.getPrompt({ name: "simple-prompt" })), ["This is a simple prompt without arguments."]);
    await assert.rejects(globex.getPrompt({ name: "args-prompt", arguments: { city: "Paris" } }), (error: Error) => {
      assert.ok(error instanceof McpError, `an MCP error: ${error}`);
      assert.match(error.message, /args-prompt/);
      return true;
    });
  });

  test("GW-4 the session hears prompts list_changed after an admin saves the org's prompt", async () => {
    const acme = await connect(acmeToken, "req-1");
    await acme.listTools(); // the session's link to the upstream is open too
    const told = new Promise<void>((resolve) => acme.setNotificationHandler(PromptListChangedNotificationSchema, () => resolve()));
    // The SDK client opens the session's SSE stream in the background after `initialize`: a
    // change made before it is open is told to nobody, so saves are repeated until one is heard.
    let saves = 0;
    await eventually(async () => {
      saves += 1;
      await savePrompt("acme", SERVER, "acme-triage", `Triage {{ ticket }} (save ${saves}).`, "Acme triage (edited)");
      return Promise.race([told.then(() => true), sleep(500).then(() => undefined)]);
    }, "notifications/prompts/list_changed");
    const prompts = await acme.listPrompts();
    assert.equal(prompts.prompts.find((p) => p.name === "acme-triage")?.title, "Acme triage (edited)");
  });

  test("GW-5 the upstream is told org, subject and trace by the gateway, and passed only the headers allowed", async () => {
    const acme = await connect(acmeToken, "req-1");
    await acme.callTool({ name: "echo", arguments: { message: "whose call is this" } });
    const globex = await connect(globexToken, "req-2");
    await globex.listTools();
    const orgless = await connect(orglessToken, "req-3");
    await orgless.callTool({ name: "echo", arguments: { message: "nobody's call" } });

    const call = (marker: string) => {
      const found = seen.find((s) => s.method === "POST" && s.body.includes('"tools/call"') && s.body.includes(marker));
      assert.ok(found, `the upstream got the tools/call of ${JSON.stringify(marker)}`);
      return found.headers;
    };
    const acmeCall = call("whose call is this");
    assert.equal(acmeCall["x-mcp-config-org"], "acme");
    assert.equal(acmeCall["x-mcp-config-subject"], "alice@acme");
    assert.equal(acmeCall["x-request-id"], "req-1");
    assert.equal(String(acmeCall.traceparent).split("-")[1], TRACE_ID, `one trace: ${acmeCall.traceparent}`);
    assert.equal(acmeCall.authorization, undefined);

    const orglessCall = call("nobody's call");
    assert.equal(orglessCall["x-mcp-config-org"], undefined, "no org: no org header, not the client's");
    assert.equal(orglessCall["x-mcp-config-subject"], "olga@nowhere");
    assert.equal(orglessCall["x-request-id"], "req-3");

    // Every request the upstream got (initialize, notifications, SSE streams, calls).
    for (const s of seen) {
      const what = `${s.method} ${s.body.slice(0, 80)}`;
      assert.equal(s.headers.authorization, undefined, `no token upstream: ${what}`);
      assert.notEqual(s.headers["x-mcp-config-org"], "evil", `the client's org header never passes: ${what}`);
      assert.ok(s.headers["x-mcp-config-subject"], `the subject on every request: ${what}`);
    }
    for (const [org, subject, requestId] of [
      ["acme", "alice@acme", "req-1"],
      ["globex", "gus@globex", "req-2"],
    ]) {
      const ofOrg = seen.filter((s) => s.headers["x-mcp-config-subject"] === subject);
      assert.ok(ofOrg.length > 0, `${org} reached the upstream`);
      assert.ok(ofOrg.every((s) => s.headers["x-mcp-config-org"] === org && s.headers["x-request-id"] === requestId), `${org}'s requests`);
    }
  });

  test("GW-6 an upstream that redirects is not followed: forwarded requests fail, mcp-config's prompts answer", async () => {
    const acme = await connect(acmeToken, "req-1", REDIRECTING);
    await assert.rejects(acme.listTools(), (error: Error) => {
      assert.ok(error instanceof McpError, `an MCP error: ${error}`);
      assert.match(error.message, new RegExp(`upstream MCP server of ${REDIRECTING}`));
      return true;
    });
    assert.deepEqual(names(await acme.listPrompts()), ["acme-triage"]);
    assert.deepEqual(seen.filter((s) => s.url.includes("followed-redirect")), [], "the redirect was never followed");
  });

  test("GW-7 an upstream that never answers fails the request within its timeout, naming it", async () => {
    const acme = await connect(acmeToken, "req-1", SILENT);
    const started = Date.now();
    await bounded(
      assert.rejects(acme.listTools(), (error: Error) => {
        assert.ok(error instanceof McpError, `an MCP error: ${error}`);
        assert.match(error.message, /did not answer within 1s/);
        return true;
      }),
      "tools/list of the silent upstream",
    );
    const took = Date.now() - started;
    assert.ok(took >= SILENT_TIMEOUT_MS && took < 5 * SILENT_TIMEOUT_MS, `failed after ${took} ms`);
    assert.ok(silentHeard.includes("POST"), "the silent upstream was asked");
    assert.deepEqual(names(await acme.listPrompts()), ["acme-triage"]);
  });
});
