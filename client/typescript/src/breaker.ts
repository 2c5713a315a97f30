/**
 * A circuit breaker on the calls to the service: after `threshold` consecutive failures to reach
 * it (timeouts, connection errors; never the service's own refusals), no call is sent for
 * `coolDownMs`; then one is let through (half-open): its success closes the breaker, its failure
 * opens it again for another cool-down.
 */
export class Breaker {
  private failures = 0;
  /** When the breaker opened (monotonic clock); undefined while closed. */
  private openedAt: number | undefined;
  /** Whether the one half-open trial call is in flight. */
  private trying = false;

  constructor(
    private readonly threshold: number,
    private readonly coolDownMs: number,
  ) {}

  /** Whether a call may be sent now; true at most once per cool-down while open (the trial). */
  allow(): boolean {
    if (this.openedAt === undefined) return true;
    if (this.trying || performance.now() - this.openedAt < this.coolDownMs) return false;
    this.trying = true;
    return true;
  }

  /** The service answered (with a view or a refusal). */
  succeeded(): void {
    this.failures = 0;
    this.openedAt = undefined;
    this.trying = false;
  }

  /** The service could not be reached. */
  failed(): void {
    this.failures += 1;
    if (this.trying || this.failures >= this.threshold) this.openedAt = performance.now();
    this.trying = false;
  }
}
