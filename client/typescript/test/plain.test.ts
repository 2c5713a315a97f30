/** What reads return is plain data: JSON-safe (revisions are numbers, no `$typeName`), and
 * frozen, so a caller cannot change what the next read returns. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Changed, createConfigClient } from "../src/index.js";
import { ACME_GITHUB_PROMPTS, type Stack, nextChange, stack, using } from "./harness.js";

/** `value` through JSON and back, asserting nothing is lost and no `$typeName` is there. */
function roundTrip(value: unknown): void {
  const json = JSON.stringify(value);
  assert.doesNotMatch(json, /\$typeName|\$unknown/);
  assert.deepEqual(JSON.parse(json), value);
}

describe("plain results", () => {
  let s: Stack;
  before(async () => (s = await stack()));
  after(() => s.stop());
  const client = () => createConfigClient({ endpoint: s.service.endpoint, source: { type: "none" } });

  test("P-1 views, rendered prompts and read resources are JSON-safe and round-trip", () =>
    using(client(), async (c) => {
      const prompts = await c.prompts("acme", "github");
      const resources = await c.resources("acme", "github");
      assert.equal(typeof prompts.revision, "number");
      assert.ok(Number.isSafeInteger(prompts.revision) && prompts.revision > 0);
      assert.ok(prompts.items.length > 0 && resources.items.length > 0);
      for (const resource of resources.items) assert.equal(typeof resource.size, "number");
      roundTrip(prompts);
      roundTrip(resources);
      const rendered = await c.prompt("acme", "github", "triage-issue", { repo: "acme/api", issue: "7" });
      assert.equal(typeof rendered.revision, "number");
      roundTrip(rendered);
      const read = await c.readResource("acme", "github", "file:///acme/oncall.md");
      assert.equal(typeof read.revision, "number");
      roundTrip(read);
    }));

  test("P-2 a returned item cannot be changed, so the next read returns the cache's own", () =>
    using(client(), async (c) => {
      const first = await c.prompts("acme", "github");
      const before = JSON.stringify(first);
      const item = first.items[0]!;
      assert.ok(Object.isFrozen(first.items) && Object.isFrozen(item) && Object.isFrozen(item.messages[0]));
      // ES modules are strict: writing to a frozen object throws.
      assert.throws(() => ((item as { name: string }).name = "changed"), TypeError);
      assert.throws(() => (first.items as unknown[]).push(item), TypeError);
      assert.throws(() => ((item.messages[0] as { text: string }).text = "changed"), TypeError);
      assert.throws(() => (item.arguments as unknown[]).splice(0), TypeError);
      assert.equal(JSON.stringify(await c.prompts("acme", "github")), before);
      const rendered = await c.prompt("acme", "github", "triage-issue", { repo: "acme/api", issue: "7" });
      assert.throws(() => ((rendered.messages[0] as { text: string }).text = "changed"), TypeError);
    }));

  test("P-3 change notifications carry the revision as a number", () =>
    using(createConfigClient({ endpoint: s.service.endpoint }), async (c) => {
      await c.waitForSource(10_000);
      const seen: Changed[] = [];
      const stop = c.onChange((change) => seen.push(change));
      const changes = c.changes();
      await s.service.putPrompt("acme", "plain-test", "Plain.");
      await nextChange(changes, ACME_GITHUB_PROMPTS);
      stop();
      changes.close();
      const change = seen.find((x) => x.org === "acme" && x.kind === "Prompts");
      assert.ok(change !== undefined);
      assert.equal(typeof change.revision, "number");
      assert.ok(change.revision > 0);
      roundTrip(change);
    }));
});
