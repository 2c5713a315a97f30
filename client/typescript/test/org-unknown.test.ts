/** An org that names no registered org reads the defaults, with `orgUnknown` set: the flag tells
 * it from a registered org without overrides. It is kept through `not_modified` answers and in
 * the snapshot, and registering the org announces its views, whose next read says false. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createConfigClient } from "../src/index.js";
import { PROPAGATION_MS, type Stack, nextChange, stack, using } from "./harness.js";

describe("unknown orgs", () => {
  let s: Stack;
  before(async () => (s = await stack()));
  after(() => s.stop());

  test("ORG-1 a never-created org reads the defaults with orgUnknown; created, a later read says false; the defaults-only view never", () =>
    using(createConfigClient({ endpoint: s.service.endpoint }), async (c) => {
      await c.waitForSource(PROPAGATION_MS);
      const defaults = await c.prompts("", "github");
      const defaultResources = await c.resources("", "github");
      const unknown = await c.prompts("initech", "github");
      const unknownResources = await c.resources("initech", "github");
      assert.equal(defaults.orgUnknown, false, "the defaults-only view");
      assert.equal(defaultResources.orgUnknown, false);
      assert.equal(unknown.orgUnknown, true);
      assert.equal(unknownResources.orgUnknown, true);
      assert.deepEqual(unknown.items, defaults.items, "the defaults alone");
      assert.deepEqual(unknownResources.items, defaultResources.items);
      assert.equal((await c.prompts("acme", "github")).orgUnknown, false, "a registered org with overrides");
      assert.deepEqual(JSON.parse(JSON.stringify(unknown)), unknown, "JSON-safe");

      const changes = c.changes();
      await s.service.admin("POST", "/orgs", { slug: "initech", name: "Initech" });
      await nextChange(changes, { org: "initech", server: "github", kind: "Prompts" });
      changes.close();
      const registered = await c.prompts("initech", "github");
      assert.equal(registered.orgUnknown, false, "registered, without overrides");
      assert.deepEqual(registered.items, defaults.items);
      assert.ok(registered.revision > unknown.revision, "registering moved the view's revision");
      assert.equal((await c.resources("initech", "github")).orgUnknown, false);
    }));

  test("ORG-2 a not_modified answer keeps the cached orgUnknown", () =>
    // revalidateAfterMs 0: every read asks the service, with the revision it holds.
    using(createConfigClient({ endpoint: s.service.endpoint, source: { type: "none" }, revalidateAfterMs: 0 }), async (c) => {
      const first = await c.prompts("umbrella", "github");
      const again = await c.prompts("umbrella", "github");
      assert.equal(again.items, first.items, "not_modified: the cached items");
      assert.equal(again.revision, first.revision);
      assert.equal(first.orgUnknown, true);
      assert.equal(again.orgUnknown, true);
    }));

  test("ORG-3 orgUnknown is kept in the snapshot: a cold client serves it stale with the flag", async () => {
    const snapshot = join(s.dir, "org-unknown-views.json");
    const options = { source: { type: "none" } as const, snapshot };
    const known = await using(createConfigClient({ ...options, endpoint: s.service.endpoint }), async (c) => {
      await c.prompts("globex", "github");
      return c.prompts("hooli", "github");
    });
    assert.equal(known.orgUnknown, true);
    // No service at this address: the snapshot's views, stale.
    await using(createConfigClient({ ...options, endpoint: "http://127.0.0.1:9", timeoutMs: 500 }), async (c) => {
      const hooli = await c.prompts("hooli", "github");
      assert.ok(hooli.stale !== null);
      assert.equal(hooli.orgUnknown, true);
      assert.deepEqual(hooli.items, known.items);
      assert.equal((await c.prompts("globex", "github")).orgUnknown, false);
    });
  });
});
