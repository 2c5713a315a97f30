/** Never wait on a hung service: a read with a usable cached view waits `readBudgetMs` at most,
 * then serves it stale while its request goes on in the background (unless a change past the
 * view was announced: then it waits for the service); the circuit breaker stops
 * sending after 3 failures to reach the service; errors carry no internal address. A proxy that
 * can "blackhole" (accept, forward nothing, close nothing) stands between client and service. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { Unavailable, type Prompt, type View, createConfigClient } from "../src/index.js";
import { eventually } from "../src/testing.js";
import {
  ACME_GITHUB_PROMPTS,
  HangingProxy,
  PROPAGATION_MS,
  type Stack,
  nextChange,
  stack,
  texts,
  using,
} from "./harness.js";

/** A bound on waits that must end long before the client's call timeout; never a timing check
 * of the read budget itself. */
const PROMPTLY_MS = 5_000;

/** `promise`, or a rejection if it has not settled within `ms`. */
async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The revision of acme's github prompts in a snapshot file, if there. */
function snapshotRevision(path: string): number | undefined {
  try {
    const saved = JSON.parse(readFileSync(path, "utf8")) as Array<{ id: { kind: string; org: string }; revision: number }>;
    return saved.find((v) => v.id.kind === "Prompts" && v.id.org === "acme")?.revision;
  } catch {
    return undefined;
  }
}

describe("a hung service", () => {
  let s: Stack;
  let proxy: HangingProxy;
  before(async () => (s = await stack()));
  after(() => s.stop());
  beforeEach(async () => (proxy = await HangingProxy.start(Number(new URL(s.service.endpoint).port))));
  afterEach(() => proxy.stop());

  test("S-HUNG-1 a cached view is served stale at once, and the request left running brings the change", { timeout: 60_000 }, async () => {
    const snapshot = join(s.dir, "hung-views.json");
    const written = "Saved while the service hung: {{ repo }}.";
    const client = createConfigClient({
      endpoint: proxy.endpoint,
      // No invalidations and no freshness: every read asks the service.
      source: { type: "none" },
      revalidateAfterMs: 0,
      timeoutMs: 30_000,
      snapshot,
    });
    await using(client, async (c) => {
      const cached = await c.prompts("acme", "github");
      proxy.blackhole();
      await s.service.putPrompt("acme", "review-pr", written);
      const sent = proxy.requests;

      const stale = await bounded(c.prompts("acme", "github"), PROMPTLY_MS, "a read of a cached view");
      const staleAgain = await bounded(c.prompts("acme", "github"), PROMPTLY_MS, "a second read");
      assert.ok(stale.stale !== null, "served stale, not waited on the 30 s timeout");
      assert.deepEqual(stale.items, cached.items);
      assert.equal(stale.revision, cached.revision);
      assert.notEqual(texts(stale)["review-pr"], written);
      assert.ok(staleAgain.stale !== null);
      assert.equal(proxy.requests - sent, 1, "both reads share the one request in flight");

      proxy.heal();
      // No read from here on until the cache has it: the request sent while the service hung
      // is answered and stored (the snapshot is saved with every stored view).
      await eventually(
        () => ((snapshotRevision(snapshot) ?? 0) > Number(cached.revision) ? true : undefined),
        "the background request's answer stored",
        PROMPTLY_MS,
      );
      assert.equal(proxy.requests - sent, 1, "stored by the request sent while the service hung");
      const seen: View<Prompt> = await eventually(async () => {
        const view = await c.prompts("acme", "github");
        return view.stale === null ? view : undefined;
      }, "a fresh read after healing");
      assert.equal(texts(seen)["review-pr"], written);
      assert.ok(seen.revision > cached.revision);
    });
  });

  test("S-HUNG-2 a change announced past the cached view: the read waits for it, past the budget", { timeout: 60_000 }, async () => {
    const delayMs = 300; // each way: far past the 50 ms budget
    const written = "Announced, then read through a slow service: {{ repo }}.";
    const client = createConfigClient({
      endpoint: proxy.endpoint,
      // Watch through the proxy (it survives the delay); views old at once, so every read asks.
      source: { type: "watch" },
      revalidateAfterMs: 1,
      timeoutMs: 30_000,
    });
    await using(client, async (c) => {
      await c.waitForSource(PROPAGATION_MS);
      const cached = await c.prompts("acme", "github");
      const changes = c.changes();
      await s.service.putPrompt("acme", "review-pr", written);
      await nextChange(changes, ACME_GITHUB_PROMPTS);
      changes.close();
      proxy.delay(delayMs);

      // A change past the cached view was announced (as to an MCP server told `list_changed`,
      // which reads again): the read waits for the service, and gets the change.
      const changed = await bounded(c.prompts("acme", "github"), PROMPTLY_MS, "a read after the change");
      assert.equal(changed.stale, null, "not served stale within the budget");
      assert.equal(texts(changed)["review-pr"], written);
      assert.ok(changed.revision > cached.revision);

      // Contrast: nothing announced past the view, which is merely old: the same slow service,
      // and the view is served stale within the budget (an answer takes 2 x 300 ms at least).
      await sleep(5);
      const old = await bounded(c.prompts("acme", "github"), PROMPTLY_MS, "a read of an old view");
      assert.ok(old.stale !== null, "served stale within the budget");
      assert.deepEqual(old.items, changed.items);
      assert.equal(old.revision, changed.revision);
    });
  });

  test("S-HUNG-1 the circuit breaker: no request after 3 failures until the cool-down, then one", { timeout: 60_000 }, async () => {
    const coolDownMs = 1_500;
    const timeoutMs = 1_000;
    const client = createConfigClient({
      endpoint: proxy.endpoint,
      source: { type: "none" },
      revalidateAfterMs: 0,
      timeoutMs,
      breakerCoolDownMs: coolDownMs,
    });
    await using(client, async (c) => {
      await c.prompts("acme", "github");
      proxy.blackhole();
      // Nothing cached for globex: each read waits the call timeout, and fails.
      for (let failure = 0; failure < 3; failure += 1) {
        await assert.rejects(c.prompts("globex", "github"), Unavailable);
      }
      const sent = proxy.requests;

      // Open: nothing is sent; an uncached read fails at once, a cached one is served stale.
      const refusedFrom = performance.now();
      await assert.rejects(c.prompts("globex", "github"), (e: unknown) => e instanceof Unavailable && /unreachable/.test(e.message));
      const refusedIn = performance.now() - refusedFrom;
      const stale = await c.prompts("acme", "github");
      // A prompt of the cached view is rendered locally (C-RENDER-1); of a view not held, not.
      const args = { repo: "acme/api", number: "7" };
      const local = await c.prompt("acme", "github", "review-pr", args);
      await assert.rejects(c.prompt("globex", "github", "review-pr", args), Unavailable);
      assert.ok(refusedIn < timeoutMs, `refused without waiting on the timeout (${refusedIn} ms)`);
      assert.ok(stale.stale !== null);
      assert.match(local.messages[0]?.text ?? "", /acme\/api/);
      assert.equal(proxy.requests, sent, "no request while the breaker is open");

      // Half-open, the service still hung: one request is let through, fails, and opens it again.
      await sleep(coolDownMs);
      await assert.rejects(c.prompts("globex", "github"), Unavailable);
      assert.equal(proxy.requests, sent + 1, "one trial request after the cool-down");
      await assert.rejects(c.prompts("globex", "github"), Unavailable);
      assert.equal((await c.prompts("acme", "github")).stale !== null, true);
      assert.equal(proxy.requests, sent + 1, "open again after the failed trial");

      // Healed: the next trial succeeds and closes the breaker; requests flow again.
      proxy.heal();
      await sleep(coolDownMs);
      const back = await c.prompts("globex", "github");
      assert.equal(back.stale, null);
      assert.ok(back.items.length > 0);
      const trial = proxy.requests;
      await c.prompts("globex", "github");
      await c.prompts("acme", "github");
      assert.equal(proxy.requests, trial + 2, "closed: every read asks again");
    });
  });
});

test("S-HUNG-1 an unreachable service's error names no address", async () => {
  const client = createConfigClient({ endpoint: "http://127.0.0.1:9", source: { type: "none" }, timeoutMs: 1_000 });
  await using(client, async (c) => {
    for (const read of [() => c.prompts("acme", "github"), () => c.prompt("acme", "github", "review-pr")]) {
      const error = await read().then(
        () => assert.fail("no service there"),
        (e: unknown) => e,
      );
      assert.ok(error instanceof Unavailable);
      assert.match(error.message, /the mcp-config service is unreachable/);
      assert.doesNotMatch(error.message, /\d+\.\d+\.\d+\.\d+|:\d+|ECONNREFUSED|127\.0\.0\.1|localhost/);
      assert.ok(error.cause instanceof Error, "the original error kept as the cause");
    }
  });
});
