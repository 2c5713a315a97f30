/**
 * `@mcp-config/client/redis`: the Redis invalidation source, apart from the main entry so that
 * only an app that imports it references `ioredis` (an optional peer dependency, loaded when the
 * source starts); an app bundled without it needs no `--external ioredis`.
 *
 * ```ts
 * import { createConfigClient } from "@mcp-config/client";
 * import { redisSource } from "@mcp-config/client/redis";
 * const client = createConfigClient({ endpoint, source: redisSource({ url: "redis://127.0.0.1:6379" }) });
 * ```
 */
export type { RedisSource } from "./client.js";
export { DEFAULT_CHANNEL, type RedisSourceOptions, redisSource } from "./sources/redis.js";
