/**
 * `node dist/bench/reads.js [MCP_CONFIG_BIN]`: the cost of a read through the TypeScript client,
 * against the real service (a throwaway SQLite one, the example bundle imported):
 *
 * - a cached read (the view is current: no call at all);
 * - a revalidation (`revalidateAfterMs: 0`: every read asks with `known_revision` and gets a
 *   `not_modified` answer, the cost a read pays after an invalidation when nothing changed);
 * - a `GetPrompt` (never cached: rendered by the service each time), for scale.
 *
 * Sequential reads on one connection, after a warm-up; figures in microseconds.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createConfigClient } from "../src/index.js";
import { ConfigService } from "../src/testing.js";

const REPO = resolve(fileURLToPath(import.meta.url), "../../../../../");
const BINARY = process.argv[2] ?? process.env.MCP_CONFIG_BIN ?? join(REPO, "target/debug/mcp-config");

/** Runs `read` `count` times after a warm-up; returns p50 and p99 in microseconds and reads/s. */
async function measure(read: () => Promise<unknown>, count: number) {
  for (let i = 0; i < Math.min(count / 10, 500); i++) await read();
  const samples: number[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await read();
    samples.push(performance.now() - t);
  }
  const elapsed = performance.now() - started;
  samples.sort((a, b) => a - b);
  const at = (q: number) => ((samples[Math.floor(q * (samples.length - 1))] ?? 0) * 1000).toFixed(1);
  return { p50_us: at(0.5), p99_us: at(0.99), per_s: Math.round((count / elapsed) * 1000) };
}

const dir = mkdtempSync(join(tmpdir(), "mcp-config-bench-"));
const service = await ConfigService.create(BINARY, dir);
await service.start();
try {
  await service.importBundle(join(REPO, "examples/bundle.yaml"));
  const cached = createConfigClient({ endpoint: service.endpoint });
  await cached.waitForSource(10_000);
  const revalidating = createConfigClient({ endpoint: service.endpoint, source: { type: "none" }, revalidateAfterMs: 0 });
  const rendering = createConfigClient({ endpoint: service.endpoint, source: { type: "none" } });
  const results = {
    "cached read (prompts acme/github)": await measure(() => cached.prompts("acme", "github"), 200_000),
    "revalidation (known_revision, not_modified)": await measure(() => revalidating.prompts("acme", "github"), 5_000),
    "GetPrompt (rendered by the service)": await measure(
      () => rendering.prompt("acme", "github", "review-pr", { repo: "acme/api", number: "7" }),
      5_000,
    ),
  };
  console.table(results);
  await Promise.all([cached.close(), revalidating.close(), rendering.close()]);
} finally {
  await service.kill();
  rmSync(dir, { recursive: true, force: true });
}
