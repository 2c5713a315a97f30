/**
 * TypeScript client of mcp-config for MCP servers: cached prompts and resources per org, kept
 * current by the service's `Watch` stream or its Redis channel, served stale while the service
 * is down. The rules it keeps are docs/client-contract.md's.
 *
 * ```ts
 * const client = createConfigClient({ endpoint: "http://127.0.0.1:50051" });
 * const prompts = await client.prompts("acme", "github");
 * for await (const change of client.changes()) console.log(change);
 * ```
 */
export type { View, ViewId, ViewKind } from "./cache.js";
export { type Changed, type Lagged, Subscription, concerns } from "./changes.js";
export {
  type ConfigClientOptions,
  ConfigClient,
  type RedisSource,
  type Source,
  createConfigClient,
} from "./client.js";
export type { Status, StatusEvent } from "./status.js";
export {
  Code,
  ConfigError,
  InvalidArgument,
  NotFound,
  PermissionDenied,
  Rejected,
  RenderError,
  Unavailable,
} from "./errors.js";
export type {
  Fallback,
  FallbackPrompt,
  FallbackResource,
  McpPrompt,
  McpPromptMessage,
  McpResource,
  McpResourceContents,
} from "./fallback.js";
export { ConfigLoader, type ConfigLoaderOptions, type ListChangedTarget } from "./loader.js";
export type { ConfigReader } from "./reader.js";
export type {
  Annotations,
  Choices,
  Icon,
  Media,
  Plain,
  Prompt,
  PromptArgument,
  PromptMessage,
  RenderedPrompt,
  Resource,
  ResourceContents,
  ResourceLink,
  ResourceRead,
} from "./plain.js";
export { missingArgument, renderLocally } from "./render.js";
export { McpRequestError, type SdkMcpServer, type SdkServer } from "./sdk.js";
export * as v1 from "../gen/mcp_config/v1/config_pb.js";
