/** The client's status (C-STATUS-1, C-STATUS-2): starting, ready once the service answered,
 * stale (since, why) while it cannot be reached, recovered once it answers again; each change
 * one event. And a Redis source that cannot start or connect says so once (C-SRC-10). */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ChangeFeed } from "../src/changes.js";
import { Cache } from "../src/cache.js";
import { type ConfigClient, type Source, type StatusEvent, createConfigClient } from "../src/index.js";
import { redisSource } from "../src/redis.js";
import { followRedis } from "../src/sources/redis.js";
import { RedisServer, eventually, freePort } from "../src/testing.js";
import { Tracker } from "../src/tracker.js";
import { HangingProxy, PROPAGATION_MS, type Stack, stack, using } from "./harness.js";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Every status event of `client` from now on. */
function record(client: ConfigClient): StatusEvent[] {
  const events: StatusEvent[] = [];
  client.onStatus((event) => events.push(event));
  return events;
}

/** A few reads, whatever they end with (stale views, or `Unavailable`). */
async function readSome(client: ConfigClient, times: number): Promise<void> {
  for (let i = 0; i < times; i += 1) {
    await client.prompts("acme", "github").catch(() => {});
    await sleep(50);
  }
}

/** console.error's messages while `body` runs. */
async function capturingErrors(body: (errors: string[]) => Promise<void>): Promise<string[]> {
  const errors: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args.map(String).join(" "));
  try {
    await body(errors);
  } finally {
    console.error = original;
  }
  return errors;
}

describe("status", () => {
  let s: Stack;
  before(async () => (s = await stack()));
  after(() => s.stop());

  test("S-STATUS-1 a stopped service: starting, ready, one stale event (no address), one recovered", () =>
    using(
      createConfigClient({
        endpoint: s.service.endpoint,
        // Every read asks the service, so every read is a call whose outcome counts.
        source: { type: "none" },
        revalidateAfterMs: 0,
        timeoutMs: 1_000,
        breakerCoolDownMs: 200,
      }),
      async (c) => {
        const events = record(c);
        const unsubscribed: StatusEvent[] = [];
        const stop = c.onStatus((event) => unsubscribed.push(event));
        assert.deepEqual(c.status(), { state: "starting" });

        await c.prompts("acme", "github");
        assert.deepEqual(c.status(), { state: "ready" });
        await readSome(c, 3);
        stop();

        const before = Date.now();
        await s.service.kill();
        await eventually(async () => {
          await c.prompts("acme", "github").catch(() => {});
          return c.status().state === "stale" ? true : undefined;
        }, "a stale status");
        // Failed reads, then reads the open breaker holds back: nothing more is sent.
        await readSome(c, 10);
        const stale = c.status();

        await s.service.start();
        await eventually(async () => {
          await c.prompts("acme", "github").catch(() => {});
          return c.status().state === "ready" ? true : undefined;
        }, "a ready status again", PROPAGATION_MS);
        await readSome(c, 3);

        assert.deepEqual(unsubscribed, [{ type: "ready" }]);
        assert.deepEqual(events.map((e) => e.type), ["ready", "stale", "recovered"]);
        const staleEvent = events[1] as Extract<StatusEvent, { type: "stale" }>;
        assert.ok(staleEvent.since >= before && staleEvent.since <= Date.now());
        // A call cut by the stop itself is cancelled; later ones find nobody listening.
        assert.ok(["unreachable", "call cancelled"].includes(staleEvent.why), staleEvent.why);
        assert.ok(!staleEvent.why.includes("127.0.0.1"));
        assert.deepEqual(stale, { state: "stale", since: staleEvent.since, why: staleEvent.why });
        const recovered = events[2] as Extract<StatusEvent, { type: "recovered" }>;
        assert.ok(recovered.staleForMs > 0 && recovered.staleForMs <= Date.now() - staleEvent.since + 1);
        assert.deepEqual(c.status(), { state: "ready" });
        // JSON-safe: `since` is a number (epoch ms).
        assert.equal(typeof JSON.parse(JSON.stringify(staleEvent)).since, "number");
      },
    ));

  test("S-STATUS-1 a hung service: stale, why timed out, then the open breaker adds nothing; recovered once healed", async () => {
    const proxy = await HangingProxy.start(Number(new URL(s.service.endpoint).port));
    try {
      await using(
        createConfigClient({
          endpoint: proxy.endpoint,
          source: { type: "none" },
          revalidateAfterMs: 0,
          timeoutMs: 300,
          breakerCoolDownMs: 200,
        }),
        async (c) => {
          const events = record(c);
          await c.prompts("acme", "github");
          proxy.blackhole();
          await eventually(async () => {
            await c.prompts("acme", "github").catch(() => {});
            return c.status().state === "stale" ? true : undefined;
          }, "a stale status");
          await readSome(c, 10);
          proxy.heal();
          await eventually(async () => {
            await c.prompts("acme", "github").catch(() => {});
            return c.status().state === "ready" ? true : undefined;
          }, "a ready status again", PROPAGATION_MS);
          await readSome(c, 3);

          assert.deepEqual(events.map((e) => e.type), ["ready", "stale", "recovered"]);
          const why = (events[1] as Extract<StatusEvent, { type: "stale" }>).why;
          assert.equal(why, "timed out");
        },
      );
    } finally {
      await proxy.stop();
    }
  });

  test("S-SRC-10 a Redis source at a closed port logs one error over several retries; reads answer from the service", async () => {
    const port = await freePort();
    const errors = await capturingErrors(() =>
      using(
        createConfigClient({ endpoint: s.service.endpoint, source: redisSource({ url: `redis://127.0.0.1:${port}` }) }),
        async (c) => {
          // Several seconds: the source retries (100 ms, then doubling) all along.
          for (let i = 0; i < 8; i += 1) {
            const view = await c.prompts("acme", "github");
            assert.ok(view.items.length > 0);
            assert.equal(view.stale, null);
            await sleep(500);
          }
          assert.deepEqual(c.status(), { state: "ready" });
        },
      ),
    );
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(errors[0] as string, /Redis invalidation source cannot connect/);
    assert.match(errors[0] as string, /check that Redis runs/);
  });

  test("C-SRC-10 once connected, a lost Redis is logged once more", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "mcp-config-ts-redis-"));
    const redis = await RedisServer.create(dir);
    await redis.start();
    try {
      const errors = await capturingErrors(() =>
        using(createConfigClient({ endpoint: s.service.endpoint, source: redisSource({ url: redis.url }) }), async (c) => {
          await c.waitForSource(PROPAGATION_MS);
          await redis.kill();
          await sleep(3_000);
          assert.ok((await c.prompts("acme", "github")).items.length > 0);
        }),
      );
      assert.equal(errors.length, 1, errors.join("\n"));
    } finally {
      await redis.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("C-SRC-10 unit: without ioredis the source logs one error naming the package and returns", async () => {
    const errors: string[] = [];
    const tracker = new Tracker(new Cache(), new ChangeFeed());
    await followRedis(
      "redis://127.0.0.1:1",
      ["mcp-config:invalidations"],
      tracker,
      15_000,
      new AbortController().signal,
      (message) => errors.push(message),
      () => Promise.reject(new Error("Cannot find package 'ioredis'")),
    );
    assert.equal(errors.length, 1);
    assert.match(errors[0] as string, /npm install ioredis/);
  });

  test("C-SRC-10 unit: a plain { type: \"redis\" } (no redisSource) logs one error naming the subpath", async () => {
    const errors: string[] = [];
    const source = { type: "redis", url: "redis://127.0.0.1:1" } as unknown as Source;
    const client = createConfigClient({ endpoint: s.service.endpoint, source, error: (m) => errors.push(m) });
    try {
      assert.ok((await client.prompts("acme", "github")).items.length > 0);
    } finally {
      await client.close();
    }
    assert.equal(errors.length, 1);
    assert.match(errors[0] as string, /redisSource\(\{ url \}\) from "@mcp-config\/client\/redis"/);
  });
});
