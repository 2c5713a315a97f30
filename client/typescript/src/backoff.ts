/**
 * Waits between attempts to reopen an invalidation source (contract C-SRC-5): doubling from
 * 100 ms to 5 s, with jitter so a fleet of MCP servers does not reconnect in step after a
 * service restart, reset once connected.
 */
const FIRST_MS = 100;
const MAX_MS = 5_000;

export class Backoff {
  private attempt = 0;

  reset(): void {
    this.attempt = 0;
  }

  /** The next delay in milliseconds. */
  next(): number {
    const base = Math.min(FIRST_MS * 2 ** this.attempt, MAX_MS);
    this.attempt = Math.min(this.attempt + 1, 16);
    return Math.min(base * (1 + Math.random()), MAX_MS);
  }

  /** Sleeps the next delay; returns early (without throwing) when `signal` aborts. */
  sleep(signal: AbortSignal): Promise<void> {
    return sleep(this.next(), signal);
  }
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
