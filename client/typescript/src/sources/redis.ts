/**
 * Follows the Redis channel the service publishes on (contract C-SRC-1, C-SRC-7), with `ioredis`
 * loaded only when this source is used (an optional peer dependency).
 *
 * ioredis reports `ready` before its own automatic re-subscription has been confirmed, so that
 * is turned off and the channel is subscribed here after every (re)connection: only the
 * subscription's confirmation means no later change can be missed. The service's relay
 * announces progress on the channel every 5 s: a channel silent for `silenceMs` (a hung Redis or
 * a partition closes nothing) is taken as cut, and the connection is dropped and made again.
 * Given servers, it follows their own channels (`<channel>:<server>`) instead, each a chain of
 * revisions of its own, where the relay announces each server's progress too.
 *
 * A source that cannot start (no `ioredis`) or connect says so once, as an error (C-SRC-10), and
 * again only after it has connected and failed anew; reads revalidate with the service meanwhile
 * (no view is current while the source is not connected).
 */
import { fromJsonString } from "@bufbuild/protobuf";
import { InvalidationEventSchema } from "../../gen/mcp_config/v1/config_pb.js";
import { Backoff } from "../backoff.js";
import type { RedisSource } from "../client.js";
import type { Tracker } from "../tracker.js";

export const DEFAULT_CHANNEL = "mcp-config:invalidations";

export interface RedisSourceOptions {
  /** `redis://[:password@]host:port[/db]`. */
  url: string;
  /** The channel the service publishes on (default `mcp-config:invalidations`); given the
   * client's `servers`, their own channels `<channel>:<server>` instead (C-SRC-9). */
  channel?: string;
}

/** The Redis source, for `createConfigClient({ source: redisSource({ url }) })`. */
export function redisSource(options: RedisSourceOptions): RedisSource {
  const { url, channel = DEFAULT_CHANNEL } = options;
  return {
    type: "redis",
    url,
    channel,
    follow: ({ tracker, servers, silenceMs, stop, error }) =>
      followRedis(url, channelsOf(channel, servers), tracker, silenceMs, stop, error),
  };
}

/** The global channel, or only `servers`' own channels, where each server's events go too. */
export function channelsOf(channel: string, servers: readonly string[]): string[] {
  return servers.length === 0 ? [channel] : [...new Set(servers)].map((server) => `${channel}:${server}`);
}

/** Applies one message of `channel`; an unreadable one may hide a change, so it flushes. */
export function applyJson(text: string, tracker: Tracker, channel: string): void {
  let event;
  try {
    event = fromJsonString(InvalidationEventSchema, text, { ignoreUnknownFields: true });
  } catch {
    return tracker.flush();
  }
  tracker.onEvent(event, channel);
}

type RedisClass = (typeof import("ioredis"))["Redis"];

const MEANWHILE = "reads revalidate with the mcp-config service meanwhile";

/** Subscribes to `channels` until `stop` aborts; resolves once the connection is closed, or at
 * once when `ioredis` cannot be loaded (`error` told why). */
export async function followRedis(
  url: string,
  channels: readonly string[],
  tracker: Tracker,
  silenceMs: number,
  stop: AbortSignal,
  error: (message: string) => void = (message) => console.error(message),
  load: () => Promise<{ Redis: RedisClass }> = () => import("ioredis"),
): Promise<void> {
  if (stop.aborted) return;
  let Redis: RedisClass;
  try {
    ({ Redis } = await load());
  } catch (cause) {
    error(
      `mcp-config client: the Redis invalidation source cannot start: the package "ioredis" could ` +
        `not be loaded (${describe(cause)}); install it (npm install ioredis) or use the source ` +
        `{ type: "watch" }; ${MEANWHILE}`,
    );
    return;
  }
  // Whether the current failure has been told already: once per run of failures, again only
  // after a subscription was confirmed (C-SRC-10).
  let told = false;
  const tell = (cause: unknown) => {
    if (told || stop.aborted) return;
    told = true;
    // The URL may carry a password: it is not logged.
    error(
      `mcp-config client: the Redis invalidation source cannot connect (${describe(cause)}); ` +
        `check that Redis runs at the configured url and is reachable from here; ${MEANWHILE}, ` +
        `and it keeps retrying (this is logged again only after it has connected and failed anew)`,
    );
  };
  const backoff = new Backoff();
  const redis = new Redis(url, {
    autoResubscribe: false,
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 1,
    retryStrategy: () => backoff.next(),
  });
  let subscribed = false;
  let silence: NodeJS.Timeout | undefined;
  const heard = () => {
    clearTimeout(silence);
    silence = setTimeout(() => redis.disconnect(true), silenceMs);
  };
  redis.on("ready", () => {
    // Resolves once every channel's subscription is confirmed.
    redis.subscribe(...channels).then(
      () => {
        subscribed = true;
        told = false;
        backoff.reset();
        tracker.connected();
        heard();
      },
      // A connection that cannot subscribe is dropped; ioredis reconnects with the backoff.
      (cause: unknown) => {
        tell(cause);
        redis.disconnect(true);
      },
    );
  });
  redis.on("close", () => {
    clearTimeout(silence);
    if (subscribed) tracker.disconnected();
    subscribed = false;
  });
  redis.on("message", (channel: string, text: string) => {
    heard();
    applyJson(text, tracker, channel);
  });
  // Connection errors are retried by the reconnection above; the first of a run is logged.
  redis.on("error", (cause: unknown) => tell(cause));
  // Closing ends here, whatever state the connection is in: ioredis does not always report
  // "end" for a disconnect made while it waits to reconnect or for a hung server's answer.
  const closed = new Promise<void>((resolve) => {
    redis.once("end", () => resolve());
    stop.addEventListener(
      "abort",
      () => {
        clearTimeout(silence);
        redis.disconnect(false);
        resolve();
      },
      { once: true },
    );
  });
  redis.connect().catch(() => {});
  await closed;
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
