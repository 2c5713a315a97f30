/**
 * `FakeConfigClient`: an in-memory stand-in for `ConfigClient` in unit tests of code built on it
 * (an MCP server with a `ConfigLoader`, a handler that reads prompts): no service, no network, no
 * timers. A test sets the views (`setPrompts`, `setResources`); each set announces the change as
 * the real client announces an invalidation, so `list_changed` reaches an installed loader's
 * sessions. Answers have the real client's shapes and rules where they are the client's own:
 * plain frozen items, prompts rendered by the same local renderer (`render.ts`: a missing
 * argument is the same `InvalidArgument`), resources read by exact URI, the status and its
 * events. What the service decides is the test's to set instead: which items an org sees, its
 * `orgUnknown`, a view's staleness, an outage (`setUnavailable`).
 *
 * ```ts
 * import { FakeConfigClient } from "@mcp-config/client/testing";
 * const fake = new FakeConfigClient();
 * fake.setPrompts("acme", "github", [{ name: "review", messages: [{ role: "user", text: "Review {{ repo }}." }] }]);
 * const loader = new ConfigLoader({ client: fake, server: "github" });
 * ```
 */
import type { PlainItem, View, ViewKind } from "./cache.js";
import { type Changed, ChangeFeed, type Subscription } from "./changes.js";
import { Code, NotFound, UNREACHABLE_MESSAGE, Unavailable } from "./errors.js";
import { type PromptInit, type ResourceInit, promptOf, resourceOf } from "./init.js";
import { readHeld, renderHeld } from "./local.js";
import type { Prompt, RenderedPrompt, Resource, ResourceRead } from "./plain.js";
import type { ConfigReader } from "./reader.js";
import { type Status, type StatusEvent, StatusTracker, whyOf } from "./status.js";

/** How a set view reads, besides its items. */
export interface FakeViewOptions {
  /** The view's `orgUnknown`: the org names no registered org, so the items are the defaults
   * (false). */
  orgUnknown?: boolean;
  /** Served stale, this many milliseconds old, as the real client serves a view it holds while
   * the service cannot be reached (null: confirmed by the service, the default). Reading it
   * makes the status `stale`, as such a read does. */
  stale?: number | null;
}

interface Held {
  readonly items: readonly PlainItem[];
  readonly revision: number;
  readonly orgUnknown: boolean;
  readonly stale: number | null;
}

export class FakeConfigClient implements ConfigReader {
  private readonly views = new Map<string, Held>();
  private readonly feed = new ChangeFeed();
  private readonly statusTracker = new StatusTracker(() => {});
  /** The revision of the last set: one counter for every view, as the service's. */
  private revision = 0;
  private unavailable = false;

  /** Sets what `prompts(org, server)` answers (org `""`: the defaults-only view) and announces
   * the change; the view's revision is a new one. Returns the view as reads will give it. */
  setPrompts(org: string, server: string, prompts: readonly PromptInit[], options: FakeViewOptions = {}): View<Prompt> {
    return this.set("Prompts", org, server, prompts.map(promptOf), options) as View<Prompt>;
  }

  /** Sets what `resources(org, server)` answers and announces the change, as `setPrompts`. */
  setResources(
    org: string,
    server: string,
    resources: readonly ResourceInit[],
    options: FakeViewOptions = {},
  ): View<Resource> {
    return this.set("Resources", org, server, resources.map(resourceOf), options) as View<Resource>;
  }

  /**
   * While `true`, every call fails with `Unavailable`, as the real client's do when the service
   * cannot be reached and it holds no usable view (the status turns `stale`); from `false` on
   * they answer again (the next call: `recovered`). A view served stale instead is set with
   * `stale`. Announces nothing, as an outage does not.
   */
  setUnavailable(unavailable: boolean): void {
    this.unavailable = unavailable;
  }

  /** The prompts set for (org, server); an empty view at revision 0 when none was set. */
  async prompts(org: string, server: string): Promise<View<Prompt>> {
    return this.view("Prompts", org, server) as View<Prompt>;
  }

  /** The resources set for (org, server); an empty view at revision 0 when none was set. */
  async resources(org: string, server: string): Promise<View<Resource>> {
    return this.view("Resources", org, server) as View<Resource>;
  }

  /** The prompt `name` of the set view rendered with `args` by the client's local renderer (a
   * missing argument: `InvalidArgument`; a failing template: `RenderError`); `NotFound` when the
   * view has no such prompt. */
  async prompt(org: string, server: string, name: string, args: Record<string, string> = {}): Promise<RenderedPrompt> {
    const held = this.view("Prompts", org, server) as View<Prompt>;
    const rendered = renderHeld(held.items, name, args, held.revision);
    if (rendered === undefined) throw new NotFound(`prompt "${name}" of ${scope(org, server)} not found`, Code.NotFound);
    return rendered;
  }

  /** The contents of the resource of exactly `uri` in the set view; `NotFound` when there is
   * none. A URI that only a resource template matches is not read here (the service renders
   * it): set a resource of that URI to read it. */
  async readResource(org: string, server: string, uri: string): Promise<ResourceRead> {
    const held = this.view("Resources", org, server) as View<Resource>;
    const read = readHeld(held.items, uri, held.revision);
    if (read === undefined) throw new NotFound(`resource "${uri}" of ${scope(org, server)} not found`, Code.NotFound);
    return read;
  }

  changes(capacity?: number): Subscription {
    return this.feed.subscribe(capacity);
  }

  onChange(callback: (change: Changed) => void): () => void {
    return this.feed.listen(callback);
  }

  status(): Status {
    return this.statusTracker.status;
  }

  onStatus(listener: (event: StatusEvent) => void): () => void {
    return this.statusTracker.listen(listener);
  }

  /** At once: the fake follows every change it makes. */
  async waitForSource(): Promise<void> {}

  /** Ends every `changes()` iteration and drops every `onChange` callback. */
  async close(): Promise<void> {
    this.feed.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private set(kind: ViewKind, org: string, server: string, items: readonly PlainItem[], options: FakeViewOptions): View<PlainItem> {
    this.revision += 1;
    const held: Held = {
      items: Object.freeze(items),
      revision: this.revision,
      orgUnknown: options.orgUnknown ?? false,
      stale: options.stale ?? null,
    };
    this.views.set(keyOf(kind, org, server), held);
    this.feed.publish({ type: "changed", org, server, kind, revision: held.revision });
    return viewOf(held);
  }

  /** The view a call answers from; a call while unavailable fails, and each call tells the
   * status what the real one's would have (a stale view: the service was not reached). */
  private view(kind: ViewKind, org: string, server: string): View<PlainItem> {
    if (this.unavailable) {
      this.statusTracker.unreachable(whyOf(Code.Unavailable));
      throw new Unavailable(UNREACHABLE_MESSAGE, Code.Unavailable);
    }
    const held = this.views.get(keyOf(kind, org, server)) ?? EMPTY;
    if (held.stale === null) this.statusTracker.reached();
    else this.statusTracker.unreachable(whyOf(Code.Unavailable));
    return viewOf(held);
  }
}

const EMPTY: Held = { items: Object.freeze([]), revision: 0, orgUnknown: false, stale: null };

function keyOf(kind: ViewKind, org: string, server: string): string {
  return `${kind}\u0000${org}\u0000${server}`;
}

/** A fresh view object per read, as the real client's; the items are shared and frozen. */
function viewOf(held: Held): View<PlainItem> {
  return { items: held.items, revision: held.revision, stale: held.stale, orgUnknown: held.orgUnknown };
}

function scope(org: string, server: string): string {
  return org === "" ? `the defaults of ${server}` : `${org}/${server}`;
}
