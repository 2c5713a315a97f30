/** Stale-if-error: while the service is down the last known view is served, flagged stale with
 * its age, up to `maxStaleMs`; a snapshot lets a cold process do the same, whichever client
 * wrote it. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Unavailable, type Prompt, type View, createConfigClient } from "../src/index.js";
import { redisSource } from "../src/redis.js";
import { eventually } from "../src/testing.js";
import { PROPAGATION_MS, REPO, type Stack, stack, texts, using } from "./harness.js";

/** Long enough that no stall of a loaded machine uses it up; every check below is an ordering
 * the client's clock guarantees, not a duration. */
const MAX_STALE_MS = 3_000;

describe("outages", () => {
  let s: Stack;
  before(async () => (s = await stack()));
  after(() => s.stop());

  test("S-STALE-1 a stopped service: served stale with its age, refused past max_stale, fresh again after a restart", () =>
    using(
      createConfigClient({ endpoint: s.service.endpoint, maxStaleMs: MAX_STALE_MS, timeoutMs: 1_000 }),
      async (c) => {
        await c.waitForSource(PROPAGATION_MS);
        const fresh = await c.prompts("acme", "github");
        await s.service.kill();
        const killed = performance.now();
        let asked = killed;
        // Until the client notices the lost Watch stream the view is current and served as
        // fresh; then it asks the service, fails, and serves the view stale.
        const stale = await eventually(async () => {
          asked = performance.now();
          const view = await c.prompts("acme", "github");
          return view.stale === null ? undefined : view;
        }, "a stale view");
        const refusal = await eventually(
          () => c.prompts("acme", "github").then(() => undefined, (e: unknown) => (e instanceof Unavailable ? e : undefined)),
          "a refusal past max_stale",
        );
        const refusedAt = performance.now();
        await s.service.start();
        await c.waitForSource(PROPAGATION_MS);
        const again = await c.prompts("acme", "github");

        assert.equal(fresh.stale, null);
        assert.deepEqual(stale.items.map((p) => p.name), fresh.items.map((p) => p.name));
        assert.ok(stale.stale !== null && stale.stale >= asked - killed && stale.stale <= MAX_STALE_MS);
        assert.ok(refusedAt - (asked - (stale.stale ?? 0)) >= MAX_STALE_MS);
        assert.match(refusal.message, /no view younger than 3000 ms/);
        assert.equal(again.stale, null);
        assert.equal(again.revision, fresh.revision);
      },
    ));

  test("S-SRC-6 a hung service: the silent Watch stream is taken as cut, views are served stale, then fresh again", () =>
    using(createConfigClient({ endpoint: s.service.endpoint, timeoutMs: 1_000 }), async (c) => {
      await c.waitForSource(PROPAGATION_MS);
      const fresh = await c.prompts("acme", "github");
      s.service.pause();
      try {
        // A frozen service closes nothing: only the silence bound (or HTTP/2 pings) tells.
        const stale = await eventually(
          async () => {
            const view = await c.prompts("acme", "github");
            return view.stale === null ? undefined : view;
          },
          "a stale view while the service hangs",
          3 * PROPAGATION_MS,
        );
        assert.equal(stale.revision, fresh.revision);
      } finally {
        s.service.resume();
      }
      await c.waitForSource(PROPAGATION_MS);
      assert.equal((await c.prompts("acme", "github")).stale, null);
    }));

  test("S-SRC-6 a hung Redis: the silent channel is taken as cut and reads revalidate", { timeout: 60_000 }, async () => {
    // The service announces progress on the channel every second here.
    const t = await stack(["--watch-progress-secs", "1"]);
    const written = "Written while Redis hung: {{ repo }}.";
    try {
      const client = createConfigClient({
        endpoint: t.service.endpoint,
        source: redisSource({ url: t.redis.url }),
        silenceMs: 3_000,
      });
      await using(client, async (c) => {
        await c.waitForSource(PROPAGATION_MS);
        await c.prompts("acme", "github");
        t.redis.pause();
        try {
          await t.service.putPrompt("acme", "review-pr", written);
          const cached = await c.prompts("acme", "github");
          assert.notEqual(texts(cached)["review-pr"], written, "not told yet: the cached view");
          const seen = await eventually(
            async () => {
              const view = await c.prompts("acme", "github");
              return texts(view)["review-pr"] === written ? view : undefined;
            },
            "a read after the channel went silent",
            3 * PROPAGATION_MS,
          );
          assert.equal(seen.stale, null);
        } finally {
          t.redis.resume();
        }
      });
    } finally {
      await t.stop();
    }
  });

  test("S-SNAP-1 a cold client starts from its snapshot while the service is down", async () => {
    const snapshot = join(s.dir, "views.json");
    const warm = createConfigClient({ endpoint: s.service.endpoint, source: { type: "none" }, snapshot });
    const known = await using(warm, (c) => c.prompts("globex", "github"));
    await s.service.kill();
    try {
      const cold = createConfigClient({ endpoint: s.service.endpoint, source: { type: "none" }, snapshot, timeoutMs: 1_000 });
      await using(cold, async (c) => {
        const served = await c.prompts("globex", "github");
        assert.ok(served.stale !== null);
        assert.equal(served.revision, known.revision);
        assert.deepEqual(served.items.map((p) => p.name), ["release-notes", "review-pr"]);
        await assert.rejects(c.prompts("acme", "github"), Unavailable);
      });
      const saved = JSON.parse(readFileSync(snapshot, "utf8")) as Array<{ id: { kind: string; org: string } }>;
      assert.deepEqual(saved.map((v) => [v.id.kind, v.id.org]), [["Prompts", "globex"]], "the shared format");
    } finally {
      await s.service.start();
    }
  });

  for (const writer of ["python", "typescript", "rust"]) {
    test(`S-SNAP-2 a snapshot written by the ${writer} client is read`, async () => {
      const fixture = join(REPO, `client/fixtures/snapshot-${writer}.json`);
      // The fixture was written long ago: any age is accepted here.
      const cold = createConfigClient({
        endpoint: "http://127.0.0.1:9",
        source: { type: "none" },
        snapshot: fixture,
        timeoutMs: 500,
        maxStaleMs: Number.MAX_SAFE_INTEGER,
      });
      await using(cold, async (c) => {
        const served: View<Prompt> = await c.prompts("globex", "github");
        assert.ok(served.stale !== null);
        assert.deepEqual(served.items.map((p) => p.name), ["release-notes", "review-pr"]);
        assert.equal(served.orgUnknown, false, "written before org_unknown: a registered org's view");
        const resources = await c.resources("acme", "github");
        assert.ok(resources.items.some((r) => r.uri === "file:///acme/oncall.md"));
      });
    });
  }
});
