/** Invalidation: a change reaches the client through Watch or Redis, and whenever a message may
 * have been missed (a gap, a Redis restart, a change before the first subscription) every view
 * is revalidated. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { type Source, createConfigClient } from "../src/index.js";
import { RedisServer } from "../src/testing.js";
import { ACME_GITHUB_PROMPTS, CHANNEL, PROPAGATION_MS, type Stack, nextChange, stack, texts, using } from "./harness.js";

describe("invalidation", () => {
  let s: Stack;
  before(async () => (s = await stack()));
  after(() => s.stop());
  const sources = (): Record<string, Source> => ({
    watch: { type: "watch" },
    redis: { type: "redis", url: s.redis.url, channel: CHANNEL },
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
    const client = createConfigClient({ endpoint: s.service.endpoint, source: { type: "redis", url: late.url } });
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
    const client = createConfigClient({ endpoint: s.service.endpoint, source: { type: "redis", url: s.redis.url } });
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
    const client = createConfigClient({ endpoint: s.service.endpoint, source: { type: "redis", url: s.redis.url } });
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
    using(createConfigClient({ endpoint: s.service.endpoint, source: { type: "redis", url: s.redis.url } }), async (c) => {
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
