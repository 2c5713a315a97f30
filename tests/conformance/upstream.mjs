// An MCP server with the tools the conformance suite's tool scenarios call, on the official
// TypeScript SDK: the upstream that scripts/conformance.sh puts behind the gateway, so the
// suite's tool scenarios run through /mcp/{server} (forwarding, progress, logging, sampling and
// elicitation round trips) with mcp-config's prompts and resources laid over.
//   node upstream.mjs PORT   (serves streamable HTTP at http://127.0.0.1:PORT/mcp)
import { randomUUID } from "node:crypto";
import http from "node:http";

import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  CallToolRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ListToolsRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

const port = Number(process.argv[2]);
// A 1×1 red PNG and a 1-sample silent WAV.
const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQIAAAAAAA==";

const none = { type: "object", properties: {} };
const tools = [
  ["test_simple_text", "Returns simple text", none],
  ["test_image_content", "Returns an image", none],
  ["test_audio_content", "Returns audio", none],
  ["test_embedded_resource", "Returns an embedded resource", none],
  ["test_multiple_content_types", "Returns text, an image and a resource", none],
  ["test_tool_with_logging", "Logs three messages while it runs", none],
  ["test_tool_with_progress", "Reports progress while it runs", none],
  ["test_error_handling", "Always fails", none],
  [
    "test_sampling",
    "Asks the client's model",
    { type: "object", properties: { prompt: { type: "string" } }, required: ["prompt"] },
  ],
  [
    "test_elicitation",
    "Asks the user",
    { type: "object", properties: { message: { type: "string" } }, required: ["message"] },
  ],
  ["test_elicitation_sep1034_defaults", "Asks with defaults", none],
  ["test_elicitation_sep1330_enums", "Asks with enums", none],
  [
    "json_schema_2020_12_tool",
    "Tool with JSON Schema 2020-12 features",
    {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      $defs: {
        address: {
          type: "object",
          properties: { street: { type: "string" }, city: { type: "string" } },
        },
      },
      properties: { name: { type: "string" }, address: { $ref: "#/$defs/address" } },
      additionalProperties: false,
    },
  ],
].map(([name, description, inputSchema]) => ({ name, description, inputSchema }));

const pause = () => new Promise((resolve) => setTimeout(resolve, 50));
const text = (text) => ({ content: [{ type: "text", text }] });
// Asked of the client on the tool call's own stream (as every request and notification a tool
// sends here): a session's standalone stream may not be open yet when a fresh client calls.
const elicit = (extra, params) =>
  extra.sendRequest({ method: "elicitation/create", params }, ElicitResultSchema);

function newServer() {
  const server = new Server(
    { name: "conformance-upstream", version: "1.0.0" },
    { capabilities: { tools: {}, logging: {} } },
  );
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const args = request.params.arguments ?? {};
    switch (request.params.name) {
      case "test_simple_text":
        return text("This is a simple text response for testing.");
      case "test_image_content":
        return { content: [{ type: "image", data: PNG, mimeType: "image/png" }] };
      case "test_audio_content":
        return { content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }] };
      case "test_embedded_resource":
        return {
          content: [
            {
              type: "resource",
              resource: {
                uri: "test://embedded-resource",
                mimeType: "text/plain",
                text: "This is an embedded resource content.",
              },
            },
          ],
        };
      case "test_multiple_content_types":
        return {
          content: [
            { type: "text", text: "Multiple content types test:" },
            { type: "image", data: PNG, mimeType: "image/png" },
            {
              type: "resource",
              resource: {
                uri: "test://mixed-content-resource",
                mimeType: "application/json",
                text: JSON.stringify({ test: "data", value: 123 }),
              },
            },
          ],
        };
      case "test_tool_with_logging":
        for (const [i, data] of [
          "Tool execution started",
          "Tool processing data",
          "Tool execution completed",
        ].entries()) {
          if (i > 0) await pause();
          await extra.sendNotification({
            method: "notifications/message",
            params: { level: "info", data },
          });
        }
        return text("Logged three messages");
      case "test_tool_with_progress": {
        const progressToken = request.params._meta?.progressToken;
        for (const [i, progress] of [0, 50, 100].entries()) {
          if (i > 0) await pause();
          if (progressToken !== undefined) {
            await extra.sendNotification({
              method: "notifications/progress",
              params: { progressToken, progress, total: 100 },
            });
          }
        }
        return text("Progress reported");
      }
      case "test_error_handling":
        return { isError: true, ...text("This tool intentionally returns an error for testing") };
      case "test_sampling": {
        const answer = await extra.sendRequest(
          {
            method: "sampling/createMessage",
            params: {
              messages: [{ role: "user", content: { type: "text", text: String(args.prompt) } }],
              maxTokens: 100,
            },
          },
          CreateMessageResultSchema,
        );
        return text(`LLM response: ${answer.content?.text ?? JSON.stringify(answer.content)}`);
      }
      case "test_elicitation": {
        const answer = await elicit(extra, {
          message: String(args.message),
          requestedSchema: {
            type: "object",
            properties: {
              username: { type: "string", description: "User's response" },
              email: { type: "string", description: "User's email address" },
            },
            required: ["username", "email"],
          },
        });
        return text(`User response: ${JSON.stringify(answer)}`);
      }
      case "test_elicitation_sep1034_defaults": {
        const answer = await elicit(extra, {
          message: "Please review these defaults",
          requestedSchema: {
            type: "object",
            properties: {
              name: { type: "string", default: "John Doe" },
              age: { type: "integer", default: 30 },
              score: { type: "number", default: 95.5 },
              status: { type: "string", enum: ["active", "inactive", "pending"], default: "active" },
              verified: { type: "boolean", default: true },
            },
          },
        });
        return text(`Elicitation completed: action=${answer.action}, content=${JSON.stringify(answer.content)}`);
      }
      case "test_elicitation_sep1330_enums": {
        const answer = await elicit(extra, {
          message: "Please choose",
          requestedSchema: {
            type: "object",
            properties: {
              untitledSingle: { type: "string", enum: ["option1", "option2", "option3"] },
              titledSingle: {
                type: "string",
                oneOf: [
                  { const: "value1", title: "First Option" },
                  { const: "value2", title: "Second Option" },
                  { const: "value3", title: "Third Option" },
                ],
              },
              legacyEnum: {
                type: "string",
                enum: ["opt1", "opt2", "opt3"],
                enumNames: ["Option One", "Option Two", "Option Three"],
              },
              untitledMulti: {
                type: "array",
                items: { type: "string", enum: ["option1", "option2", "option3"] },
              },
              titledMulti: {
                type: "array",
                items: {
                  anyOf: [
                    { const: "value1", title: "First Choice" },
                    { const: "value2", title: "Second Choice" },
                    { const: "value3", title: "Third Choice" },
                  ],
                },
              },
            },
          },
        });
        return text(`Elicitation completed: action=${answer.action}, content=${JSON.stringify(answer.content)}`);
      }
      default:
        throw new Error(`no tool ${request.params.name}`);
    }
  });
  return server;
}

// One transport (and server) per session, as the gateway opens one upstream session per
// client session.
const sessions = new Map();

async function body(request) {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : undefined;
}

http
  .createServer(async (request, response) => {
    try {
      const parsed = request.method === "POST" ? await body(request) : undefined;
      const id = request.headers["mcp-session-id"];
      let transport = id ? sessions.get(id) : undefined;
      if (!transport) {
        if (id || parsed?.method !== "initialize") {
          response.writeHead(404).end("no such session");
          return;
        }
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (sessionId) => sessions.set(sessionId, transport),
        });
        transport.onclose = () => sessions.delete(transport.sessionId);
        await newServer().connect(transport);
      }
      await transport.handleRequest(request, response, parsed);
    } catch (error) {
      if (!response.headersSent) response.writeHead(500).end(String(error));
    }
  })
  .listen(port, "127.0.0.1");
