/** Invalidation: a change reaches the client through Watch or Redis, and whenever a message may
 * have been missed (a gap, a Redis restart, a change before the first subscription) every view
 * is revalidated. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fromJsonString } from "@bufbuild/protobuf";
import { Redis } from "ioredis";
import { InvalidationEventSchema } from "../gen/mcp_config/v1/config_pb.js";
import { type Changed, type Lagged, type Source, type Subscription, createConfigClient } from "../src/index.js";
import { redisSource } from "../src/redis.js";
import { RedisServer } from "../src/testing.js";
import { isProgress } from "../src/tracker.js";
import { ACME_GITHUB_PROMPTS, CHANNEL, PROPAGATION_MS, type Stack, nextChange, stack, texts, using } from "./harness.js";

/** Every notification up to the `times`-th `wanted` one (bounded wait), and any already queued
 * behind it, as `org/server/kind` (`lagged` for a loss). */
async function heardUntil(changes: Subscription, wanted: Omit<Changed, "type" | "revision">, times: number): Promise<string[]> {
  const name = (item: Changed | Lagged) => (item.type === "lagged" ? "lagged" : `${item.org}/${item.server}/${item.kind}`);
  const target = name({ type: "changed", ...wanted, revision: 0 });
  const heard: string[] = [];
  const until = async () => {
    for (let next = await changes.next(); !next.done; next = await changes.next()) {
      heard.push(name(next.value));
      if (heard.filter((h) => h === target).length === times) return;
    }
    throw new Error("the change feed ended");
  };
  await within(until(), PROPAGATION_MS, `${target} heard ${times} times`);
  changes.close();
  for await (const item of changes) heard.push(name(item));
  return heard;
}

/** `promise`, or a failure naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}

describe("invalidation", () => {
  let s: Stack;
  before(async () => (s = await stack()));
  after(() => s.stop());
  const putDefault = (server: string, name: string, text: string) =>
    s.service.admin("PUT", `/defaults/servers/${server}/prompts/${name}`, {
      content: { messages: [{ role: "user", text }] },
    });
  const sources = (): Record<string, Source> => ({
    watch: { type: "watch" },
    redis: redisSource({ url: s.redis.url, channel: CHANNEL }),
  });

  for (const via of ["watch", "redis"]) {
    test(`S-INV-1 an admin edit is announced and seen by the next read (${via})`, () =>
      using(createConfigClient({ endpoint: s.service.endpoint, source: sources()[via]! }), async (c) => {
        await c.waitForSource(PROPAGATION_MS);
        const before = await c.prompts("acme", "github");
        const changes = c.changes();
        await s.service.putPrompt("acme", "review-pr", `Review {{ repo }} in one line (${via}).`);
        await nextChange(changes, ACME_GITHUB_PROMPTS);
        changes.close();
        const after = await c.prompts("acme", "github");
        assert.equal(texts(after)["review-pr"], `Review {{ repo }} in one line (${via}).`);
        assert.ok(after.revision > before.revision);
        assert.equal(after.stale, null);
      }));
  }

  for (const via of ["watch", "redis"]) {
    test(`S-SRC-9 a client of one server hears only that server's changes (${via})`, () =>
      using(createConfigClient({ endpoint: s.service.endpoint, source: sources()[via]!, servers: ["github"] }), async (c) => {
        await c.waitForSource(PROPAGATION_MS);
        await c.prompts("acme", "github");
        await c.prompts("globex", "github");
        const changes = c.changes();
        await s.service.putPrompt("acme", "review-pr", "First: {{ repo }}.");
        // Between two of github's changes: neither heard nor a gap in github's chain.
        await putDefault("slack", `one-server-${via}`, "Only slack hears this.");
        await s.service.putPrompt("acme", "review-pr", `Only github (${via}): {{ repo }}.`);
        const heard = await heardUntil(changes, ACME_GITHUB_PROMPTS, 2);
        // No slack change, and no flush (which would announce globex's view too).
        assert.deepEqual(heard, ["acme/github/Prompts", "acme/github/Prompts"]);
        const after = await c.prompts("acme", "github");
        assert.equal(texts(after)["review-pr"], `Only github (${via}): {{ repo }}.`);
        assert.equal(after.stale, null);
      }));

    test(`S-SRC-9 a client of two servers follows each server's chain without gaps (${via})`, () =>
      using(
        createConfigClient({ endpoint: s.service.endpoint, source: sources()[via]!, servers: ["github", "slack"] }),
        async (c) => {
          await c.waitForSource(PROPAGATION_MS);
          await c.prompts("acme", "github");
          await c.prompts("acme", "slack");
          const changes = c.changes();
          await s.service.putPrompt("acme", "review-pr", "First: {{ repo }}.");
          await putDefault("slack", `two-servers-${via}`, "Slack hears this.");
          await s.service.putPrompt("acme", "review-pr", "Second: {{ repo }}.");
          const heard = await heardUntil(changes, ACME_GITHUB_PROMPTS, 2);
          // On Redis each server's channel chains its own events: slack's change is no gap in
          // github's channel, nor github's second change in slack's (a flush would announce
          // acme's slack view too).
          assert.deepEqual(heard, ["acme/github/Prompts", "/slack/Prompts", "acme/github/Prompts"]);
        },
      ));
  }

  test("S-SRC-9 a server's own progress keeps its channel followed", { timeout: 60_000 }, async () => {
    // The relay announces github's progress on github's channel every second here: a client that
    // hears that channel only is never silent for its three, and the progress (at github's last
    // change, not the newest of all) is no gap.
    const t = await stack(["--watch-progress-secs", "1"]);
    const observer = new Redis(t.redis.url);
    try {
      let progress = 0;
      // Six announcements span five seconds: past a cut (after three) and the reconnection that
      // would announce every view.
      const enough = new Promise<void>((resolve) =>
        observer.on("message", (_channel: string, text: string) => {
          if (isProgress(fromJsonString(InvalidationEventSchema, text)) && ++progress === 6) resolve();
        }),
      );
      await observer.subscribe(`${CHANNEL}:github`);
      const client = createConfigClient({
        endpoint: t.service.endpoint,
        source: redisSource({ url: t.redis.url }),
        servers: ["github"],
        silenceMs: 3_000,
      });
      await using(client, async (c) => {
        await c.waitForSource(PROPAGATION_MS);
        await c.prompts("acme", "github");
        const heard: string[] = [];
        const stop = c.onChange((change) => heard.push(`${change.org}/${change.server}/${change.kind}`));
        await within(enough, 3 * PROPAGATION_MS, "six progress announcements on github's channel");
        stop();
        assert.deepEqual(heard, [], "no cut, no reconnection, no flush");
        assert.equal((await c.prompts("acme", "github")).stale, null);
      });
    } finally {
      observer.disconnect();
      await t.stop();
    }
  });

  test("S-INV-2 a default edit concerns every org of that server", () =>
    using(createConfigClient({ endpoint: s.service.endpoint }), async (c) => {
      await c.waitForSource(PROPAGATION_MS);
      await c.prompts("globex", "github");
      const seen: string[] = [];
      const stop = c.onChange((change) => seen.push(`${change.org}/${change.server}/${change.kind}`));
      const changes = c.changes();
      await s.service.admin("PUT", "/defaults/servers/github/prompts/release-notes", {
        content: { messages: [{ role: "user", text: "Notes, briefly." }] },
      });
      await nextChange(changes, { org: "", server: "github", kind: "Prompts" });
      changes.close();
      stop();
      assert.ok(seen.includes("/github/Prompts"), "onChange saw it too");
      assert.equal(texts(await c.prompts("globex", "github"))["release-notes"], "Notes, briefly.");
    }));

  test("S-SRC-2 a change committed between the first fetch and the first subscription is not missed", async () => {
    // The client's Redis is down at first: its view is fetched before it can hear anything.
    const late = await RedisServer.create(s.dir);
    const client = createConfigClient({ endpoint: s.service.endpoint, source: redisSource({ url: late.url }) });
    await using(client, async (c) => {
      const first = await c.prompts("acme", "github");
      await s.service.putPrompt("acme", "security-review", "Before the subscription: {{ repo }}.");
      await late.start();
      await c.waitForSource(PROPAGATION_MS);
      const after = await c.prompts("acme", "github");
      assert.ok(after.revision > first.revision);
      assert.equal(texts(after)["security-review"], "Before the subscription: {{ repo }}.");
    });
    await late.kill();
  });

  test("S-GAP-1 a revision gap on the channel marks every view out of date", async () => {
    const publisher = new Redis(s.redis.url);
    const client = createConfigClient({ endpoint: s.service.endpoint, source: redisSource({ url: s.redis.url }) });
    await using(client, async (c) => {
      await c.waitForSource(PROPAGATION_MS);
      await c.prompts("acme", "github");
      await c.resources("globex", "slack");
      const changes = c.changes();
      // Revision 1001 never arrives: the client must not trust anything it holds.
      for (const [revision, previous] of [[1000, 999], [1002, 1001]]) {
        await publisher.publish(
          CHANNEL,
          JSON.stringify({ revision: String(revision), previousRevision: String(previous), orgId: "initech", server: "jira", kind: "PROMPTS" }),
        );
      }
      await nextChange(changes, ACME_GITHUB_PROMPTS);
      await nextChange(changes, { org: "globex", server: "slack", kind: "Resources" });
      changes.close();
    });
    publisher.disconnect();
  });

  test("S-FLOOR-2 an answer still behind after the retries is served stale, never as current", async () => {
    const publisher = new Redis(s.redis.url);
    const client = createConfigClient({ endpoint: s.service.endpoint, source: redisSource({ url: s.redis.url }) });
    await using(client, async (c) => {
      await c.waitForSource(PROPAGATION_MS);
      const current = await c.prompts("acme", "github");
      const { next_after: latest } = (await s.service.admin("GET", "/changes?limit=1000")) as { next_after: number };
      const changes = c.changes();
      // A change no replica has applied (forged on the channel): every answer stays behind.
      await publisher.publish(
        CHANNEL,
        JSON.stringify({ revision: String(latest + 1000), previousRevision: String(latest), orgId: "acme", server: "github", kind: "PROMPTS" }),
      );
      await nextChange(changes, ACME_GITHUB_PROMPTS);
      changes.close();
      const behind = await c.prompts("acme", "github");
      assert.equal(current.stale, null);
      assert.equal(behind.revision, current.revision, "the answer the service has");
      assert.notEqual(behind.stale, null, "older than a change the client was told of: not current");
    });
    publisher.disconnect();
  });

  test("S-REDIS-1 the client recovers from a Redis restart and resubscribes itself", () =>
    using(createConfigClient({ endpoint: s.service.endpoint, source: redisSource({ url: s.redis.url }) }), async (c) => {
      await c.waitForSource(PROPAGATION_MS);
      await c.prompts("acme", "github");
      let changes = c.changes();
      await s.redis.kill();
      await s.redis.start();
      // The reconnection's flush announces every view: anything may have been missed.
      await nextChange(changes, ACME_GITHUB_PROMPTS);
      changes.close();
      await c.waitForSource(PROPAGATION_MS);
      changes = c.changes();
      await s.service.putPrompt("acme", "review-pr", "After the restart: {{ repo }}.");
      await nextChange(changes, ACME_GITHUB_PROMPTS);
      changes.close();
      const after = await c.prompts("acme", "github");
      assert.equal(texts(after)["review-pr"], "After the restart: {{ repo }}.");
      assert.equal(after.stale, null);
    }));
});
