// Uses the client as installed from its `npm pack` tarball (run by scripts/test-ts.sh from a
// scratch project): starts the service, reads a view and a rendered prompt (and renders it
// locally alike, and through the testing subpath's fake), closes, and exits by itself (close()
// must leave nothing running).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConfigClient, NotFound, renderLocally } from "@mcp-config/client";
import { redisSource } from "@mcp-config/client/redis";
import { ConfigService, FakeConfigClient } from "@mcp-config/client/testing";

const [binary, bundle] = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), "mcp-config-packed-"));
const service = await ConfigService.create(binary, dir);
await service.start();
try {
  await service.importBundle(bundle);
  const client = createConfigClient({ endpoint: service.endpoint });
  await client.waitForSource(10_000);
  const prompts = await client.prompts("acme", "github");
  assert.ok(prompts.items.some((p) => p.name === "security-review"));
  const rendered = await client.prompt("acme", "github", "security-review", { repo: "acme/api" });
  assert.match(rendered.messages[0].text, /Audit acme\/api/);
  await assert.rejects(client.prompt("acme", "github", "nope"), NotFound);
  // The local renderer (C-RENDER-1) and its engine resolve from the tarball too.
  const review = prompts.items.find((p) => p.name === "security-review");
  assert.deepEqual(renderLocally(review, { repo: "acme/api" }), rendered.messages);
  await client.close();
  // The fake for unit tests, from the testing subpath, renders with the same engine.
  const fake = new FakeConfigClient();
  fake.setPrompts("acme", "github", [review]);
  assert.deepEqual((await fake.prompt("acme", "github", "security-review", { repo: "acme/api" })).messages, rendered.messages);
  await fake.close();
  // The Redis subpath export resolves from the tarball (ioredis itself loads only when started).
  assert.equal(redisSource({ url: "redis://127.0.0.1:6379" }).type, "redis");
  console.log("the packed client works");
} finally {
  await service.kill();
  rmSync(dir, { recursive: true, force: true });
}
