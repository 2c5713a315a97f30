/**
 * Follows the service's `Watch` stream (contract C-SRC-1, C-SRC-6): from the last revision seen,
 * so a reconnection replays what it missed; `silenceMs` without a message (the service sends a
 * progress event every 5 s) is taken as a cut, since a hung service or a partition closes nothing.
 * Given `servers`, only their events come (the service then chains `previousRevision` through
 * the events it sends, so another server's change is no gap). Only events touching the views of
 * the tracker's label, or naming no label, come (C-TRACK-5).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { Backoff } from "../backoff.js";
import type { Tracker } from "../tracker.js";
import type { ServiceClient } from "../transport.js";

export async function followWatch(
  service: ServiceClient,
  tracker: Tracker,
  servers: readonly string[],
  silenceMs: number,
  stop: AbortSignal,
  /** Called when the stream opens: the service is reachable again. */
  onConnected: () => void = () => {},
): Promise<void> {
  const backoff = new Backoff();
  while (!stop.aborted) {
    const silence = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const quiet = () => {
      clearTimeout(timer);
      timer = setTimeout(() => silence.abort(), silenceMs);
    };
    let open = false;
    try {
      quiet();
      const stream = service.watch(
        { sinceRevision: tracker.last, servers: [...servers], label: tracker.label },
        {
          signal: AbortSignal.any([stop, silence.signal]),
          // The response headers: the service has subscribed, no later change can be missed.
          onHeader: () => {
            open = true;
            tracker.connected();
            backoff.reset();
            onConnected();
          },
        },
      );
      for await (const event of stream) {
        quiet();
        tracker.onEvent(event);
      }
    } catch (error) {
      // The resume point was pruned from the change log: start over from live events.
      if (ConnectError.from(error).code === Code.OutOfRange) tracker.last = 0n;
    } finally {
      clearTimeout(timer);
      if (open) tracker.disconnected();
    }
    await backoff.sleep(stop);
  }
}
