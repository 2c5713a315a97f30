/**
 * `mcp-config capture` against the official reference server (`@modelcontextprotocol/server-everything`,
 * pinned), which nobody here wrote: its captured prompts, imported, render through mcp-config's
 * own MCP endpoint exactly as the reference server renders them — with and without its optional
 * argument —, its completion values become choices that complete the same, a captured resource
 * reads the same, and the prompt it cannot capture is reported.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ConfigService, accepts, eventually, freePort } from "@mcp-config/client/testing";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { BINARY } from "./support.js";

const EVERYTHING = fileURLToPath(
  new URL("../../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url),
);

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: "capture-test", version: "0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

describe("capture of the reference server", () => {
  let dir: string;
  let service: ConfigService;
  let everything: ChildProcess;
  let everythingUrl: string;
  const clients: Client[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "capture-ts-"));
    service = await ConfigService.create(BINARY, dir);
    await service.start();
    const port = await freePort();
    const log = openSync(join(dir, "everything.log"), "a");
    everything = spawn(process.execPath, [EVERYTHING, "streamableHttp"], {
      env: { ...process.env, PORT: String(port) },
      stdio: ["ignore", log, log],
    });
    await eventually(async () => ((await accepts(port)) ? true : undefined), "the reference server listening");
    everythingUrl = `http://127.0.0.1:${port}/mcp`;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    everything.kill("SIGKILL");
    await service.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test("CAP-1 captured, imported, and every captured prompt renders as the original does", async () => {
    const bundle = join(dir, "everything.yaml");
    const { stderr } = await promisify(execFile)(BINARY, [
      "capture",
      "--from",
      everythingUrl,
      "--server",
      "everything",
      "--output",
      bundle,
    ]);
    assert.match(stderr, /captured 3 prompts and \d+ resources of server everything/);
    assert.match(stderr, /prompt "resource-prompt" not captured: it refused placeholder arguments/);
    await service.importBundle(bundle);

    const original = await connect(everythingUrl);
    const captured = await connect(`${service.httpUrl}/mcp/everything`);
    clients.push(original, captured);
    for (const [name, args] of [
      ["simple-prompt", {}],
      ["args-prompt", { city: "Paris", state: "Texas" }],
      ["args-prompt", { city: "Paris" }],
      ["completable-prompt", { department: "Sales", name: "Eve" }],
    ] as const) {
      const expected = await original.getPrompt({ name, arguments: args });
      const got = await captured.getPrompt({ name, arguments: args });
      assert.deepEqual(got.messages, expected.messages, `${name} ${JSON.stringify(args)}`);
    }

    const complete = (client: Client) =>
      client.complete({ ref: { type: "ref/prompt", name: "completable-prompt" }, argument: { name: "department", value: "S" } });
    assert.deepEqual((await complete(captured)).completion.values, (await complete(original)).completion.values);
    assert.deepEqual((await complete(captured)).completion.values, ["Sales", "Support"]);

    const [first] = (await original.listResources()).resources;
    assert.ok(first !== undefined, "the reference server lists resources");
    assert.deepEqual(
      (await captured.readResource({ uri: first.uri })).contents,
      (await original.readResource({ uri: first.uri })).contents,
    );
  });
});
