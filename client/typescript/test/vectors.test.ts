/**
 * The client-contract vectors (client/contract-vectors/*.json, the same files the Rust and Python
 * suites run): each step feeds the real tracker one Redis message (through the Redis source's own
 * `applyJson`) or one source event, then checks what it did to a cache holding the vector's
 * views, with the tracker at the vector's `label` (none: production). The format is the folder's
 * README.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { PromptSchema, ResourceSchema } from "../gen/mcp_config/v1/config_pb.js";
import { Cache, type ViewId, type ViewKind } from "../src/cache.js";
import { ChangeFeed } from "../src/changes.js";
import { applyJson } from "../src/sources/redis.js";
import { Tracker } from "../src/tracker.js";

// This file runs as dist/test/vectors.test.js, three levels below client/.
const VECTORS = new URL("../../../contract-vectors/", import.meta.url);
const MINUTE = 60_000;

interface Vector {
  name: string;
  scenario: string;
  rules: string[];
  description: string;
  /** The label the client reads at; none: production. */
  label?: string;
  views: ViewId[];
  steps: Array<{
    input: { message?: unknown; channel?: string; source?: string };
    expect: { action: string; view?: ViewId; last?: string };
    note?: string;
  }>;
}

const names = (ids: Iterable<ViewId>) => [...ids].map((id) => `${id.kind} ${JSON.stringify(id.org)} ${JSON.stringify(id.server)}`).sort();

/** What an action does to the views: the ones it announces, the ones it leaves out of date, and
 * whether it raises the generation (a flush or a connection). */
function expected(expect: Vector["steps"][number]["expect"], views: ViewId[]): [string[], string[], boolean] {
  switch (expect.action) {
    case "ignore":
      return [[], [], false];
    case "drop_view": {
      const view = expect.view;
      assert.ok(view, "drop_view names its view");
      const named = views.filter(
        (id) => id.kind === view.kind && id.server === view.server && (view.org === "" || id.org === view.org),
      );
      return [names([view]), names(named), false];
    }
    case "drop_all":
      return [names(views), names(views), true];
    case "distrust_all":
      return [[], names(views), true];
    case "unfollow":
      return [[], names(views), false];
    default:
      throw new Error(`unknown action ${expect.action}`);
  }
}

const files = readdirSync(VECTORS)
  .filter((file) => file.endsWith(".json"))
  .sort();

describe("client-contract vectors", () => {
  test("the vectors are there", () => assert.ok(files.length > 0, `no vectors in ${VECTORS.pathname}`));

  for (const file of files) {
    const vector = JSON.parse(readFileSync(new URL(file, VECTORS), "utf8")) as Vector;
    test(`${vector.scenario} ${vector.name}`, () => {
      const { label, ...rest } = vector;
      assert.deepEqual(Object.keys(rest).sort(), ["description", "name", "rules", "scenario", "steps", "views"]);
      assert.ok(label === undefined || typeof label === "string", "a label is a string");
      const cache = new Cache();
      const feed = new ChangeFeed();
      const tracker = new Tracker(cache, feed, label);
      const announced: ViewId[] = [];
      feed.listen(({ org, server, kind }) => announced.push({ org, server, kind }));
      const item = (kind: ViewKind) => (kind === "Prompts" ? create(PromptSchema, {}) : create(ResourceSchema, {}));

      vector.steps.forEach((step, n) => {
        const at = `${vector.name} (${vector.scenario}) step ${n + 1}`;
        for (const id of vector.views) cache.store(id, 1n, [item(id.kind)], "current");
        const generation = cache.generation;
        announced.length = 0;
        const { message, channel = "", source, ...rest } = step.input;
        assert.deepEqual(rest, {}, at);
        if (message !== undefined && source === undefined) {
          applyJson(typeof message === "string" ? message : JSON.stringify(message), tracker, channel);
        } else if (message === undefined && channel === "" && source === "connected") {
          tracker.connected();
        } else if (message === undefined && channel === "" && source === "disconnected") {
          tracker.disconnected();
        } else {
          assert.fail(`${at}: an input is one message, or one source event`);
        }

        const outOfDate = vector.views.filter((id) => !cache.isFresh(cache.get(id)!, MINUTE));
        const observed = [names(announced), names(outOfDate), cache.generation !== generation];
        assert.deepEqual(
          observed,
          expected(step.expect, vector.views),
          `${at}: ${step.expect.action} (announced, out of date, generation raised)`,
        );
        if (step.expect.last !== undefined) {
          assert.equal(tracker.lastOn(channel), BigInt(step.expect.last), `${at}: last revision`);
        }
      });
    });
  }
});
