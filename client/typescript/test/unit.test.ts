/** Contract rules that need no service: the tracker, the per-view floors, the change feed. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { InvalidationEventSchema, Kind, PromptSchema } from "../gen/mcp_config/v1/config_pb.js";
import { Cache, type ViewId } from "../src/cache.js";
import { ChangeFeed } from "../src/changes.js";
import { loadSnapshot, saveSnapshot } from "../src/snapshot.js";
import { Tracker } from "../src/tracker.js";

const ACME: ViewId = { kind: "Prompts", org: "acme", server: "github" };
const SLACK: ViewId = { kind: "Prompts", org: "acme", server: "slack" };
const MINUTE = 60_000;

function setup() {
  const cache = new Cache();
  const feed = new ChangeFeed();
  const tracker = new Tracker(cache, feed);
  const changes = feed.subscribe();
  tracker.connected();
  return { cache, feed, tracker, changes };
}

const event = (revision: bigint, previousRevision: bigint, orgId: string, server = "github") =>
  create(InvalidationEventSchema, { revision, previousRevision, orgId, server, kind: Kind.PROMPTS });
const labelled = (revision: bigint, previousRevision: bigint, orgId: string, ...labels: string[]) =>
  create(InvalidationEventSchema, { ...event(revision, previousRevision, orgId), labels });
const progress = (revision: bigint) => create(InvalidationEventSchema, { revision, previousRevision: revision });
const prompt = create(PromptSchema, { name: "a" });

describe("contract rules without a service", () => {
  test("S-TRACK-1 a progress event is no change unless the tracker is behind", async () => {
    const { cache, tracker, changes } = setup();
    tracker.last = 5n;
    cache.store(ACME, 1n, [prompt], "current");
    tracker.onEvent(progress(5n));
    assert.ok(cache.isFresh(cache.get(ACME)!, MINUTE), "at the latest: nothing changed");
    tracker.onEvent(progress(7n));
    assert.ok(!cache.isFresh(cache.get(ACME)!, MINUTE), "behind: every view is suspect");
    assert.equal(tracker.last, 7n);
    assert.deepEqual((await changes.next()).value, { type: "changed", ...ACME, revision: 0 });
  });

  test("S-GAP-2 a gap in revisions flushes every view; a replayed event is ignored", () => {
    const { cache, tracker } = setup();
    cache.store(ACME, 1n, [prompt], "current");
    cache.store(SLACK, 1n, [prompt], "current");
    tracker.onEvent(event(5n, 4n, "globex"));
    assert.ok(cache.isFresh(cache.get(ACME)!, MINUTE) && cache.isFresh(cache.get(SLACK)!, MINUTE), "another org's change");
    tracker.onEvent(event(5n, 4n, "acme"));
    assert.ok(cache.isFresh(cache.get(ACME)!, MINUTE), "a replayed revision is ignored");
    tracker.onEvent(event(7n, 6n, "globex"));
    assert.ok(!cache.isFresh(cache.get(ACME)!, MINUTE) && !cache.isFresh(cache.get(SLACK)!, MINUTE), "6 was missed");
  });

  test("S-FLOOR-1 an answer older than an event about its view is behind, cached or not", () => {
    const { cache, tracker } = setup();
    const generation = cache.generation;
    // Nothing cached for acme yet: the floor is kept all the same.
    tracker.onEvent(event(10n, 9n, "acme"));
    assert.equal(cache.trust(ACME, 9n, generation), "behind");
    assert.equal(cache.trust(ACME, 10n, generation), "current");
    assert.equal(cache.trust({ ...ACME, org: "globex" }, 9n, generation), "current", "another org");
    tracker.onEvent(event(12n, 10n, ""));
    assert.equal(cache.trust({ ...ACME, org: "globex" }, 11n, generation), "behind", "a default");
    assert.equal(cache.trust({ ...ACME, kind: "Resources" }, 1n, generation), "current", "another kind");
  });

  test("S-FLUSH-1 only a flush raises the generation: an event does not, a gap does", () => {
    const { cache, tracker } = setup();
    const generation = cache.generation;
    tracker.onEvent(event(5n, 4n, "acme"));
    assert.equal(cache.generation, generation, "an event is covered by its floor");
    assert.equal(cache.trust(SLACK, 1n, generation), "current");
    tracker.onEvent(event(7n, 6n, "acme"));
    assert.equal(cache.trust(SLACK, 1n, generation), "unsure", "asked before a flush: revalidate next time");
  });

  test("S-SRC-2 a view fetched before the first connection is not trusted after it", () => {
    const cache = new Cache();
    const tracker = new Tracker(cache, new ChangeFeed());
    cache.store(ACME, 3n, [prompt], cache.trust(ACME, 3n, cache.generation));
    tracker.connected();
    assert.ok(!cache.isFresh(cache.get(ACME)!, MINUTE), "a change before the subscription may be missing");
  });

  test("S-SRC-4 a disconnect makes no view current and announces nothing; the reconnection announces", () => {
    const { cache, feed, tracker } = setup();
    const announced: string[] = [];
    feed.listen((change) => announced.push(`${change.org}/${change.server}`));
    cache.store(ACME, 1n, [prompt], "current");
    tracker.disconnected();
    assert.ok(!cache.isFresh(cache.get(ACME)!, MINUTE));
    assert.deepEqual(announced, []);
    tracker.connected();
    assert.deepEqual(announced, ["acme/github"]);
  });

  test("S-SRC-9 each channel is a chain of its own, with its own progress", () => {
    const { cache, tracker } = setup();
    const [github, slack] = ["mcp-config:invalidations:github", "mcp-config:invalidations:slack"];
    cache.store(ACME, 1n, [prompt], "current");
    tracker.onEvent(event(5n, 3n, "globex"), github);
    tracker.onEvent(event(6n, 4n, "", "slack"), slack);
    assert.ok(cache.isFresh(cache.get(ACME)!, MINUTE), "4 is slack's previous change: no gap");
    tracker.onEvent(progress(5n), github);
    tracker.onEvent(progress(6n), slack);
    assert.ok(cache.isFresh(cache.get(ACME)!, MINUTE), "each channel's progress at its own last change");
    tracker.onEvent(event(8n, 5n, "globex"), github);
    assert.ok(cache.isFresh(cache.get(ACME)!, MINUTE), "6 was slack's, not github's");
    tracker.onEvent(progress(9n), github);
    assert.ok(!cache.isFresh(cache.get(ACME)!, MINUTE), "github's channel is at 9: its change 9 was missed");
  });

  test("S-LABEL-1 a client at one label ignores other labels' changes; the chain advances", () => {
    const cache = new Cache();
    const feed = new ChangeFeed();
    const tracker = new Tracker(cache, feed, "staging");
    const announced: string[] = [];
    feed.listen((change) => announced.push(`${change.org}/${change.server}`));
    tracker.connected();
    cache.store(ACME, 1n, [prompt], "current");
    const generation = cache.generation;

    tracker.onEvent(labelled(5n, 4n, "acme", "latest", "production"));
    assert.ok(cache.isFresh(cache.get(ACME)!, MINUTE), "only latest and production moved");
    assert.deepEqual(announced, [], "nothing announced");
    assert.equal(tracker.last, 5n, "not a replay or a gap: the chain advances");
    assert.equal(cache.trust(ACME, 1n, generation), "current", "no floor raised");

    tracker.onEvent(labelled(6n, 5n, "acme", "staging"));
    assert.ok(!cache.isFresh(cache.get(ACME)!, MINUTE), "staging moved; 5 was seen, so no gap");
    assert.deepEqual(announced, ["acme/github"]);
    assert.equal(cache.generation, generation, "a change of the view, not a flush");

    cache.store(ACME, 6n, [prompt], "current");
    tracker.onEvent(event(7n, 6n, "acme"));
    assert.ok(!cache.isFresh(cache.get(ACME)!, MINUTE), "no labels: every label's views");

    cache.store(ACME, 7n, [prompt], "current");
    tracker.onEvent(create(InvalidationEventSchema, { ...labelled(8n, 7n, "acme", "latest"), kind: 99 as Kind }));
    assert.ok(!cache.isFresh(cache.get(ACME)!, MINUTE), "an unknown kind flushes, whatever labels it names");
    assert.notEqual(cache.generation, generation);
  });

  test("S-LABEL-1 a client naming no label reads at production", () => {
    const { cache, tracker } = setup();
    cache.store(ACME, 1n, [prompt], "current");
    tracker.onEvent(labelled(5n, 4n, "acme", "latest"));
    assert.ok(cache.isFresh(cache.get(ACME)!, MINUTE));
    assert.equal(tracker.last, 5n);
    tracker.onEvent(labelled(6n, 5n, "acme", "production"));
    assert.ok(!cache.isFresh(cache.get(ACME)!, MINUTE));
  });

  test("S-LABEL-2 a rollout's event drops and announces only the orgs it names", () => {
    const cache = new Cache();
    const feed = new ChangeFeed();
    const tracker = new Tracker(cache, feed);
    const announced: string[] = [];
    feed.listen((change) => announced.push(`${change.org}/${change.server}@${change.revision}`));
    tracker.connected();
    const globex: ViewId = { ...ACME, org: "globex" };
    const initech: ViewId = { ...ACME, org: "initech" };
    const defaults: ViewId = { ...ACME, org: "" };
    for (const id of [ACME, globex, initech, defaults, SLACK]) cache.store(id, 1n, [prompt], "current");
    const generation = cache.generation;
    const fresh = (id: ViewId) => cache.isFresh(cache.get(id)!, MINUTE);

    tracker.onEvent(create(InvalidationEventSchema, { ...labelled(5n, 4n, "", "production"), orgs: ["acme", "initech"] }));
    assert.ok(!fresh(ACME) && !fresh(initech), "the orgs it names");
    assert.ok(fresh(globex), "an org it does not name");
    assert.ok(fresh(defaults), "not the defaults-only view");
    assert.ok(fresh(SLACK), "another server");
    assert.deepEqual(announced, ["acme/github@5", "initech/github@5"], "one change per org it names, none for all");
    assert.equal(cache.trust(ACME, 4n, generation), "behind", "each named org's floor raised");
    assert.equal(cache.trust(globex, 4n, generation), "current", "no other org's floor");
    assert.equal(cache.trust(defaults, 4n, generation), "current", "nor the defaults' floor");
    assert.equal(cache.generation, generation, "a change of views, not a flush");

    tracker.onEvent(create(InvalidationEventSchema, { ...labelled(6n, 5n, "", "staging"), orgs: ["globex"] }));
    assert.ok(fresh(globex), "another label's rollout: C-TRACK-5 first");
    assert.equal(tracker.last, 6n);

    tracker.onEvent(event(7n, 6n, ""));
    assert.ok(!fresh(globex) && !fresh(defaults), "no orgs: every org's view");
    assert.deepEqual(announced.slice(2), ["/github@7"]);
  });

  test("SNAP-3 a view's orgUnknown is kept in the snapshot; a view saved without it reads false", () => {
    const dir = mkdtempSync(join(tmpdir(), "mcp-config-snap-"));
    try {
      const path = join(dir, "views.json");
      const written = new Cache();
      const unknown: ViewId = { ...ACME, org: "initech" };
      written.store(ACME, 3n, [prompt], "current");
      written.store(unknown, 4n, [prompt], "current", true);
      saveSnapshot(path, written, assert.fail);
      const read = new Cache();
      loadSnapshot(path, read, assert.fail);
      assert.equal(read.get(unknown)?.orgUnknown, true);
      assert.equal(read.get(ACME)?.orgUnknown, false);

      // The body of a view written before the field: the same bytes without field 5.
      const saved = JSON.parse(readFileSync(path, "utf8")) as Array<{ id: ViewId; body: string }>;
      const old = saved.find((v) => v.id.org === "initech");
      assert.ok(old !== undefined);
      const body = Buffer.from(old.body, "base64");
      const withoutFlag = body.subarray(0, body.length - 2);
      assert.deepEqual([...body.subarray(body.length - 2)], [(5 << 3) | 0, 1], "org_unknown = 5, last");
      old.body = withoutFlag.toString("base64");
      writeFileSync(path, JSON.stringify(saved));
      const older = new Cache();
      loadSnapshot(path, older, assert.fail);
      assert.equal(older.get(unknown)?.orgUnknown, false);
      assert.equal(older.get(unknown)?.items.length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("S-FEED-1 an overflowed iterator reports the loss once, before the newest changes", async () => {
    const feed = new ChangeFeed();
    const changes = feed.subscribe(2);
    for (const server of ["a", "b", "c", "d"]) feed.publish({ type: "changed", org: "acme", server, kind: "Prompts", revision: 0 });
    feed.close();
    const items = [];
    for await (const item of changes) items.push(item);
    assert.deepEqual(items, [
      { type: "lagged", missed: 2 },
      { type: "changed", org: "acme", server: "c", kind: "Prompts", revision: 0 },
      { type: "changed", org: "acme", server: "d", kind: "Prompts", revision: 0 },
    ]);
  });
});
