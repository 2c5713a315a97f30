/**
 * The render vectors (client/render-vectors/*.json, the same files the Rust and Python suites
 * run): each vector's prompt rendered with its arguments by the local renderer, and by the real
 * service (the prompt saved as a default through the admin API, rendered by `GetPrompt`), both
 * giving the vector's `expect`: the texts of the messages, or the missing argument named with
 * the service's message. Then S-RENDER-1: with the service stopped, `prompt()` renders a prompt
 * of a view the client holds (or loaded from a snapshot) locally, by the same rules (C-RENDER-1).
 * The format is the folder's README.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  Code,
  InvalidArgument,
  type Prompt,
  type RenderedPrompt,
  RenderError,
  Unavailable,
  createConfigClient,
  renderLocally,
} from "../src/index.js";
import { ConfigService } from "../src/testing.js";
import { BINARY, REPO, using } from "./harness.js";

interface Vector {
  name: string;
  description: string;
  prompt: {
    description?: string;
    arguments?: Array<{ name: string; required?: boolean }>;
    messages: Array<{ role: string; text: string }>;
  };
  arguments: Record<string, string>;
  expect: { texts: string[] } | { missing_argument: string };
}

const DIR = join(REPO, "client/render-vectors");
const VECTORS: Vector[] = readdirSync(DIR)
  .filter((file) => file.endsWith(".json"))
  .sort()
  .map((file) => JSON.parse(readFileSync(join(DIR, file), "utf8")) as Vector);
/** The server whose defaults the vectors' prompts are saved as (one prompt per vector). */
const SERVER = "render-vectors";

/** The vector's prompt as a client holds it (text messages only). */
function asPrompt(vector: Vector): Prompt {
  return {
    name: vector.name,
    title: "",
    description: vector.prompt.description ?? "",
    arguments: (vector.prompt.arguments ?? []).map((a) => ({
      name: a.name,
      description: "",
      required: a.required ?? false,
      choices: [],
    })),
    messages: vector.prompt.messages.map((m) => ({ role: m.role, text: m.text, content: {} })),
    icons: [],
  } as unknown as Prompt;
}

/** The service's message for a missing argument, word for word. */
const missingMessage = (name: string) => `arguments.${name}: missing argument ${JSON.stringify(name)}`;

/** Checks a render's outcome against the vector's `expect`. */
async function expectOutcome(vector: Vector, render: () => Promise<readonly { role: string; text: string }[]>) {
  if ("missing_argument" in vector.expect) {
    const name = vector.expect.missing_argument;
    await assert.rejects(render(), (error: unknown) => {
      assert.ok(error instanceof InvalidArgument, `${vector.name}: ${String(error)}`);
      assert.equal(error.message, missingMessage(name));
      assert.equal(error.field, `arguments.${name}`);
      assert.equal(error.code, Code.InvalidArgument);
      return true;
    });
  } else {
    const messages = await render();
    assert.deepEqual(
      messages.map((m) => m.text),
      vector.expect.texts,
      vector.name,
    );
    assert.deepEqual(
      messages.map((m) => m.role),
      vector.prompt.messages.map((m) => m.role),
    );
  }
}

test("the render vectors are there and well formed", () => {
  assert.ok(VECTORS.length >= 10, `render vectors expected in ${DIR}`);
  for (const vector of VECTORS) {
    const kinds = Object.keys(vector.expect);
    assert.ok(kinds.length === 1 && (kinds[0] === "texts" || kinds[0] === "missing_argument"), vector.name);
    if ("texts" in vector.expect) assert.equal(vector.expect.texts.length, vector.prompt.messages.length, vector.name);
  }
});

describe("render vectors, locally", () => {
  for (const vector of VECTORS) {
    test(vector.name, () => expectOutcome(vector, async () => renderLocally(asPrompt(vector), vector.arguments)));
  }
});

describe("render vectors, by the service", () => {
  let dir: string;
  let service: ConfigService;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mcp-config-render-"));
    service = await ConfigService.create(BINARY, dir);
    await service.start();
    for (const vector of VECTORS) {
      await service.admin("PUT", `/defaults/servers/${SERVER}/prompts/${vector.name}`, {
        content: vector.prompt,
        message: "render vector",
      });
    }
  });
  after(async () => {
    await service.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const vector of VECTORS) {
    test(vector.name, () =>
      using(createConfigClient({ endpoint: service.endpoint, source: { type: "none" } }), async (c) => {
        let answer: RenderedPrompt | undefined;
        await expectOutcome(vector, async () => {
          answer = await c.prompt("acme", SERVER, vector.name, vector.arguments);
          return answer.messages;
        });
        if (answer !== undefined) assert.equal(answer.description, vector.prompt.description ?? "");
        // The prompt as the service lists it renders locally as the vector says too.
        const listed = (await c.prompts("acme", SERVER)).items.find((p) => p.name === vector.name);
        assert.ok(listed !== undefined);
        await expectOutcome(vector, async () => renderLocally(listed, vector.arguments));
      }),
    );
  }

  test("S-RENDER-1 while the service is down, prompt() renders a cached or snapshot prompt locally; any other stays unavailable", async () => {
    const snapshot = join(dir, "snapshot.json");
    const answered = new Map<string, RenderedPrompt>();
    const options = { endpoint: service.endpoint, source: { type: "none" } as const, timeoutMs: 1_000 };
    await using(createConfigClient({ ...options, snapshot }), async (c) => {
      const view = await c.prompts("acme", SERVER);
      for (const vector of VECTORS) {
        if ("texts" in vector.expect) answered.set(vector.name, await c.prompt("acme", SERVER, vector.name, vector.arguments));
      }
      await service.kill();

      // The client that listed the prompts: every vector, rendered here.
      for (const vector of VECTORS) {
        await expectOutcome(vector, async () => {
          const local = await c.prompt("acme", SERVER, vector.name, vector.arguments);
          const byService = answered.get(vector.name);
          if (byService !== undefined) assert.deepEqual(local, byService, vector.name);
          assert.equal(local.revision, view.revision);
          return local.messages;
        });
      }
      assert.equal(c.status().state, "stale");
      await assert.rejects(c.prompt("acme", SERVER, "no-such-prompt", {}), Unavailable);
      await assert.rejects(c.prompt("globex", SERVER, "plain-substitution", { repo: "x" }), Unavailable, "a view never read");
    });

    // A cold client with nothing but the snapshot, the service still down.
    await using(createConfigClient({ ...options, snapshot }), async (c) => {
      const vector = VECTORS.find((v) => v.name === "several-messages");
      assert.ok(vector !== undefined);
      const local = await c.prompt("acme", SERVER, vector.name, vector.arguments);
      assert.deepEqual(local, answered.get(vector.name));
    });

    // Past maxStaleMs the cached view is not used: unavailable, as a list read would be.
    await using(createConfigClient({ ...options, snapshot, maxStaleMs: 0 }), async (c) => {
      await assert.rejects(c.prompt("acme", SERVER, "plain-substitution", { repo: "x" }), Unavailable);
    });
  });
});

/** Arguments for every prompt of the example bundles, optional ones both given and left out
 * (the Python suite's `test_render.py` cases). */
const BUNDLE_CASES: Array<[org: string, server: string, name: string, args: Record<string, string>]> = [
  ["acme", "github", "review-pr", { repo: "acme/api", number: "42" }],
  ["globex", "github", "review-pr", { repo: "globex/web", number: "7" }],
  ["globex", "github", "review-pr", { repo: "globex/web", number: "7", focus: "SQL" }],
  ["acme", "github", "review-pr", { repo: "acme/api" }],
  ["acme", "github", "triage-issue", { repo: "acme/api", issue: "13" }],
  ["acme", "github", "release-notes", { repo: "acme/api", since: "v1.2.0" }],
  ["acme", "github", "security-review", { repo: 'acme/<api> & "co"' }],
  ["acme", "slack", "summarize-channel", { channel: "general" }],
  ["acme", "slack", "summarize-channel", { channel: "general", hours: "6" }],
  ["acme", "slack", "draft-announcement", { topic: "the new office" }],
  ["acme", "postgres", "explain-query", { query: "SELECT *\nFROM users" }],
  ["acme", "conformance", "test_prompt_with_image", {}],
  ["acme", "conformance", "test_prompt_with_embedded_resource", { resourceUri: "test://given/{{ verbatim }}" }],
  ["acme", "conformance", "test_prompt_with_arguments", { arg1: "paris", arg2: "{{ arg1 }}" }],
];

describe("the example bundles' prompts, locally and by the service", () => {
  let dir: string;
  let service: ConfigService;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mcp-config-render-"));
    service = await ConfigService.create(BINARY, dir);
    await service.start();
    await service.importBundle(join(REPO, "examples/bundle.yaml"));
    await service.importBundle(join(REPO, "tests/conformance/bundle.yaml"));
  });
  after(async () => {
    await service.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [org, server, name, args] of BUNDLE_CASES) {
    test(`${org} ${server} ${name} ${JSON.stringify(args)}`, () =>
      using(createConfigClient({ endpoint: service.endpoint, source: { type: "none" } }), async (c) => {
        const prompt = (await c.prompts(org, server)).items.find((p) => p.name === name);
        assert.ok(prompt !== undefined);
        const local = () => renderLocally(prompt, args);
        const byService = await c.prompt(org, server, name, args).catch((error: unknown) => error);
        if (byService instanceof Error) {
          assert.throws(local, (error: unknown) => {
            assert.ok(error instanceof InvalidArgument && byService instanceof InvalidArgument, String(byService));
            assert.equal(error.message, byService.message);
            return true;
          });
        } else {
          assert.deepEqual(local(), (byService as RenderedPrompt).messages);
        }
      }),
    );
  }
});

test("a template error is a RenderError, as the service's FAILED_PRECONDITION", () => {
  const prompt = asPrompt({
    name: "broken",
    description: "",
    prompt: { arguments: [{ name: "x", required: true }], messages: [{ role: "user", text: "{{ x.missing }}" }] },
    arguments: {},
    expect: { texts: [""] },
  });
  assert.throws(() => renderLocally(prompt, { x: "1" }), (error: unknown) => {
    assert.ok(error instanceof RenderError);
    assert.equal(error.code, Code.FailedPrecondition);
    assert.match(error.message, /`x\.missing` is undefined/);
    return true;
  });
});

test("templates reach nothing of JavaScript: no prototype, no constructor, no Function", () => {
  for (const attack of [
    `{{ x.constructor.constructor("return process")() }}`,
    `{{ range.constructor("return process")() }}`,
    `{{ x["constructor"] }}`,
    `{{ x.__proto__ }}`,
    `{{ namespace.constructor }}`,
  ]) {
    const prompt = asPrompt({
      name: "attack",
      description: "",
      prompt: { arguments: [{ name: "x", required: true }], messages: [{ role: "user", text: attack }] },
      arguments: {},
      expect: { texts: [""] },
    });
    assert.throws(() => renderLocally(prompt, { x: "hello" }), RenderError, attack);
  }
});

test("embedded resources and resource links: their URIs and texts are templates, the rest copied", () => {
  const prompt = {
    ...asPrompt({
      name: "mixed",
      description: "",
      prompt: { arguments: [{ name: "id", required: true }], messages: [{ role: "user", text: "Look at {{ id }}:" }] },
      arguments: {},
      expect: { texts: [""] },
    }),
  } as unknown as { messages: unknown[] };
  prompt.messages = [
    ...prompt.messages,
    { role: "user", text: "", content: { case: "resource", value: { uri: "note://{{ id }}", mimeType: "text/plain", contents: { case: "text", value: "About {{ id }}" } } } },
    { role: "user", text: "", content: { case: "resource", value: { uri: "file:///{{ id }}.md", mimeType: "" } } },
    { role: "assistant", text: "", content: { case: "resourceLink", value: { uri: "file:///{{ id }}", name: "{{ id }}", title: "", description: "", mimeType: "" } } },
    { role: "user", text: "", content: { case: "image", value: { data: "aGk=", mimeType: "image/png" } } },
  ];
  const rendered = renderLocally(prompt as unknown as Prompt, { id: "42" });
  assert.deepEqual(rendered, [
    { role: "user", text: "Look at 42:", content: {} },
    { role: "user", text: "", content: { case: "resource", value: { uri: "note://42", mimeType: "text/plain", contents: { case: "text", value: "About 42" } } } },
    { role: "user", text: "", content: { case: "resource", value: { uri: "file:///42.md", mimeType: "" } } },
    { role: "assistant", text: "", content: { case: "resourceLink", value: { uri: "file:///42", name: "{{ id }}", title: "", description: "", mimeType: "" } } },
    { role: "user", text: "", content: { case: "image", value: { data: "aGk=", mimeType: "image/png" } } },
  ]);
});
