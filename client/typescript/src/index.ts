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
  type Source,
  createConfigClient,
} from "./client.js";
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
export {
  ConfigLoader,
  type ConfigLoaderOptions,
  type HandlerRegistry,
  type ListChangedTarget,
  McpRequestError,
} from "./loader.js";
export * as v1 from "../gen/mcp_config/v1/config_pb.js";
