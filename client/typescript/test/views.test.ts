/** Reads: effective views per org, cheap revalidation, errors that name the problem. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, InvalidArgument, NotFound, createConfigClient } from "../src/index.js";
import { type Stack, stack, using } from "./harness.js";

describe("views", () => {
  let s: Stack;
  before(async () => (s = await stack()));
  after(() => s.stop());
  const client = (revalidateAfterMs?: number) =>
    createConfigClient({ endpoint: s.service.endpoint, source: { type: "none" }, ...(revalidateAfterMs === undefined ? {} : { revalidateAfterMs }) });

  test("S-VIEW-1 each org sees its effective view", () =>
    using(client(), async (c) => {
      const acme = await c.prompts("acme", "github");
      const globex = await c.prompts("globex", "github");
      const defaults = await c.prompts("", "github");
      const globexResources = await c.resources("globex", "github");
      assert.deepEqual(acme.items.map((p) => p.name), ["release-notes", "review-pr", "security-review", "triage-issue"]);
      const review = acme.items.find((p) => p.name === "review-pr");
      assert.equal(review?.title, "Review a pull request (Acme)");
      assert.match(review?.messages[0]?.text ?? "", /Acme's checklist/);
      assert.deepEqual(globex.items.map((p) => p.name), ["release-notes", "review-pr"], "triage-issue hidden");
      assert.deepEqual(defaults.items.map((p) => p.name), ["release-notes", "review-pr", "triage-issue"]);
      assert.deepEqual(globexResources.items.map((r) => r.uri), ["file:///guides/code-review.md"]);
      assert.equal(acme.stale, null);
      assert.equal(typeof acme.revision, "number");
      assert.ok(Number.isSafeInteger(acme.revision) && acme.revision > 0);
    }));

  test("S-VIEW-2 an unchanged view is revalidated with known_revision, not sent again", () =>
    // revalidateAfterMs 0: every read asks the service, with the revision it holds.
    using(client(0), async (c) => {
      const first = await c.prompts("acme", "github");
      const second = await c.prompts("acme", "github");
      assert.equal(second.revision, first.revision);
      assert.equal(second.items, first.items, "not_modified keeps the cached items");
      assert.equal(second.stale, null);
    }));

  test("S-VIEW-4 concurrent reads of one view share one request", () =>
    using(client(), async (c) => {
      const sent = async () => {
        const text = await (await fetch(`${s.service.httpUrl}/metrics`)).text();
        const line = text.split("\n").find((l) => l.startsWith("mcp_config_grpc_requests_total") && l.includes('method="GetPrompts"') && l.includes('code="OK"'));
        return Number(line?.split(" ").pop() ?? 0);
      };
      const before = await sent();
      const views = await Promise.all(Array.from({ length: 100 }, () => c.prompts("globex", "github")));
      const after = await sent();
      assert.equal(after - before, 1, "one GetPrompts for 100 concurrent reads");
      assert.ok(views.every((v) => v.revision === views[0]?.revision && v.items.length === 2));
    }));

  test("S-ERR-1 bad requests raise typed errors carrying the gRPC code and naming the problem", () =>
    using(client(), async (c) => {
      const notFound = await c.prompt("acme", "github", "no-such-prompt", {}).catch((e: unknown) => e);
      assert.ok(notFound instanceof NotFound);
      assert.equal(notFound.code, Code.NotFound);
      const badOrg = await c.prompts("Not_A_Slug", "github").catch((e: unknown) => e);
      assert.ok(badOrg instanceof InvalidArgument);
      assert.equal(badOrg.field, "org_id");
      const missing = await c.prompt("acme", "github", "review-pr", { repo: "acme/api" }).catch((e: unknown) => e);
      assert.ok(missing instanceof InvalidArgument);
      assert.equal(missing.code, Code.InvalidArgument);
      assert.equal(missing.field, "arguments.number");
      assert.match(missing.message, /"number"/);
    }));

  test("S-READ-1 a prompt is rendered and a resource read by the service", () =>
    using(client(), async (c) => {
      const rendered = await c.prompt("acme", "github", "triage-issue", { repo: "acme/api", issue: "7" });
      assert.match(rendered.messages[0]?.text ?? "", /Triage issue 7 of acme\/api/);
      const read = await c.readResource("acme", "github", "file:///acme/oncall.md");
      assert.equal(read.contents[0]?.mimeType, "text/markdown");
      const contents = read.contents[0]?.contents;
      assert.equal(contents?.case, "text");
      assert.match(String(contents?.value), /^# On call/);
    }));
});
