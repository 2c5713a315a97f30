/** S-RENDER-2: with the service stopped, `readResource()` answers the resource of that exact URI
 * in a resources view the client holds (cached, or from a snapshot), as the service answered it;
 * a URI read through a resource template, a resource or view not held, or a view older than
 * `maxStaleMs` stays unavailable (C-RENDER-2). */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type ResourceRead, Unavailable, createConfigClient } from "../src/index.js";
import { ConfigService } from "../src/testing.js";
import { BINARY, BUNDLE, REPO, using } from "./harness.js";

const SERVER = "conformance";
const TEXT = "test://static-text";
const BLOB = "test://static-binary";
/** Matched by the resource template `test://template/{id}/data`. */
const TEMPLATED = "test://template/7/data";

describe("resources read from a held view", () => {
  let dir: string;
  let service: ConfigService;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mcp-config-read-held-"));
    service = await ConfigService.create(BINARY, dir);
    await service.start();
    await service.importBundle(BUNDLE);
    await service.importBundle(join(REPO, "tests/conformance/bundle.yaml"));
  });
  after(async () => {
    await service.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test("S-RENDER-2 while the service is down, readResource() answers a cached or snapshot resource of that exact URI; a template's URI or anything not held stays unavailable", async () => {
    const snapshot = join(dir, "snapshot.json");
    const options = { endpoint: service.endpoint, source: { type: "none" } as const, timeoutMs: 1_000, snapshot };
    const answered = new Map<string, ResourceRead>();
    await using(createConfigClient(options), async (c) => {
      const view = await c.resources("acme", SERVER);
      for (const uri of [TEXT, BLOB, TEMPLATED]) answered.set(uri, await c.readResource("acme", SERVER, uri));
      assert.equal(answered.get(BLOB)?.contents[0]?.contents.case, "blob");
      await service.kill();

      for (const uri of [TEXT, BLOB]) {
        const held = await c.readResource("acme", SERVER, uri);
        assert.deepEqual(held, answered.get(uri), `${uri}: what the service answered`);
        assert.equal(held.revision, view.revision);
      }
      assert.equal(c.status().state, "stale");
      await assert.rejects(c.readResource("acme", SERVER, TEMPLATED), Unavailable, "a template's render is the service's");
      await assert.rejects(c.readResource("acme", SERVER, "test://template/{id}/data"), Unavailable, "a template is no resource");
      await assert.rejects(c.readResource("acme", SERVER, "test://no-such"), Unavailable, "not in the view");
      await assert.rejects(c.readResource("globex", SERVER, TEXT), Unavailable, "a view never read");
    });

    // A cold client with nothing but the snapshot, the service still down.
    await using(createConfigClient(options), async (c) => {
      assert.deepEqual(await c.readResource("acme", SERVER, BLOB), answered.get(BLOB));
    });

    // Past maxStaleMs the held view is not used: unavailable, as a list read would be.
    await using(createConfigClient({ ...options, maxStaleMs: 0 }), async (c) => {
      await assert.rejects(c.readResource("acme", SERVER, TEXT), Unavailable);
    });
  });
});
