/** `ConfigLoader.install` on servers of the official MCP SDK, v1 (`@modelcontextprotocol/sdk`:
 * `McpServer` and the low-level `Server`) and v2 (`McpServer` of `@modelcontextprotocol/server`),
 * read by that SDK's own
 * client: the server's own tool next to the org's prompts, rendered by mcp-config and announced
 * when they change; started with the service down, the server's fallback, then mcp-config's
 * prompts and `list_changed` once the service is up. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { McpServer as V1McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ConfigLoader, type Fallback, createConfigClient } from "../src/index.js";
import { eventually } from "../src/testing.js";
import { PROPAGATION_MS, type Stack, stack, using } from "./harness.js";
import { ECHO, FLAVOURS, type Flavour, connect as connectTo } from "./sdk-pair.js";

const ORG = "acme";

/** What a server hard-coded before mcp-config. */
const FALLBACK: Fallback = {
  prompts: [
    {
      prompt: { name: "hard-coded-review", description: "Review the repository", arguments: [{ name: "repo", required: true }] },
      messages: [{ role: "user", content: { type: "text", text: "Review {{ repo }} for bugs." } }],
    },
  ],
  resources: [
    {
      resource: { uri: "file:///hard-coded.md", name: "hard-coded", mimeType: "text/markdown" },
      contents: [{ uri: "file:///hard-coded.md", mimeType: "text/markdown", text: "# Hard-coded" }],
    },
  ],
};

const connect = (flavour: Flavour, loader: ConfigLoader) => connectTo(flavour, loader, ORG);

const names = (listed: { prompts: Array<{ name: string }> }) => listed.prompts.map((p) => p.name).sort();

describe("the loader on MCP SDK servers", () => {
  let s: Stack;
  before(async () => (s = await stack()));
  after(() => s.stop());

  for (const flavour of FLAVOURS) {
    test(`LOADER-1 ${flavour}: the server's own tool and the org's prompts, rendered by mcp-config, told of a change`, () =>
      using(createConfigClient({ endpoint: s.service.endpoint }), async (config) => {
        await config.waitForSource(PROPAGATION_MS);
        const loader = new ConfigLoader({ client: config, server: "github" });
        const { client, heard } = await connect(flavour, loader);
        try {
          const capabilities = client.getServerCapabilities();
          assert.deepEqual(capabilities?.prompts, { listChanged: true });
          assert.deepEqual(capabilities?.resources, { listChanged: true });
          assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ["echo"]);
          assert.deepEqual((await client.callTool({ name: "echo" })).content, ECHO.content);
          const served = (await config.prompts(ORG, "github")).items.map((p) => p.name).sort();
          assert.deepEqual(names(await client.listPrompts()), served);
          const rendered = await client.getPrompt({ name: "security-review", arguments: { repo: "acme/api" } });
          assert.deepEqual(rendered.messages, [
            {
              role: "user",
              content: { type: "text", text: "Audit acme/api for secrets in code, unsafe deserialization and missing authz checks." },
            },
          ]);
          await assert.rejects(client.getPrompt({ name: "security-review" }), /repo/, "the service's message");

          const added = `added-for-${flavour.replace(/\W/g, "")}`;
          await s.service.putPrompt(ORG, added, "A new prompt.");
          await eventually(() => (heard.prompts > 0 ? true : undefined), "prompts/list_changed", PROPAGATION_MS);
          assert.ok(names(await client.listPrompts()).includes(added));
        } finally {
          await client.close();
          loader.close();
        }
      }));

    test(`LOADER-2 ${flavour}: started with the service down, the fallback; once it is up, mcp-config's prompts and list_changed`, () =>
      using(createConfigClient({ endpoint: s.service.endpoint, breakerCoolDownMs: 200 }), async (config) => {
        await s.service.kill();
        const loader = new ConfigLoader({ client: config, server: "github", fallback: FALLBACK });
        const { client, heard } = await connect(flavour, loader);
        try {
          assert.deepEqual(names(await client.listPrompts()), ["hard-coded-review"]);
          const given = await client.getPrompt({ name: "hard-coded-review", arguments: { repo: "acme/api" } });
          assert.deepEqual(given.messages, FALLBACK.prompts?.[0]?.messages, "the messages as given, not rendered");
          assert.deepEqual((await client.listResources()).resources.map((r) => r.uri), ["file:///hard-coded.md"]);
          assert.deepEqual((await client.readResource({ uri: "file:///hard-coded.md" })).contents, FALLBACK.resources?.[0]?.contents);
          assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ["echo"], "the tool regardless");

          await s.service.start();
          await eventually(() => (heard.prompts > 0 && heard.resources > 0 ? true : undefined), "both list_changed", PROPAGATION_MS);
          const listed = names(await client.listPrompts());
          assert.ok(listed.includes("security-review") && !listed.includes("hard-coded-review"), `mcp-config's: ${listed}`);
          const rendered = await client.getPrompt({ name: "security-review", arguments: { repo: "acme/api" } });
          assert.match(JSON.stringify(rendered.messages), /Audit acme\/api/);
          assert.ok(!(await client.listResources()).resources.some((r) => r.uri === "file:///hard-coded.md"));
        } finally {
          await client.close();
          loader.close();
        }
      }));
  }

  test("LOADER-3 a server that answers prompts itself is refused: the loader would never be asked", () =>
    using(createConfigClient({ endpoint: s.service.endpoint }), async (config) => {
      const loader = new ConfigLoader({ client: config, server: "github" });
      const server = new V1McpServer({ name: "own-prompts", version: "1.0.0" });
      server.registerPrompt("own", { description: "the server's own" }, () => ({ messages: [] }));
      assert.throws(() => loader.install(server, ORG), /prompts\/list/);
      loader.close();
    }));
});
