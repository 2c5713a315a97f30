/**
 * `ConfigClient`: the effective prompts and resources of an (org, server), cached and kept right
 * by the rules of docs/client-contract.md (the ids in comments are that document's).
 */
import { sleep } from "./backoff.js";
import { Breaker } from "./breaker.js";
import { Cache, type Entry, type Item, type PlainItem, type Trust, type View, type ViewId, ageOf, viewOf } from "./cache.js";
import { type Changed, ChangeFeed, type Subscription } from "./changes.js";
import { Code, UNREACHABLE_MESSAGE, Unavailable, classify } from "./errors.js";
import { readHeld, renderHeld } from "./local.js";
import { type Prompt, type RenderedPrompt, type Resource, type ResourceRead, plain } from "./plain.js";
import type { ConfigReader } from "./reader.js";
import { loadSnapshot, saveSnapshot } from "./snapshot.js";
import { BREAKER_OPEN, type Status, type StatusEvent, StatusTracker, whyOf } from "./status.js";
import { followWatch } from "./sources/watch.js";
import { Tracker } from "./tracker.js";
import { Transport } from "./transport.js";

/** Where invalidations come from (C-SRC-1). The Redis source is made by `redisSource` of the
 * subpath export `@mcp-config/client/redis`, so the main entry never references `ioredis`. */
export type Source =
  | { type: "watch" }
  | RedisSource
  /** None: views are revalidated when older than `revalidateAfterMs` only. */
  | { type: "none" };

/** The Redis channel the service publishes on (C-SRC-7): `redisSource({ url, channel })` from
 * `@mcp-config/client/redis` (which loads the optional peer dependency `ioredis`). */
export interface RedisSource {
  readonly type: "redis";
  readonly url: string;
  readonly channel?: string;
  /** Internal: follows the channel until `stop` aborts. */
  readonly follow: (context: SourceContext) => Promise<void>;
}

/** Internal: what a source made outside the main entry follows the changes with. */
export interface SourceContext {
  readonly tracker: Tracker;
  readonly servers: readonly string[];
  readonly silenceMs: number;
  readonly stop: AbortSignal;
  readonly error: (message: string) => void;
}

export interface ConfigClientOptions {
  /** The service's gRPC address: `http://host:port`, `https://host:port` or `host:port`. */
  endpoint: string;
  /** Default: the service's `Watch` stream. */
  source?: Source;
  /** How long the last known view may be served while the service is unreachable (1 h). */
  maxStaleMs?: number;
  /** A view older than this is revalidated even without an invalidation (5 min). */
  revalidateAfterMs?: number;
  /** Views are saved here after each fetch and loaded at start, for cold starts while the
   * service is down. */
  snapshot?: string;
  /** Per-call timeout (5 s): how long a read with no usable cached view waits for the service. */
  timeoutMs?: number;
  /** How long a read that has a usable cached view (younger than `maxStaleMs`) waits for the
   * service (50 ms) before serving that view stale; the request goes on in the background (up to
   * `timeoutMs`) and updates the cache when it is answered. Not applied when an invalidation
   * announced a change past the cached view: that read waits up to `timeoutMs`. */
  readBudgetMs?: number;
  /** After 3 consecutive failures to reach the service (timeouts, connection errors), no call
   * is sent for this long (5 s): reads serve a usable cached view stale at once, or throw
   * `Unavailable` at once; then one call is let through, whose success closes the breaker. */
  breakerCoolDownMs?: number;
  /** Bearer token (a `service` JWT) for a service that runs with auth. */
  token?: string;
  /** How long the invalidation source may say nothing before it is taken as cut off (15 s;
   * the service sends progress every 5 s on the Watch stream and on the Redis channel). */
  silenceMs?: number;
  /** Trace-context headers (`traceparent`, …) of the current operation, added to every call. */
  traceContext?: () => Record<string, string>;
  /** The MCP servers whose views this process reads (`["github"]`); empty or absent: every
   * server. Invalidations of other servers are then never received: the Watch stream is
   * filtered, and the Redis source subscribes to these servers' own channels
   * (`<channel>:<server>`) instead of the global one (C-SRC-9). */
  servers?: readonly string[];
  /** The release label every read is at (`staging`, `latest`, …); empty or absent: `production`.
   * Sent as `label` on every read and on `Watch`; an unknown label is `NotFound`. Changes that
   * moved only other labels' views are no change to this client (C-TRACK-5). */
  label?: string;
  /** Where the client reports what it survives (an unwritable snapshot); default: ignored. */
  warn?: (message: string) => void;
  /** Where the client reports what an operator must fix (a Redis source that cannot start or
   * connect, C-SRC-10); default: `console.error`. */
  error?: (message: string) => void;
}

/** How often, and how patiently, a read asks again when the answer predates an event it was
 * told of (C-FLOOR-2): 50, 100, 150, 200, 250 ms. */
const BEHIND_RETRIES = 5;
/** Three of the service's progress intervals (C-SRC-6). */
const SILENCE_MS = 15_000;
const BEHIND_BACKOFF_MS = 50;
const READ_BUDGET_MS = 50;
/** Consecutive failures to reach the service that open the circuit breaker. */
const BREAKER_THRESHOLD = 3;
const BREAKER_COOL_DOWN_MS = 5_000;

/** An answer, stored in the cache as it arrived (whether or not a read still waits for it),
 * and how far it can be trusted given the generation its request was sent at (C-FLUSH-1). */
interface Sent {
  answer: Answer;
  trust: Trust;
  entry: Entry | undefined;
}

interface Answer {
  revision: bigint;
  notModified: boolean;
  items: readonly Item[];
  orgUnknown: boolean;
}

export class ConfigClient implements ConfigReader {
  private readonly cache = new Cache();
  private readonly feed = new ChangeFeed();
  private readonly transport: Transport;
  private readonly stop = new AbortController();
  private readonly following: Promise<void>;
  private readonly maxStaleMs: number;
  private readonly revalidateAfterMs: number;
  private readonly timeoutMs: number;
  private readonly readBudgetMs: number;
  private readonly breaker: Breaker;
  private readonly warn: (message: string) => void;
  private readonly statusTracker: StatusTracker;
  /** The label sent with every read, as given (empty: the service's `production`). */
  private readonly label: string;
  /** The requests in flight, by view and known revision: concurrent reads of one view share one
   * request (and the generation it was sent at) instead of sending one each. */
  private readonly asking = new Map<string, Promise<Sent>>();

  /** Prepares a client; it connects lazily, so it starts even while the service is down. */
  constructor(private readonly options: ConfigClientOptions) {
    this.maxStaleMs = options.maxStaleMs ?? 3_600_000;
    this.revalidateAfterMs = options.revalidateAfterMs ?? 300_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.readBudgetMs = options.readBudgetMs ?? READ_BUDGET_MS;
    this.breaker = new Breaker(BREAKER_THRESHOLD, options.breakerCoolDownMs ?? BREAKER_COOL_DOWN_MS);
    this.label = options.label ?? "";
    this.warn = options.warn ?? (() => {});
    this.statusTracker = new StatusTracker(this.warn);
    this.transport = new Transport(options);
    if (options.snapshot !== undefined) loadSnapshot(options.snapshot, this.cache, this.warn);
    const tracker = new Tracker(this.cache, this.feed, this.label);
    const source = options.source ?? { type: "watch" };
    const silenceMs = options.silenceMs ?? SILENCE_MS;
    const servers = options.servers ?? [];
    if (source.type === "watch") {
      // An open Watch stream proves the service reachable: the breaker closes at once.
      this.following = followWatch(this.transport.service, tracker, servers, silenceMs, this.stop.signal, () =>
        this.breaker.succeeded(),
      );
    } else if (source.type === "redis") {
      const error = options.error ?? ((message: string) => console.error(message));
      if (typeof source.follow === "function") {
        this.following = source.follow({ tracker, servers, silenceMs, stop: this.stop.signal, error });
      } else {
        // A plain `{ type: "redis", url }` (untyped JavaScript): said once, like a Redis client
        // that cannot load (C-SRC-10); no view is current, so reads revalidate with the service.
        error(
          `mcp-config client: the Redis invalidation source cannot start: make it with ` +
            `redisSource({ url }) from "@mcp-config/client/redis" (the main entry does not load ` +
            `the Redis client); reads revalidate with the mcp-config service meanwhile`,
        );
        this.following = Promise.resolve();
      }
    } else {
      this.cache.setFollowing(true);
      this.following = Promise.resolve();
    }
    this.following.catch((error: unknown) => this.warn(`the invalidation source stopped: ${error}`));
  }

  /** Resolves once the invalidation source follows the changes, so none made from now on can
   * be missed (C-SRC-8); rejects after `timeoutMs` when given. At once with source `none`. */
  async waitForSource(timeoutMs?: number): Promise<void> {
    const following = this.cache.untilFollowing();
    if (timeoutMs === undefined) return following;
    const done = new AbortController();
    await Promise.race([following, sleep(timeoutMs, done.signal)]);
    done.abort(); // the timer must not keep the process alive
    if (!this.cache.following) throw new Error(`the invalidation source did not connect in ${timeoutMs} ms`);
  }

  /** Change notifications from now on (C-FEED-1): `for await (const change of client.changes())`.
   * Each item is a `Changed`, or a `Lagged` when this iterator fell `capacity` behind. */
  changes(capacity?: number): Subscription {
    return this.feed.subscribe(capacity);
  }

  /** Calls `callback` for every change from now on; returns the function that stops it. */
  onChange(callback: (change: Changed) => void): () => void {
    return this.feed.listen(callback);
  }

  /** Whether the service answers (C-STATUS-1): `starting` until a call first reaches it,
   * `ready` while the last call did (a refusal counts), `stale` (with `since`, epoch ms, and
   * `why`) while the last one could not or the circuit breaker held it back. */
  status(): Status {
    return this.statusTracker.status;
  }

  /** Calls `listener` for each change of status from now on (C-STATUS-2): `ready` (first
   * reached), `stale` (`since`, `why`), `recovered` (`staleForMs`; the status is then `ready`).
   * Returns the function that stops it. */
  onStatus(listener: (event: StatusEvent) => void): () => void {
    return this.statusTracker.listen(listener);
  }

  /** The effective prompts of `org` (empty: defaults only) for `server`. An org that names no
   * registered org reads the defaults, with `orgUnknown` set. */
  prompts(org: string, server: string): Promise<View<Prompt>> {
    return this.view({ kind: "Prompts", org, server });
  }

  /** The effective resources of `org` (empty: defaults only) for `server`. An org that names no
   * registered org reads the defaults, with `orgUnknown` set. */
  resources(org: string, server: string): Promise<View<Resource>> {
    return this.view({ kind: "Resources", org, server });
  }

  /** One prompt rendered by the service (a missing argument: `InvalidArgument`). While the
   * service cannot be reached, a prompt of a view the client holds (no older than `maxStaleMs`,
   * from a snapshot too) is rendered locally by the service's rules (C-RENDER-1, `renderLocally`);
   * any other stays `Unavailable`. */
  async prompt(
    org: string,
    server: string,
    name: string,
    args: Record<string, string> = {},
  ): Promise<RenderedPrompt> {
    try {
      return plain(
        await this.call((options) =>
          this.transport.service.getPrompt({ orgId: org, server, name, arguments: args, label: this.label }, options),
        ),
      );
    } catch (error) {
      if (!(error instanceof Unavailable)) throw error;
      const held = this.heldView<Prompt>({ kind: "Prompts", org, server });
      const local = held && renderHeld(held.items, name, args, held.revision);
      if (local === undefined) throw error;
      return local;
    }
  }

  /** One resource's contents, read by the service (a URI a resource template matches is that
   * template rendered). While the service cannot be reached, the resource of exactly that URI in
   * a resources view the client holds (no older than `maxStaleMs`, from a snapshot too) answers
   * (C-RENDER-2); a URI only a template matches, or one not held, stays `Unavailable`. */
  async readResource(org: string, server: string, uri: string): Promise<ResourceRead> {
    try {
      return plain(
        await this.call((options) =>
          this.transport.service.readResource({ orgId: org, server, uri, label: this.label }, options),
        ),
      );
    } catch (error) {
      if (!(error instanceof Unavailable)) throw error;
      const held = this.heldView<Resource>({ kind: "Resources", org, server });
      const local = held && readHeld(held.items, uri, held.revision);
      if (local === undefined) throw error;
      return local;
    }
  }

  /** Ends the invalidation source, every call and stream, and every `changes()` iteration, so
   * the process can exit. */
  async close(): Promise<void> {
    this.stop.abort();
    this.transport.close();
    this.feed.close();
    await this.following.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** One call through the circuit breaker: refused at once while it is open. */
  private async call<T>(send: (options: { timeoutMs: number; signal: AbortSignal }) => Promise<T>): Promise<T> {
    if (!this.breaker.allow()) {
      this.statusTracker.unreachable(BREAKER_OPEN);
      throw new Unavailable(`${UNREACHABLE_MESSAGE} (circuit breaker open)`, Code.Unavailable);
    }
    try {
      const answer = await send({ timeoutMs: this.timeoutMs, signal: this.stop.signal });
      this.breaker.succeeded();
      this.statusTracker.reached();
      return answer;
    } catch (error) {
      const classified = classify(error);
      if (!(classified instanceof Unavailable)) {
        // The service answered (with a refusal).
        this.breaker.succeeded();
        this.statusTracker.reached();
      } else if (!this.stop.signal.aborted) {
        this.breaker.failed();
        this.statusTracker.unreachable(whyOf(classified.code));
      }
      throw classified;
    }
  }

  /** [`ask`](#ask), shared by every caller asking the same while it is in flight; the answer is
   * stored in the cache when it arrives, even if every read has since served a stale view. */
  private askShared(id: ViewId, knownRevision: bigint): Promise<Sent> {
    const key = `${id.kind}\u0000${id.org}\u0000${id.server}\u0000${knownRevision}`;
    const inFlight = this.asking.get(key);
    if (inFlight !== undefined) return inFlight;
    const generation = this.cache.generation;
    const sent = this.ask(id, knownRevision)
      .then((answer) => this.apply(id, answer, generation))
      .finally(() => this.asking.delete(key));
    sent.catch(() => {}); // a failure nobody waits for any more is not unhandled
    this.asking.set(key, sent);
    return sent;
  }

  /** Stores an answer in the cache. */
  private apply(id: ViewId, answer: Answer, generation: number): Sent {
    const trust = this.cache.trust(id, answer.revision, generation);
    const entry =
      answer.notModified && this.cache.get(id) !== undefined
        ? this.cache.revalidated(id, answer.revision, trust)
        : this.stored(id, answer, trust);
    return { answer, trust, entry };
  }

  private ask(id: ViewId, knownRevision: bigint): Promise<Answer> {
    const request = { orgId: id.org, server: id.server, knownRevision, label: this.label };
    return this.call(async (options) => {
      if (id.kind === "Prompts") {
        const r = await this.transport.service.getPrompts(request, options);
        return { revision: r.revision, notModified: r.notModified, items: r.prompts, orgUnknown: r.orgUnknown };
      }
      const r = await this.transport.service.getResources(request, options);
      return { revision: r.revision, notModified: r.notModified, items: r.resources, orgUnknown: r.orgUnknown };
    });
  }

  /** The cached view if fresh (C-VIEW-2); else revalidated or fetched (C-VIEW-3), asked again
   * while behind (C-FLOOR-2); else served stale (C-STALE-1): when the service fails, or, if a
   * usable view is cached and no change past it was announced, when it has not answered within
   * `readBudgetMs` (the request then goes on in the background and updates the cache). */
  private async view<T extends PlainItem>(id: ViewId): Promise<View<T>> {
    for (let behindRetries = 0; ; behindRetries += 1) {
      const known = this.cache.get(id);
      if (known !== undefined && this.cache.isFresh(known, this.revalidateAfterMs)) {
        return viewOf(known);
      }
      const usable = known !== undefined && ageOf(known) <= this.maxStaleMs;
      // The budget is for a view that is merely old or untrusted (a silent or reconnected
      // source: the hung-service case). A view a change was announced past is known to be out
      // of date (a caller told `list_changed` reads again to get the change): wait the timeout.
      const budgeted = usable && !this.cache.announcedPast(id, known.revision);
      let sent: Sent | undefined;
      try {
        const asked = this.askShared(id, known?.revision ?? 0n);
        sent = budgeted ? await within(asked, this.readBudgetMs) : await asked;
      } catch (error) {
        if (!(error instanceof Unavailable)) throw error;
        return this.staleOrThrow(known, error);
      }
      if (sent === undefined) return viewOf(known as Entry, true); // not answered in the budget
      const { answer, trust, entry } = sent;
      // The replica that answered has not applied a change already announced (its own
      // invalidation is on its way): ask again shortly, a few times, then serve the answer as
      // stale (C-FLOOR-2): older than a change the caller may have been told of, so never
      // current; the next read revalidates.
      if (trust === "behind" && behindRetries < BEHIND_RETRIES) {
        await sleep(BEHIND_BACKOFF_MS * (behindRetries + 1), this.stop.signal);
        continue;
      }
      return entry === undefined
        ? { items: [], revision: Number(answer.revision), stale: null, orgUnknown: answer.orgUnknown }
        : viewOf(entry, trust === "behind");
    }
  }

  private stored(id: ViewId, answer: Answer, trust: Trust): Entry {
    const entry = this.cache.store(id, answer.revision, answer.items, trust, answer.orgUnknown);
    if (this.options.snapshot !== undefined) saveSnapshot(this.options.snapshot, this.cache, this.warn);
    return entry;
  }

  /** The cached view `id` when it may be served stale (C-STALE-1: no older than `maxStaleMs`),
   * for the answers made from it while the service cannot be reached (C-RENDER-1, C-RENDER-2). */
  private heldView<T extends PlainItem>(id: ViewId): View<T> | undefined {
    const known = this.cache.get(id);
    if (known === undefined || ageOf(known) > this.maxStaleMs) return undefined;
    return viewOf<T>(known, true);
  }

  /** The last known view while younger than `maxStaleMs` (C-STALE-1, C-STALE-2). */
  private staleOrThrow<T extends PlainItem>(known: Entry | undefined, error: Unavailable): View<T> {
    if (known !== undefined && ageOf(known) <= this.maxStaleMs) return viewOf(known, true);
    // No address or system error in the message (it may reach an MCP client): the original
    // error is the cause.
    throw new Unavailable(
      `${UNREACHABLE_MESSAGE} and no view younger than ${this.maxStaleMs} ms is known`,
      error.code,
      { cause: error.cause ?? error },
    );
  }
}

/** `promise`'s value, or undefined if it has not settled within `ms` (it goes on regardless). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A client of mcp-config; see `ConfigClientOptions`. Call `close()` when done. */
export function createConfigClient(options: ConfigClientOptions): ConfigClient {
  return new ConfigClient(options);
}

