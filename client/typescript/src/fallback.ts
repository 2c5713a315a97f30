/**
 * What an MCP server hard-coded before mcp-config, given to its `ConfigLoader` so that a server
 * started while the service is down serves what it always served rather than errors. In MCP's
 * own shapes (the Rust and Python loaders take the same): a prompt as `prompts/list` shows it
 * with the messages `prompts/get` answers, a resource as `resources/list` shows it with the
 * contents `resources/read` answers. Nothing is rendered: a fallback prompt's messages are
 * answered as given, whatever the arguments.
 */

/** A prompt as `prompts/list` shows it (MCP's `Prompt`; other fields pass through). */
export interface McpPrompt {
  name: string;
  title?: string;
  description?: string;
  arguments?: ReadonlyArray<{ name: string; description?: string; required?: boolean }>;
  [field: string]: unknown;
}

/** A prompt message (MCP's `PromptMessage`): a text, image, audio, resource or link block. */
export interface McpPromptMessage {
  role: "user" | "assistant";
  content: { type: string; [field: string]: unknown };
}

/** A resource as `resources/list` shows it (MCP's `Resource`). */
export interface McpResource {
  uri: string;
  name: string;
  [field: string]: unknown;
}

/** One part of what `resources/read` answers (MCP's text or blob resource contents). */
export interface McpResourceContents {
  uri: string;
  mimeType?: string;
  [field: string]: unknown;
}

export interface FallbackPrompt {
  prompt: McpPrompt;
  messages: readonly McpPromptMessage[];
}

export interface FallbackResource {
  resource: McpResource;
  contents: readonly McpResourceContents[];
}

/** A server's hard-coded prompts and resources. A kind left empty has no fallback: while the
 * service cannot answer, its reads fail as they would without a fallback. */
export interface Fallback {
  prompts?: readonly FallbackPrompt[];
  resources?: readonly FallbackResource[];
}
