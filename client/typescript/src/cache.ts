/**
 * The client's views: the last one fetched per (kind, org, server), whether it is known to be
 * current, and what the invalidations seen so far require of an answer before it may be called
 * current (contract C-VIEW-*, C-FLOOR-*, C-FLUSH-*).
 *
 * An invalidation never deletes a view: it only marks it out of date, so the next read can
 * revalidate it cheaply with `known_revision` and, if the service is down, still serve it stale.
 */
import type * as pb from "../gen/mcp_config/v1/config_pb.js";
import { type Prompt, type Resource, plain } from "./plain.js";

/** The two lists a server exposes (spelled as in the snapshot file). */
export type ViewKind = "Prompts" | "Resources";

/** Which view: an empty `org` is the defaults-only view. */
export interface ViewId {
  readonly kind: ViewKind;
  readonly org: string;
  readonly server: string;
}

/** A view as a caller gets it: plain, JSON-safe, its items frozen (`plain.ts`). */
export interface View<T> {
  readonly items: readonly T[];
  /** The highest revision that touched this view. */
  readonly revision: number;
  /**
   * `null` when the service confirmed the view; else the view is the last known one, served
   * because the service could not be reached, and this is its age in milliseconds (since the
   * service last confirmed it).
   */
  readonly stale: number | null;
  /**
   * True when the org names no registered org: the view is the defaults alone, as an org without
   * overrides sees them, and this tells the two apart. False for a registered org and for the
   * defaults-only view (org `""`). A `not_modified` answer keeps the value held (registering an
   * org moves its views' revision, so an unchanged revision means an unchanged answer).
   */
  readonly orgUnknown: boolean;
}

/** An item as the service sends it (and the snapshot stores it). */
export type Item = pb.Prompt | pb.Resource;

/** An item as a caller gets it. */
export type PlainItem = Prompt | Resource;

/** A cached view. `confirmed` is on the monotonic clock (`performance.now()`). */
export interface Entry {
  revision: bigint;
  items: readonly Item[];
  /** The service's `org_unknown` of the last full answer (`View.orgUnknown`). */
  orgUnknown: boolean;
  /** `items` as callers get them, made at the first read and shared by every read (frozen). */
  plain?: readonly PlainItem[];
  confirmed: number;
  /** False once an invalidation (or a (re)connection, or a gap) says it may be out of date. */
  current: boolean;
}

/** How far an answer can be trusted (C-FLOOR-1, C-FLUSH-2). */
export type Trust = "current" | "behind" | "unsure";

export function keyOf(id: ViewId): string {
  return `${id.kind}\u0000${id.org}\u0000${id.server}`;
}

export function ageOf(entry: Entry): number {
  return performance.now() - entry.confirmed;
}

export function viewOf<T extends PlainItem>(entry: Entry, stale = false): View<T> {
  entry.plain ??= plain(entry.items) as readonly PlainItem[];
  return {
    items: entry.plain as readonly T[],
    revision: Number(entry.revision),
    stale: stale ? ageOf(entry) : null,
    orgUnknown: entry.orgUnknown,
  };
}

export class Cache {
  private readonly entries = new Map<string, { id: ViewId; entry: Entry }>();
  /**
   * Per (kind, org, server): the revision of the last event about it (org empty: a default, so
   * every org of that server), whether or not the view is cached yet. An answer below it
   * predates a change already announced: the replica that answered has not applied it yet.
   */
  private readonly floors = new Map<string, bigint>();
  /** Raised by every flush: an answer to a request sent before one may predate a missed change. */
  private generationCount = 0;
  /** Whether the invalidation source is connected; while it is not, no view is current. */
  private followingNow = false;
  private readonly followers: Array<() => void> = [];

  get generation(): number {
    return this.generationCount;
  }

  get following(): boolean {
    return this.followingNow;
  }

  get(id: ViewId): Entry | undefined {
    return this.entries.get(keyOf(id))?.entry;
  }

  /** Current, heard about by a connected source, and young enough that no safety-net
   * revalidation is due (C-VIEW-2). */
  isFresh(entry: Entry, revalidateAfterMs: number): boolean {
    return entry.current && this.followingNow && ageOf(entry) < revalidateAfterMs;
  }

  setFollowing(following: boolean): void {
    this.followingNow = following;
    if (following) for (const wake of this.followers.splice(0)) wake();
  }

  untilFollowing(): Promise<void> {
    if (this.followingNow) return Promise.resolve();
    return new Promise((resolve) => this.followers.push(resolve));
  }

  /** Whether an answer at `revision` to a request sent at `generation` is current. */
  trust(id: ViewId, revision: bigint, generation: number): Trust {
    if (this.announcedPast(id, revision)) return "behind";
    return generation === this.generationCount ? "current" : "unsure";
  }

  /** Whether a change to the view past `revision` has been announced (an event of a higher
   * revision about it): a view at `revision` is then known to be out of date. */
  announcedPast(id: ViewId, revision: bigint): boolean {
    return revision < this.floorOf(id);
  }

  /** The revision of the last event about the view: of its own org or a default's (C-FLOOR-1). */
  private floorOf(id: ViewId): bigint {
    const floor = (org: string) => this.floors.get(keyOf({ ...id, org })) ?? 0n;
    const defaults = floor("");
    const own = floor(id.org);
    return defaults > own ? defaults : own;
  }

  store(id: ViewId, revision: bigint, items: readonly Item[], trust: Trust, orgUnknown = false): Entry {
    const entry = { revision, items, orgUnknown, confirmed: performance.now(), current: trust === "current" };
    this.entries.set(keyOf(id), { id, entry });
    return entry;
  }

  /** The service said the view it holds is still the latest, at `revision` (`orgUnknown` too:
   * a `not_modified` answer does not carry it). */
  revalidated(id: ViewId, revision: bigint, trust: Trust): Entry | undefined {
    const entry = this.get(id);
    if (entry === undefined) return undefined;
    entry.revision = revision;
    entry.confirmed = performance.now();
    entry.current = trust === "current";
    return entry;
  }

  /** Marks the views an event of `revision` names as out of date (an empty org: every org's
   * view of that server) and raises their floor (C-FLOOR-1). */
  invalidate(kind: ViewKind, org: string, server: string, revision: bigint): void {
    const floorKey = keyOf({ kind, org, server });
    const floor = this.floors.get(floorKey) ?? 0n;
    if (revision > floor) this.floors.set(floorKey, revision);
    for (const { id, entry } of this.entries.values()) {
      if (id.kind === kind && id.server === server && (org === "" || id.org === org)) {
        entry.current = false;
      }
    }
  }

  /** Marks every view out of date and raises the generation (C-FLUSH-1); returns their ids. */
  invalidateAll(): ViewId[] {
    this.generationCount += 1;
    return [...this.entries.values()].map(({ id, entry }) => {
      entry.current = false;
      return id;
    });
  }

  all(): Array<{ id: ViewId; entry: Entry }> {
    return [...this.entries.values()];
  }

  /** Adds a view loaded from a snapshot, unless a fetched one is already there. */
  restore(id: ViewId, entry: Entry): void {
    if (!this.entries.has(keyOf(id))) this.entries.set(keyOf(id), { id, entry });
  }
}
