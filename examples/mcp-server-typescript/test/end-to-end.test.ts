/**
 * The example server end to end: the real mcp-config service and Redis, this server as a
 * subprocess, driven by the SDK's own client on both protocols (2026-07-28 with
 * `subscriptions/listen`, and legacy `initialize` sessions).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { ConfigService, RedisServer, accepts, eventually, freePort } from "@mcp-config/client/testing";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { BINARY, ORG, PNG, REPO, STYLE_URI, SUMMARY_TEMPLATE, WAV, bounded, contentBundle, jwt } from "./support.js";

const MAIN = resolve(fileURLToPath(import.meta.url), "../../src/main.js");
const JWT_SECRET = "a test secret of at least thirty-two bytes";

type Era = "modern" | "legacy";
const ERAS: Era[] = ["modern", "legacy"];

describe("example MCP server", () => {
  let dir: string;
  let redis: RedisServer;
  let service: ConfigService;
  let port: number;
  let server: ChildProcess;
  const clients: Client[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mcp-example-ts-"));
    redis = await RedisServer.create(dir);
    await redis.start();
    service = await ConfigService.create(BINARY, dir, redis.url);
    await service.start();
    await service.importBundle(join(REPO, "examples/bundle.yaml"));
    await service.importBundle(contentBundle(dir));
    port = await freePort();
    server = spawn(process.execPath, [MAIN, "--server", "github", "--config-endpoint", service.endpoint, "--port", String(port), "--jwt-secret", JWT_SECRET], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    await eventually(async () => ((await accepts(port)) ? true : undefined), "the example server listening");
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    if (server.exitCode === null) server.kill("SIGKILL");
    await service.kill();
    await redis.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  async function connect(era: Era, org: string, headers: Record<string, string> = { "x-org-id": org }): Promise<Client> {
    const client = new Client(
      { name: "e2e", version: "1.0.0" },
      era === "modern" ? { versionNegotiation: { mode: { pin: "2026-07-28" } } } : {},
    );
    const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), {
      requestInit: { headers },
    });
    await client.connect(transport);
    clients.push(client);
    return client;
  }

  for (const era of ERAS) {
    test(`E2E-1 ${era}: each org lists its own prompts and resources`, async () => {
      const acme = await connect(era, "acme");
      const globex = await connect(era, "globex");
      const prompts = await acme.listPrompts();
      assert.deepEqual(prompts.prompts.map((p) => p.name), ["release-notes", "review-pr", "security-review", "triage-issue"]);
      assert.equal(prompts.prompts.find((p) => p.name === "review-pr")?.title, "Review a pull request (Acme)");
      assert.deepEqual((await globex.listPrompts()).prompts.map((p) => p.name), ["release-notes", "review-pr"]);
      const resources = await acme.listResources();
      assert.ok(resources.resources.some((r) => r.uri === "file:///acme/oncall.md" && r.mimeType === "text/markdown"));
      const read = await acme.readResource({ uri: "file:///acme/oncall.md" });
      assert.match(String((read.contents[0] as { text?: string }).text), /^# On call/);
    });

    test(`E2E-2 ${era}: a prompt is rendered by mcp-config; a missing argument is an error naming it`, async () => {
      const acme = await connect(era, "acme");
      const rendered = await acme.getPrompt({ name: "review-pr", arguments: { repo: "acme/api", number: "42" } });
      const first = rendered.messages[0]?.content as { type: string; text: string };
      assert.equal(first.type, "text");
      assert.match(first.text, /Review pull request #42 in acme\/api using Acme's checklist/);
      await assert.rejects(acme.getPrompt({ name: "review-pr", arguments: { repo: "acme/api" } }), (error: Error & { code?: number }) => {
        assert.equal(error.code, -32602);
        assert.match(error.message, /number/);
        return true;
      });
    });

    test(`E2E-3 ${era}: another org's resource is refused`, async () => {
      const globex = await connect(era, "globex");
      await assert.rejects(globex.readResource({ uri: "file:///acme/oncall.md" }), (error: Error & { code?: number }) => {
        assert.equal(error.code, -32602);
        return true;
      });
    });

    test(`E2E-8 ${era}: image, audio, embedded resource and resource link messages are MCP content blocks`, async () => {
      const initech = await connect(era, ORG);
      const screenshot = await initech.getPrompt({ name: "describe-screenshot" });
      assert.deepEqual(screenshot.messages, [
        { role: "user", content: { type: "image", data: PNG, mimeType: "image/png" } },
        { role: "user", content: { type: "text", text: "What does this screenshot show?" } },
      ]);
      // No contents in the bundle: the org's own resource, read when the prompt is rendered.
      const styled = await initech.getPrompt({ name: "apply-style-guide", arguments: { file: "tps.md" } });
      assert.deepEqual(styled.messages[0]?.content, {
        type: "resource",
        resource: { uri: STYLE_URI, mimeType: "text/markdown", text: "# Initech style\nCover sheets on every TPS report." },
      });
      assert.deepEqual(styled.messages[1]?.content, { type: "text", text: "Apply the style guide above to tps.md." });
      const linked = await initech.getPrompt({ name: "listen-and-link", arguments: { repo: "initech/tps" } });
      assert.deepEqual(linked.messages, [
        { role: "assistant", content: { type: "audio", data: WAV, mimeType: "audio/wav" } },
        {
          role: "user",
          content: {
            type: "resource_link",
            uri: "https://github.com/initech/tps/blob/main/README.md",
            name: "readme",
            description: "The repository's README",
            mimeType: "text/markdown",
          },
        },
      ]);
    });

    test(`E2E-9 ${era}: a resource template is listed as a template only, and a URI it matches is read`, async () => {
      const initech = await connect(era, ORG);
      const uris = (await initech.listResources()).resources.map((r) => r.uri);
      assert.ok(uris.includes(STYLE_URI), `the org's resource is listed: ${uris}`);
      assert.ok(!uris.includes(SUMMARY_TEMPLATE), `a template is no readable resource: ${uris}`);
      const templates = await initech.listResourceTemplates();
      assert.deepEqual(templates.resourceTemplates, [
        {
          uriTemplate: SUMMARY_TEMPLATE,
          name: "repo-summary",
          title: "Repository summary",
          description: "A summary of any repository, by owner and name.",
          mimeType: "text/plain",
        },
      ]);
      const read = await initech.readResource({ uri: "github://repos/initech/printer/summary" });
      assert.deepEqual(read.contents, [
        { uri: "github://repos/initech/printer/summary", mimeType: "text/plain", text: "Summary of initech/printer." },
      ]);
      const acme = await connect(era, "acme");
      assert.deepEqual((await acme.listResourceTemplates()).resourceTemplates, [], "initech's template is initech's");
    });
  }

  test("E2E-7 a verified JWT's org claim decides the org; a bad signature is refused", async () => {
    const globex = await connect("modern", "globex", { authorization: `Bearer ${jwt({ org: "globex" }, JWT_SECRET)}`, "x-org-id": "acme" });
    assert.deepEqual((await globex.listPrompts()).prompts.map((p) => p.name), ["release-notes", "review-pr"], "the claim, not the header");
    const forged = jwt({ org: "acme" }, "another secret, also thirty-two bytes long");
    const response = await fetch(`http://127.0.0.1:${port}/mcp`, {
      method: "POST",
      headers: { authorization: `Bearer ${forged}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    assert.equal(response.status, 401);
  });

  test("E2E-4 modern: list_changed on the org's subscriptions/listen stream after an admin change", async () => {
    const acme = await connect("modern", "acme");
    const told = new Promise<void>((resolve) => acme.setNotificationHandler("notifications/prompts/list_changed", () => resolve()));
    const subscription = await acme.listen({ promptsListChanged: true, resourcesListChanged: true });
    assert.ok(subscription.honoredFilter.promptsListChanged);
    await service.putPrompt("acme", "security-review", "Audit {{ repo }} (modern).");
    await bounded(told, "prompts list_changed on the listen stream");
    const prompts = await acme.listPrompts();
    assert.equal(prompts.prompts.find((p) => p.name === "security-review")?.title, "security-review (edited)");
    await subscription.close();
  });

  test("E2E-5 legacy: list_changed on the org's session after an admin change", async () => {
    const acme = await connect("legacy", "acme");
    const told = new Promise<void>((resolve) => acme.setNotificationHandler("notifications/prompts/list_changed", () => resolve()));
    // Unsolicited notifications travel on the session's standalone SSE stream, which the SDK
    // client opens in the background after `initialize`: a change made before it is open is
    // told to nobody, so edits are repeated until one is heard (a bounded wait, no timing).
    let edits = 0;
    await eventually(async () => {
      edits += 1;
      await service.putPrompt("acme", "review-pr", `Review {{ repo }} (legacy ${edits}).`);
      return Promise.race([told.then(() => true), sleep(500).then(() => undefined)]);
    }, "prompts list_changed on the session");
  });

  test("E2E-6 SIGTERM ends listen streams gracefully and the process exits", async () => {
    const acme = await connect("modern", "acme");
    const subscription = await acme.listen({ promptsListChanged: true });
    const exited = new Promise<number | null>((resolve) => server.once("exit", (code) => resolve(code)));
    server.kill("SIGTERM");
    assert.equal(await bounded(subscription.closed, "the listen stream closed"), "graceful");
    assert.equal(await bounded(exited, "the server exited"), 0);
  });
});
