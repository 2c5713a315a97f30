/**
 * Applies invalidation events to the cache and tells callers what changed (contract C-TRACK-*).
 *
 * Events are gap-free: each names the revision before it. A `previous_revision` other than the
 * last revision seen means one was missed, so nothing cached can be trusted and every view is
 * flushed. The same holds on every (re)connection of the source: correctness never depends on a
 * message arriving. Each source channel is a chain of its own: a server's own Redis channel names
 * that server's previous event, so several of them are tracked apart.
 */
import { type InvalidationEvent, Kind } from "../gen/mcp_config/v1/config_pb.js";
import type { Cache, ViewKind } from "./cache.js";
import type { ChangeFeed } from "./changes.js";

const KINDS = new Map<Kind, ViewKind>([
  [Kind.PROMPTS, "Prompts"],
  [Kind.RESOURCES, "Resources"],
]);

/** A progress event (the service's "nothing changed, the latest is R" on a quiet stream): no
 * kind, no server, and its revision is its previous one. */
export function isProgress(event: InvalidationEvent): boolean {
  return (
    event.kind === Kind.KIND_UNSPECIFIED &&
    event.server === "" &&
    event.revision === event.previousRevision
  );
}

export class Tracker {
  /** Per chain (the Watch stream, or one Redis channel), the last revision seen on it. */
  private readonly lasts = new Map<string, bigint>();
  private connectedBefore = false;

  constructor(
    private readonly cache: Cache,
    private readonly feed: ChangeFeed,
  ) {}

  /** The last revision seen on the default chain (0: none yet), for gap detection and Watch's
   * resume point. */
  get last(): bigint {
    return this.lasts.get("") ?? 0n;
  }

  set last(revision: bigint) {
    this.lasts.set("", revision);
  }

  /**
   * The source follows the changes (again). Views answered before this moment may predate a
   * change nobody heard of, so every one is marked out of date (C-SRC-2); after a reconnection
   * that is also announced, since a change may have been missed while away (C-SRC-3).
   */
  connected(): void {
    const ids = this.cache.invalidateAll();
    if (this.connectedBefore) this.announce(ids);
    this.connectedBefore = true;
    this.cache.setFollowing(true);
  }

  /** The source is gone: until it is back every read revalidates; nothing is announced yet
   * (the reconnection's flush does that) (C-SRC-4). */
  disconnected(): void {
    this.cache.setFollowing(false);
  }

  /** Applies one event of `chain`: the Watch stream (the default chain), or the Redis channel
   * it came on, whose revisions chain apart from the other channels' (a server's own channel
   * chains that server's events, and announces that server's progress). */
  onEvent(event: InvalidationEvent, chain = ""): void {
    const last = this.lasts.get(chain) ?? 0n;
    if (isProgress(event)) {
      // "The latest is R": nothing changed if this chain is at R; if behind, it missed some.
      if (last !== 0n && event.revision > last) this.flush();
      if (event.revision > last) this.lasts.set(chain, event.revision);
      return;
    }
    if (event.revision <= last) return;
    const gap = last !== 0n && event.previousRevision !== last;
    this.lasts.set(chain, event.revision);
    const kind = KINDS.get(event.kind);
    if (gap || kind === undefined) return this.flush();
    this.cache.invalidate(kind, event.orgId, event.server, event.revision);
    this.feed.publish({ type: "changed", org: event.orgId, server: event.server, kind, revision: event.revision });
  }

  /** Marks every view out of date and announces each as changed (C-FLUSH-1). */
  flush(): void {
    this.announce(this.cache.invalidateAll());
  }

  private announce(ids: ReturnType<Cache["invalidateAll"]>): void {
    for (const id of ids) this.feed.publish({ type: "changed", ...id, revision: 0n });
  }
}
