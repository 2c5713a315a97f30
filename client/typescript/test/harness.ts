/**
 * Fixtures: a throwaway Redis and the real mcp-config binary per test (MCP_CONFIG_BIN, else
 * target/debug/mcp-config), loaded with the repository's example bundle.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Changed, type ConfigClient, type Lagged, type Subscription, type View, type v1 } from "../src/index.js";
import { ConfigService, RedisServer } from "../src/testing.js";

export const REPO = resolve(fileURLToPath(import.meta.url), "../../../../../");
export const BINARY = process.env.MCP_CONFIG_BIN ?? join(REPO, "target/debug/mcp-config");
export const BUNDLE = join(REPO, "examples/bundle.yaml");
export const CHANNEL = "mcp-config:invalidations";

/** Bound on waiting for a change to propagate (a publish is milliseconds; a reconnection with
 * backoff a few seconds). A bound on a wait, never a timing check. */
export const PROPAGATION_MS = 10_000;

export interface Stack {
  dir: string;
  redis: RedisServer;
  service: ConfigService;
  /** Stops everything and removes the directory. */
  stop(): Promise<void>;
}

/** A temp dir, Redis and the service publishing on it (with `extra` flags), the example bundle
 * imported. */
export async function stack(extra: readonly string[] = []): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), "mcp-config-ts-"));
  const redis = await RedisServer.create(dir);
  await redis.start();
  const service = await ConfigService.create(BINARY, dir, redis.url, extra);
  await service.start();
  await service.importBundle(BUNDLE);
  return {
    dir,
    redis,
    service,
    async stop() {
      await service.kill();
      await redis.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits (bounded) until `wanted` is announced on `changes`, skipping other notifications. */
export async function nextChange(changes: Subscription, wanted: Omit<Changed, "type" | "revision">): Promise<void> {
  const found = (async () => {
    for await (const item of changes) {
      if (isChange(item, wanted)) return;
    }
    throw new Error("the change feed ended");
  })();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(wanted)} within ${PROPAGATION_MS} ms`)), PROPAGATION_MS);
  });
  try {
    await Promise.race([found, bound]);
  } finally {
    clearTimeout(timer);
  }
}

function isChange(item: Changed | Lagged, wanted: Omit<Changed, "type" | "revision">): boolean {
  return item.type === "changed" && item.org === wanted.org && item.server === wanted.server && item.kind === wanted.kind;
}

export const ACME_GITHUB_PROMPTS = { org: "acme", server: "github", kind: "Prompts" } as const;

/** Prompt name -> its first message's text. */
export function texts(view: View<v1.Prompt>): Record<string, string> {
  return Object.fromEntries(view.items.map((p) => [p.name, p.messages[0]?.text ?? ""]));
}

/** Runs `body` with a client, closing it whatever happens. */
export async function using<T>(client: ConfigClient, body: (client: ConfigClient) => Promise<T>): Promise<T> {
  try {
    return await body(client);
  } finally {
    await client.close();
  }
}
