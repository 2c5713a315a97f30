/** mcp-config messages as MCP results (no service): every content kind of a rendered prompt,
 * resource templates apart from resources, contents as text or base64. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type MessageInitShape, create } from "@bufbuild/protobuf";
import {
  AnnotationsSchema,
  GetPromptResponseSchema,
  PromptMessageSchema,
  ReadResourceResponseSchema,
  ResourceContentsSchema,
  ResourceSchema,
} from "../gen/mcp_config/v1/config_pb.js";
import { PromptSchema } from "../gen/mcp_config/v1/config_pb.js";
import type * as v1 from "../gen/mcp_config/v1/config_pb.js";
import * as mcp from "../src/mcp.js";
import { plain } from "../src/plain.js";

// The loader converts what the client returns: plain data (`plain.ts`), made here from messages.
const mcpRendered = (r: v1.GetPromptResponse) => mcp.mcpRendered(plain(r));
const mcpContents = (r: v1.ReadResourceResponse) => mcp.mcpContents(plain(r));
const mcpPrompt = (p: v1.Prompt) => mcp.mcpPrompt(plain(p));
const mcpResources = (items: v1.Resource[]) => mcp.mcpResources(plain(items));
const mcpResourceTemplates = (items: v1.Resource[]) => mcp.mcpResourceTemplates(plain(items));

const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47]);
const message = (init: MessageInitShape<typeof PromptMessageSchema>) => create(PromptMessageSchema, init);

describe("MCP results from mcp-config messages", () => {
  test("MCP-1 each content kind of a rendered prompt is its MCP content block", () => {
    const rendered = mcpRendered(
      create(GetPromptResponseSchema, {
        description: "every kind",
        messages: [
          message({ role: "user", text: "Look at this." }),
          message({ role: "user", content: { case: "image", value: { data: PNG, mimeType: "image/png" } } }),
          message({ role: "assistant", content: { case: "audio", value: { data: Uint8Array.from([1, 2, 3]), mimeType: "audio/wav" } } }),
          message({
            role: "user",
            content: { case: "resource", value: { uri: "file:///guide.md", mimeType: "text/markdown", contents: { case: "text", value: "# Guide" } } },
          }),
          message({ role: "user", content: { case: "resource", value: { uri: "test://logo", contents: { case: "blob", value: PNG } } } }),
          message({
            role: "user",
            content: { case: "resourceLink", value: { uri: "file:///acme/api/README.md", name: "readme", description: "the README", mimeType: "text/markdown" } },
          }),
        ],
      }),
    );
    assert.equal(rendered.description, "every kind");
    assert.deepEqual(
      rendered.messages.map((m) => m.role),
      ["user", "user", "assistant", "user", "user", "user"],
    );
    assert.deepEqual(
      rendered.messages.map((m) => m.content),
      [
        { type: "text", text: "Look at this." },
        { type: "image", data: "iVBORw==", mimeType: "image/png" },
        { type: "audio", data: "AQID", mimeType: "audio/wav" },
        { type: "resource", resource: { uri: "file:///guide.md", mimeType: "text/markdown", text: "# Guide" } },
        { type: "resource", resource: { uri: "test://logo", mimeType: undefined, blob: "iVBORw==" } },
        {
          type: "resource_link",
          uri: "file:///acme/api/README.md",
          name: "readme",
          title: undefined,
          description: "the README",
          mimeType: "text/markdown",
        },
      ],
    );
  });

  test("MCP-2 a message whose text is empty and content unset is an empty text block", () => {
    const rendered = mcpRendered(create(GetPromptResponseSchema, { messages: [message({ role: "user" })] }));
    assert.deepEqual(rendered.messages[0]?.content, { type: "text", text: "" });
    assert.equal(rendered.description, undefined);
  });

  test("MCP-3 resource templates are listed apart from resources, as uriTemplate", () => {
    const items = [
      create(ResourceSchema, { uri: "file:///guide.md", name: "guide", mimeType: "text/markdown", size: 7n, contents: { case: "text", value: "# Guide" } }),
      create(ResourceSchema, {
        uri: "test://template/{id}/data",
        name: "template-data",
        title: "Data by id",
        mimeType: "application/json",
        size: 40n,
        isTemplate: true,
        annotations: create(AnnotationsSchema, { audience: ["assistant"], priority: 0.5 }),
      }),
    ];
    assert.deepEqual(
      mcpResources(items).map((r) => r.uri),
      ["file:///guide.md"],
      "a template is not a readable resource",
    );
    assert.deepEqual(mcpResourceTemplates(items), [
      {
        uriTemplate: "test://template/{id}/data",
        name: "template-data",
        title: "Data by id",
        description: undefined,
        mimeType: "application/json",
        annotations: { audience: ["assistant"], priority: 0.5, lastModified: undefined },
        icons: undefined,
      },
    ]);
  });

  test("MCP-4 resource contents are text, or base64 for a blob", () => {
    const read = mcpContents(
      create(ReadResourceResponseSchema, {
        contents: [
          create(ResourceContentsSchema, { uri: "test://template/7/data", mimeType: "application/json", contents: { case: "text", value: '{"id":"7"}' } }),
          create(ResourceContentsSchema, { uri: "test://static-binary", mimeType: "image/png", contents: { case: "blob", value: PNG } }),
        ],
      }),
    );
    assert.deepEqual(read.contents, [
      { uri: "test://template/7/data", mimeType: "application/json", text: '{"id":"7"}' },
      { uri: "test://static-binary", mimeType: "image/png", blob: "iVBORw==" },
    ]);
  });

  test("MCP-5 icons carry over, and none is an absent field", () => {
    const icon = { src: "https://example.com/a.png", mimeType: "image/png", sizes: ["48x48"] };
    assert.deepEqual(mcpPrompt(create(PromptSchema, { name: "p", icons: [icon] })).icons, [icon]);
    assert.equal(mcpPrompt(create(PromptSchema, { name: "p" })).icons, undefined);
    const [resource] = mcpResources([create(ResourceSchema, { uri: "a:b", name: "b", icons: [{ src: "data:x" }] })]);
    assert.deepEqual(resource?.icons, [{ src: "data:x", mimeType: undefined, sizes: undefined }]);
  });

  test("MCP-6 a message's annotations go on its content block", () => {
    const annotated = message({ role: "user", text: "x", annotations: { audience: ["user"], priority: 1 } });
    assert.deepEqual(mcpRendered(create(GetPromptResponseSchema, { messages: [annotated] })).messages[0]?.content, {
      type: "text",
      text: "x",
      annotations: { audience: ["user"], priority: 1, lastModified: undefined },
    });
  });
});
