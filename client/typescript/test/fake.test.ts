/** `FakeConfigClient` (`@mcp-config/client/testing`), with no service: views a test sets read as
 * the real client's do (plain, frozen, defaults filled in, `orgUnknown`), prompts render by the
 * local renderer, resources read by exact URI, every set announces a change, an outage fails
 * every call as `Unavailable` and moves the status; and a `ConfigLoader` over it on servers of
 * both MCP SDKs, read by the SDKs' own clients. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type Changed,
  ConfigLoader,
  type ConfigReader,
  type Fallback,
  InvalidArgument,
  NotFound,
  type StatusEvent,
  Unavailable,
  createConfigClient,
} from "../src/index.js";
import { FakeConfigClient, type PromptInit, type ResourceInit, eventually } from "../src/testing.js";
import { FLAVOURS, connect } from "./sdk-pair.js";

const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

const REVIEW: PromptInit = {
  name: "review",
  description: "Review a repository",
  arguments: [{ name: "repo", required: true }, { name: "focus" }],
  messages: [{ role: "user", text: "Review {{ repo }}{% if focus %}, {{ focus }} first{% endif %}." }],
};

const RESOURCES: ResourceInit[] = [
  { uri: "file:///guide.md", name: "guide", mimeType: "text/markdown", contents: { case: "text", value: "# Guide" } },
  { uri: "test://logo", name: "logo", mimeType: "image/png", size: 70, contents: { case: "blob", value: PNG } },
  { uri: "test://items/{id}", name: "item", mimeType: "application/json", isTemplate: true, contents: { case: "text", value: '{"id":"{{ id }}"}' } },
];

describe("FakeConfigClient", () => {
  test("FAKE-1 a set view reads as the real client's: plain, frozen, defaults filled in, orgUnknown, a new revision", async () => {
    const fake = new FakeConfigClient();
    const set = fake.setPrompts("acme", "github", [REVIEW]);
    fake.setPrompts("initech", "github", [REVIEW], { orgUnknown: true });
    const view = await fake.prompts("acme", "github");
    assert.deepEqual(view, set);
    assert.equal(view.stale, null);
    assert.equal(view.orgUnknown, false);
    assert.equal((await fake.prompts("initech", "github")).orgUnknown, true);
    assert.ok((await fake.prompts("initech", "github")).revision > view.revision, "one counter for every view");
    const [review] = view.items;
    assert.ok(review !== undefined && Object.isFrozen(view.items) && Object.isFrozen(review) && Object.isFrozen(review.messages[0]));
    // The fields the test left out, as the service's protobuf defaults read.
    assert.deepEqual(review, {
      name: "review",
      title: "",
      description: "Review a repository",
      arguments: [
        { name: "repo", description: "", required: true, choices: [] },
        { name: "focus", description: "", required: false, choices: [] },
      ],
      messages: [{ role: "user", text: "Review {{ repo }}{% if focus %}, {{ focus }} first{% endif %}.", content: {} }],
      icons: [],
    });
    assert.deepEqual(JSON.parse(JSON.stringify(view)), view, "JSON-safe");

    const resources = await (async () => {
      fake.setResources("acme", "github", RESOURCES);
      return fake.resources("acme", "github");
    })();
    const logo = resources.items.find((r) => r.uri === "test://logo");
    assert.equal(logo?.size, 70);
    assert.deepEqual(logo?.contents, { case: "blob", value: PNG });
    // A view a read returned (frozen, or through JSON) is taken back as it is.
    fake.setResources("globex", "github", JSON.parse(JSON.stringify(resources.items)) as ResourceInit[]);
    fake.setPrompts("globex", "github", view.items);
    assert.deepEqual((await fake.resources("globex", "github")).items, resources.items);
    assert.deepEqual((await fake.prompts("globex", "github")).items, view.items);

    assert.deepEqual(await fake.prompts("hooli", "github"), { items: [], revision: 0, stale: null, orgUnknown: false }, "a view never set");
  });

  test("FAKE-2 prompt() renders by the local renderer; readResource() reads the resource of that exact URI", async () => {
    const fake = new FakeConfigClient();
    const prompts = fake.setPrompts("acme", "github", [REVIEW]);
    const resources = fake.setResources("acme", "github", RESOURCES);
    const rendered = await fake.prompt("acme", "github", "review", { repo: "acme/api", focus: "authz" });
    assert.deepEqual(rendered, {
      description: "Review a repository",
      messages: [{ role: "user", text: "Review acme/api, authz first.", content: {} }],
      revision: prompts.revision,
    });
    const missing = await fake.prompt("acme", "github", "review").catch((e: unknown) => e);
    assert.ok(missing instanceof InvalidArgument);
    assert.equal(missing.field, "arguments.repo", "the service's error, as the local renderer makes it");
    await assert.rejects(fake.prompt("acme", "github", "nope"), NotFound);
    await assert.rejects(fake.prompt("globex", "github", "review", { repo: "x" }), NotFound, "a view never set");

    assert.deepEqual(await fake.readResource("acme", "github", "file:///guide.md"), {
      contents: [{ uri: "file:///guide.md", mimeType: "text/markdown", contents: { case: "text", value: "# Guide" } }],
      revision: resources.revision,
    });
    assert.deepEqual((await fake.readResource("acme", "github", "test://logo")).contents[0]?.contents, { case: "blob", value: PNG });
    await assert.rejects(fake.readResource("acme", "github", "test://items/7"), NotFound, "a template's render is the service's");
    await assert.rejects(fake.readResource("acme", "github", "test://items/{id}"), NotFound, "a template is no resource");
  });

  test("FAKE-3 every set announces its view's change, with the new revision", async () => {
    const fake = new FakeConfigClient();
    const heard: Changed[] = [];
    fake.onChange((change) => heard.push(change));
    const changes = fake.changes();
    const prompts = fake.setPrompts("acme", "github", [REVIEW]);
    const resources = fake.setResources("", "github", RESOURCES);
    assert.deepEqual(heard, [
      { type: "changed", org: "acme", server: "github", kind: "Prompts", revision: prompts.revision },
      { type: "changed", org: "", server: "github", kind: "Resources", revision: resources.revision },
    ]);
    assert.deepEqual((await changes.next()).value, heard[0]);
    assert.deepEqual((await changes.next()).value, heard[1]);
    await fake.close();
    assert.equal((await changes.next()).done, true, "close ends the iterations");
  });

  test("FAKE-4 unavailable: every call fails as Unavailable and the status is stale; a stale view is served with its age", async () => {
    const fake = new FakeConfigClient();
    const events: StatusEvent[] = [];
    fake.onStatus((event) => events.push(event));
    fake.setPrompts("acme", "github", [REVIEW]);
    fake.setResources("acme", "github", RESOURCES);
    assert.deepEqual(fake.status(), { state: "starting" });
    await fake.prompts("acme", "github");
    assert.deepEqual(fake.status(), { state: "ready" });

    fake.setUnavailable(true);
    await assert.rejects(fake.prompts("acme", "github"), Unavailable);
    await assert.rejects(fake.resources("acme", "github"), Unavailable);
    await assert.rejects(fake.prompt("acme", "github", "review", { repo: "x" }), Unavailable);
    await assert.rejects(fake.readResource("acme", "github", "file:///guide.md"), Unavailable);
    const status = fake.status();
    assert.ok(status.state === "stale" && status.why === "unreachable");
    fake.setUnavailable(false);
    assert.equal((await fake.prompts("acme", "github")).stale, null);
    assert.deepEqual(
      events.map((e) => e.type),
      ["ready", "stale", "recovered"],
      "each change of status once",
    );

    fake.setPrompts("acme", "github", [REVIEW], { stale: 90_000 });
    const stale = await fake.prompts("acme", "github");
    assert.equal(stale.stale, 90_000);
    assert.equal(fake.status().state, "stale", "a view served stale: the service was not reached");
    const rendered = await fake.prompt("acme", "github", "review", { repo: "acme/api" });
    assert.equal(rendered.messages[0]?.text, "Review acme/api.", "rendered locally, as the real client does then");
  });

  test("FAKE-5 the real client and the fake are both a ConfigReader, which the loader takes", async () => {
    const readers: ConfigReader[] = [
      new FakeConfigClient(),
      createConfigClient({ endpoint: "http://127.0.0.1:9", source: { type: "none" } }),
    ];
    for (const reader of readers) {
      await reader.waitForSource();
      new ConfigLoader({ client: reader, server: "github" }).close();
      await reader.close();
    }
  });
});

const ORG = "acme";

/** What the server hard-coded before mcp-config. */
const FALLBACK: Fallback = {
  prompts: [{ prompt: { name: "hard-coded" }, messages: [{ role: "user", content: { type: "text", text: "Hard-coded." } }] }],
};

describe("ConfigLoader over FakeConfigClient, on MCP SDK servers", () => {
  for (const flavour of FLAVOURS) {
    test(`FAKE-LOADER-1 ${flavour}: the set views listed, rendered and read; a set is list_changed; an outage is the fallback until it ends`, async () => {
      const fake = new FakeConfigClient();
      fake.setPrompts(ORG, "github", [REVIEW]);
      fake.setResources(ORG, "github", RESOURCES);
      const loader = new ConfigLoader({ client: fake, server: "github", fallback: FALLBACK });
      const { client, heard } = await connect(flavour, loader, ORG);
      try {
        assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ["echo"], "the server's own tool");
        assert.deepEqual((await client.listPrompts()).prompts.map((p) => p.name), ["review"]);
        const rendered = await client.getPrompt({ name: "review", arguments: { repo: "acme/api" } });
        assert.deepEqual(rendered.messages, [{ role: "user", content: { type: "text", text: "Review acme/api." } }]);
        await assert.rejects(client.getPrompt({ name: "review" }), /missing argument "repo"/, "the service's message");
        assert.deepEqual((await client.listResources()).resources.map((r) => r.uri), ["file:///guide.md", "test://logo"]);
        assert.deepEqual((await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate), ["test://items/{id}"]);
        assert.deepEqual((await client.readResource({ uri: "test://logo" })).contents, [{ uri: "test://logo", mimeType: "image/png", blob: PNG }]);

        fake.setPrompts(ORG, "github", [REVIEW, { name: "triage", messages: [{ role: "user", text: "Triage." }] }]);
        fake.setPrompts("globex", "github", []);
        await eventually(() => (heard.prompts > 0 ? true : undefined), "prompts/list_changed");
        assert.equal(heard.prompts, 1, "another org's change is not this server's");
        assert.deepEqual((await client.listPrompts()).prompts.map((p) => p.name), ["review", "triage"]);

        // An outage with nothing usable held: the fallback; the service back, list_changed and
        // mcp-config's prompts again (the loader asks every second).
        fake.setUnavailable(true);
        assert.deepEqual((await client.listPrompts()).prompts.map((p) => p.name), ["hard-coded"]);
        await assert.rejects(client.readResource({ uri: "file:///guide.md" }), /unreachable/, "no fallback resources: the error");
        fake.setUnavailable(false);
        await eventually(() => (heard.prompts > 1 ? true : undefined), "prompts/list_changed after the outage");
        assert.deepEqual((await client.listPrompts()).prompts.map((p) => p.name), ["review", "triage"]);
      } finally {
        await client.close();
        loader.close();
        await fake.close();
      }
    });
  }
});
