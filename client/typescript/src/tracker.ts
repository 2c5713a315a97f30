/**
 * Applies invalidation events to the cache and tells callers what changed (contract C-TRACK-*).
 *
 * Events are gap-free: each names the revision before it. A `previous_revision` other than the
 * last revision seen means one was missed, so nothing cached can be trusted and every view is
 * flushed. The same holds on every (re)connection of the source: correctness never depends on a
 * message arriving. Each source channel is a chain of its own: a server's own Redis channel names
 * that server's previous event, so several of them are tracked apart. A client reads at one release
 * label: a change that moved only other labels' views is no change to it, though it still advances
 * the chain (C-TRACK-5). A default's change that names orgs (a rollout's cohort moved) concerns
 * those orgs' views only (C-TRACK-6).
 */
import { type InvalidationEvent, Kind } from "../gen/mcp_config/v1/config_pb.js";
import type { Cache, ViewKind } from "./cache.js";
import type { ChangeFeed } from "./changes.js";

const KINDS = new Map<Kind, ViewKind>([
  [Kind.PROMPTS, "Prompts"],
  [Kind.RESOURCES, "Resources"],
]);

/** The label a client naming none reads at, as events name it. */
export const PRODUCTION = "production";

/** The label a client reads at, as events name it: `production` when it names none. */
export function labelName(label: string | undefined): string {
  return label === undefined || label === "" ? PRODUCTION : label;
}

/**
 * What one event means for the cached views (`classify`), and the chain's last revision after it:
 * - `progress`: a progress event at or below the last revision seen, nothing changed (C-TRACK-1);
 * - `replay`: an event at or below the last revision seen, ignored (C-TRACK-2);
 * - `flush`: a change may have been missed — a progress event ahead of the last revision seen, a
 *   gap, an event of an unknown kind (C-TRACK-1, C-TRACK-3): every view is out of date;
 * - `invalidate`: the views the event names are out of date: its kind and server, of its org or,
 *   when its org is empty (a default changed), of every org (C-TRACK-4) — of each org it lists in
 *   `orgs` only, when it lists any (C-TRACK-6, `changedOrgs`);
 * - `other-label`: a change of other labels' views than the client's: nothing to drop or
 *   announce, but no replay or gap either: the chain advances (C-TRACK-5).
 */
export type Step =
  | { action: "progress" | "replay" | "flush" | "other-label"; last: bigint }
  | { action: "invalidate"; kind: ViewKind; last: bigint };

/** The tracker's rules (contract C-TRACK-1..5; which orgs, C-TRACK-6, is `changedOrgs`) in one
 * place: what `event` means to a client reading at `label` (`production` when empty), given `last`,
 * the last revision seen on its chain (0: none yet). The contract vectors (client/contract-vectors/)
 * run through it. */
export function classify(event: InvalidationEvent, last: bigint, label: string = PRODUCTION): Step {
  // A progress event, the service's "nothing changed, the latest is R" on a quiet stream: no kind,
  // no server, and its revision is its previous one. Nothing changed if the chain is at R; if it
  // is behind, it missed what came between.
  if (event.kind === Kind.KIND_UNSPECIFIED && event.server === "" && event.revision === event.previousRevision) {
    const behind = last !== 0n && event.revision > last;
    return { action: behind ? "flush" : "progress", last: event.revision > last ? event.revision : last };
  }
  if (event.revision <= last) return { action: "replay", last };
  if (last !== 0n && event.previousRevision !== last) return { action: "flush", last: event.revision };
  const kind = KINDS.get(event.kind);
  if (kind === undefined) return { action: "flush", last: event.revision };
  // An event naming labels concerns only their views; one naming none, every label's (an event
  // from before labels). Checked after the progress, replay and gap rules, and only for a known
  // kind: an unknown kind flushes whatever it names.
  if (event.labels.length > 0 && !event.labels.includes(labelName(label))) {
    return { action: "other-label", last: event.revision };
  }
  return { action: "invalidate", kind, last: event.revision };
}

/** The orgs whose views an event to apply (`invalidate`) changed, each as an event's `orgId`: its
 * own org, or `""` for every org (a default, C-TRACK-4); for a default that lists `orgs` (a rollout
 * moved those orgs in or out of its cohort), each listed org and no other — not the defaults-only
 * view either (C-TRACK-6). */
export function changedOrgs(event: InvalidationEvent): readonly string[] {
  return event.orgId === "" && event.orgs.length > 0 ? event.orgs : [event.orgId];
}

/** Whether `event` is a progress event: `classify`'s rule, asked at the event's own revision
 * (where any other event is a replay). */
export function isProgress(event: InvalidationEvent): boolean {
  return classify(event, event.revision).action === "progress";
}

export class Tracker {
  /** Per chain (the Watch stream, or one Redis channel), the last revision seen on it. */
  private readonly lasts = new Map<string, bigint>();
  private connectedBefore = false;
  /** The label the client reads at, as events name it (C-TRACK-5). */
  readonly label: string;

  /** A tracker for a client reading at `label` (empty or absent: `production`). */
  constructor(
    private readonly cache: Cache,
    private readonly feed: ChangeFeed,
    label?: string,
  ) {
    this.label = labelName(label);
  }

  /** The last revision seen on the default chain (0: none yet), for gap detection and Watch's
   * resume point. */
  get last(): bigint {
    return this.lasts.get("") ?? 0n;
  }

  set last(revision: bigint) {
    this.lasts.set("", revision);
  }

  /** The last revision seen on `chain` (0: none yet). */
  lastOn(chain: string): bigint {
    return this.lasts.get(chain) ?? 0n;
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
    const step = classify(event, this.lastOn(chain), this.label);
    this.lasts.set(chain, step.last);
    if (step.action === "flush") return this.flush();
    if (step.action !== "invalidate") return;
    const { kind } = step;
    for (const org of changedOrgs(event)) {
      this.cache.invalidate(kind, org, event.server, event.revision);
      this.feed.publish({ type: "changed", org, server: event.server, kind, revision: Number(event.revision) });
    }
  }

  /** Marks every view out of date and announces each as changed (C-FLUSH-1). */
  flush(): void {
    this.announce(this.cache.invalidateAll());
  }

  private announce(ids: ReturnType<Cache["invalidateAll"]>): void {
    for (const id of ids) this.feed.publish({ type: "changed", ...id, revision: 0 });
  }
}
