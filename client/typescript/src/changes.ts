/**
 * Change notifications for callers: which (org, server, kind) changed (contract C-FEED-*).
 *
 * An MCP server turns each into `notifications/prompts/list_changed` (or resources) for its own
 * clients. Every `changes()` iterator has its own bounded queue, so a slow consumer never blocks
 * the invalidation source or the other consumers. One more than `capacity` behind loses the
 * oldest notifications and is told so: its next item is a `Lagged` (once per overflow), before
 * the notifications it still holds. Each notification is only a hint to re-list and the cache is
 * correct regardless, so after a `Lagged` a consumer should assume anything may have changed.
 */
import type { ViewKind } from "./cache.js";

export const DEFAULT_CAPACITY = 1024;

/** A view that changed. An empty `org` means a default changed: every org of `server` (a default a
 * rollout changed for some orgs only is one `Changed` per such org, C-TRACK-6). */
export interface Changed {
  readonly type: "changed";
  readonly org: string;
  readonly server: string;
  readonly kind: ViewKind;
  /** The change's revision: reads of this view from now on answer at it or a newer one (or
   * stale). 0 when the view is announced because changes may have been missed (a gap, a
   * reconnection). */
  readonly revision: number;
}

/** The iterator fell behind and lost its `missed` oldest notifications. */
export interface Lagged {
  readonly type: "lagged";
  readonly missed: number;
}

/** Whether `change` touches what `org` sees from `server` (its own entries, or a default). */
export function concerns(change: Changed, org: string, server: string): boolean {
  return change.server === server && (change.org === "" || change.org === org);
}

/** One consumer's queue; an async iterator of `Changed | Lagged`. */
export class Subscription implements AsyncIterableIterator<Changed | Lagged> {
  private readonly pending: Changed[] = [];
  private missed = 0;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly capacity: number,
    private readonly forget: (subscription: Subscription) => void,
  ) {
    if (capacity < 1) throw new RangeError(`a subscription holds at least one notification`);
  }

  /** Queues `change`; when full, drops the oldest queued one, to be reported as lost. */
  offer(change: Changed): void {
    if (this.closed) return;
    if (this.pending.length >= this.capacity) {
      this.pending.shift();
      this.missed += 1;
    }
    this.pending.push(change);
    this.wake?.();
  }

  /** Unsubscribes; an iteration in progress ends after the notifications already queued. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.forget(this);
    this.wake?.();
  }

  async next(): Promise<IteratorResult<Changed | Lagged>> {
    for (;;) {
      // The lost notifications were older than every queued one: reported first.
      if (this.missed > 0) {
        const missed = this.missed;
        this.missed = 0;
        return { done: false, value: { type: "lagged", missed } };
      }
      const change = this.pending.shift();
      if (change !== undefined) return { done: false, value: change };
      if (this.closed) return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  /** Called by `break` out of a `for await`: unsubscribes. */
  async return(): Promise<IteratorResult<Changed | Lagged>> {
    this.close();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** Fans each notification out to every subscription and callback. */
export class ChangeFeed {
  private readonly subscriptions = new Set<Subscription>();
  private readonly callbacks = new Set<(change: Changed) => void>();

  subscribe(capacity = DEFAULT_CAPACITY): Subscription {
    const subscription = new Subscription(capacity, (s) => this.subscriptions.delete(s));
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** Calls `callback` for every notification from now on; returns the unsubscribe function. */
  listen(callback: (change: Changed) => void): () => void {
    this.callbacks.add(callback);
    return () => this.callbacks.delete(callback);
  }

  publish(change: Changed): void {
    for (const subscription of this.subscriptions) subscription.offer(change);
    for (const callback of this.callbacks) callback(change);
  }

  /** Ends every subscription's iteration and drops every callback. */
  close(): void {
    for (const subscription of [...this.subscriptions]) subscription.close();
    this.callbacks.clear();
  }
}
