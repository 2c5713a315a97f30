/**
 * mcp-config's protobuf messages as MCP result objects (the service shapes them after MCP
 * already, so this is field for field; empty strings are absent fields in MCP).
 */
import type {
  GetPromptResponse,
  Prompt,
  ReadResourceResponse,
  Resource,
} from "../gen/mcp_config/v1/config_pb.js";

const optional = (text: string) => (text === "" ? undefined : text);

export function mcpPrompt(p: Prompt) {
  return {
    name: p.name,
    title: optional(p.title),
    description: optional(p.description),
    arguments: p.arguments.map((a) => ({
      name: a.name,
      description: optional(a.description),
      required: a.required,
    })),
  };
}

export function mcpRendered(r: GetPromptResponse) {
  return {
    description: optional(r.description),
    messages: r.messages.map((m) => ({
      role: m.role as "user" | "assistant",
      content: { type: "text" as const, text: m.text },
    })),
  };
}

export function mcpResource(r: Resource) {
  const a = r.annotations;
  return {
    uri: r.uri,
    name: r.name,
    title: optional(r.title),
    description: optional(r.description),
    mimeType: optional(r.mimeType),
    size: Number(r.size),
    annotations:
      a === undefined
        ? undefined
        : {
            audience: a.audience.length > 0 ? (a.audience as Array<"user" | "assistant">) : undefined,
            priority: a.priority,
            lastModified: optional(a.lastModified),
          },
  };
}

export function mcpContents(r: ReadResourceResponse) {
  return {
    contents: r.contents.map((c) =>
      c.contents.case === "blob"
        ? { uri: c.uri, mimeType: optional(c.mimeType), blob: Buffer.from(c.contents.value).toString("base64") }
        : { uri: c.uri, mimeType: optional(c.mimeType), text: c.contents.value ?? "" },
    ),
  };
}
