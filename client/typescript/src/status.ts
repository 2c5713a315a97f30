/**
 * The client's status (contract C-STATUS-1, C-STATUS-2): `starting` until a call first reaches
 * the service, `ready` while the last call reached it (a refusal counts), `stale` while the last
 * one could not (the codes of C-STALE-1) or the circuit breaker held it back. Each change is one
 * event to every listener, in order; repeated failures or successes send nothing.
 */
import { Code } from "./errors.js";

export type Status =
  | { readonly state: "starting" }
  | { readonly state: "ready" }
  /** `since`: when the first failed call of this run failed, in milliseconds since the epoch;
   * `why`: the kind of that failure ("timed out", "unreachable", "breaker open"…), never an
   * address. */
  | { readonly state: "stale"; readonly since: number; readonly why: string };

export type StatusEvent =
  /** The service was reached for the first time. */
  | { readonly type: "ready" }
  /** A call could not reach the service (from `starting` or `ready`). */
  | { readonly type: "stale"; readonly since: number; readonly why: string }
  /** A call reached the service again after `staleForMs` of staleness; the status is `ready`. */
  | { readonly type: "recovered"; readonly staleForMs: number };

/** `why` of a call held back by the open circuit breaker. */
export const BREAKER_OPEN = "breaker open";

/** A short, address-free reason for a call that could not reach the service. */
export function whyOf(code: Code): string {
  switch (code) {
    case Code.DeadlineExceeded:
      return "timed out";
    case Code.Unavailable:
      return "unreachable";
    case Code.Canceled:
      return "call cancelled";
    case Code.Internal:
      return "no answer (internal error)";
    default:
      return "no answer (unknown error)";
  }
}

export class StatusTracker {
  private current: Status = { state: "starting" };
  /** When the stale run began, on the monotonic clock (for `staleForMs`). */
  private staleAt = 0;
  private readonly listeners = new Set<(event: StatusEvent) => void>();

  constructor(private readonly warn: (message: string) => void) {}

  get status(): Status {
    return this.current;
  }

  listen(listener: (event: StatusEvent) => void): () => void {
    // A wrapper per call, so the same function listening twice is two listeners.
    const wrapped = (event: StatusEvent) => listener(event);
    this.listeners.add(wrapped);
    return () => {
      this.listeners.delete(wrapped);
    };
  }

  /** A call reached the service (answered, or refused the request). */
  reached(): void {
    const was = this.current.state;
    if (was === "ready") return;
    this.current = { state: "ready" };
    this.emit(
      was === "starting"
        ? { type: "ready" }
        : { type: "recovered", staleForMs: Math.max(0, performance.now() - this.staleAt) },
    );
  }

  /** A call could not reach the service, for `why`. */
  unreachable(why: string): void {
    if (this.current.state === "stale") return;
    const since = Date.now();
    this.staleAt = performance.now();
    this.current = { state: "stale", since, why };
    this.emit({ type: "stale", since, why });
  }

  private emit(event: StatusEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        // A listener's failure is not the call's.
        this.warn(`a status listener threw: ${error}`);
      }
    }
  }
}
