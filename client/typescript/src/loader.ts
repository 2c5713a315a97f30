/**
 * `ConfigLoader`: what an MCP server built on the official TypeScript SDK needs from mcp-config,
 * for one of its servers (`github`, `slack`, …), by the org of each request. Three lines:
 *
 * ```ts
 * const client = createConfigClient({ endpoint: "http://127.0.0.1:50051" });
 * const loader = new ConfigLoader({ client, server: "github" });
 * loader.install(mcpServer, "acme"); // before mcpServer.connect(transport)
 * ```
 *
 * - `install(server, org)` answers `prompts/list`, `prompts/get`, `resources/list`,
 *   `resources/templates/list` and `resources/read` on an SDK server of either major, high- or
 *   low-level (`sdk.ts`), next to what the server serves itself (its tools). Errors become MCP
 *   errors carrying the service's message. Prompt messages become MCP content blocks of every
 *   kind; resources whose URI is a template are listed as resource templates only, and a URI
 *   one matches is read like any other (the service matches it and renders the contents);
 * - `listen(org, target)` tells `target` when a list `org` sees changed (its own entries or a
 *   default), and both lists after a lost notification, until the returned function is called.
 *   `install` with a fixed org listens for its server; a server that finds the org per request
 *   calls it for each legacy session or each org's `subscriptions/listen` notifier;
 * - a `fallback` (`fallback.ts`) is served for a view the service cannot answer when no copy of
 *   it is known (a server started with the service down): the client serves a known copy stale
 *   instead (up to `maxStaleMs`), so the fallback does not hide mcp-config's entries once they
 *   were seen. Such a view is asked for again every `PROBE_MS` until the service answers, then
 *   announced as changed to its org's targets: their clients list again and get mcp-config's
 *   entries.
 */
import { sleep } from "./backoff.js";
import type { PlainItem, View, ViewKind } from "./cache.js";
import { type Changed, type Lagged, type Subscription, concerns } from "./changes.js";
import { ConfigError, InvalidArgument, NotFound, Unavailable } from "./errors.js";
import type { Fallback } from "./fallback.js";
import { mcpContents, mcpPrompt, mcpRendered, mcpResourceTemplates, mcpResources } from "./mcp.js";
import type { Prompt } from "./plain.js";
import type { ConfigReader } from "./reader.js";
import {
  INTERNAL_ERROR,
  INVALID_PARAMS,
  type LoaderMethod,
  McpRequestError,
  type Params,
  type SdkMcpServer,
  type SdkServer,
  argumentsParam,
  lowLevel,
  onClose,
  quietly,
  serve,
  stringParam,
} from "./sdk.js";

/** How often a view served from the fallback is asked for again until the service answers (the
 * client's circuit breaker bounds the calls actually sent while it cannot). */
const PROBE_MS = 1_000;

/** Who is told that a list changed. */
export interface ListChangedTarget {
  promptsChanged(): void;
  resourcesChanged(): void;
}

export interface ConfigLoaderOptions {
  /** A `ConfigClient`, or in unit tests a `FakeConfigClient` (`@mcp-config/client/testing`). */
  client: ConfigReader;
  /** The MCP server's name in mcp-config. */
  server: string;
  /** What the server hard-coded: served for a view while the service cannot answer and no copy
   * of it is known. */
  fallback?: Fallback;
}

export class ConfigLoader {
  private readonly client: ConfigReader;
  readonly server: string;
  private readonly fallback: Fallback;
  private readonly targets = new Map<ListChangedTarget, string>();
  private readonly changes: Subscription;
  /** The views served from the fallback (by kind and org), each with a probe asking for it. */
  private readonly onFallback = new Set<string>();
  private readonly stop = new AbortController();

  constructor({ client, server, fallback = {} }: ConfigLoaderOptions) {
    this.client = client;
    this.server = server;
    this.fallback = fallback;
    this.changes = client.changes();
    void this.forward();
  }

  async listPrompts(org: string) {
    const view = await this.prompts(org);
    return { prompts: view?.items.map(mcpPrompt) ?? this.givenPrompts().map((p) => p.prompt) };
  }

  /** The prompt rendered by the service; a fallback prompt's messages as given while the org's
   * prompts are served from the fallback. */
  async getPrompt(org: string, name: string, args: Record<string, string> = {}) {
    try {
      return mcpRendered(await this.client.prompt(org, this.server, name, args));
    } catch (error) {
      const given = this.givenPrompts().find((p) => p.prompt.name === name);
      if (given === undefined || !(error instanceof Unavailable) || (await this.prompts(org)) !== undefined) {
        throw mcpError(error);
      }
      return { description: given.prompt.description, messages: [...given.messages] };
    }
  }

  async listResources(org: string) {
    const view = await this.resources(org);
    return {
      resources: view === undefined ? this.givenResources().map((r) => r.resource) : mcpResources(view.items),
    };
  }

  /** The resource templates: the same view as `listResources`, its other part (a fallback has
   * none). */
  async listResourceTemplates(org: string) {
    const view = await this.resources(org);
    return { resourceTemplates: view === undefined ? [] : mcpResourceTemplates(view.items) };
  }

  /** The contents the service reads; a fallback resource's as given while the org's resources
   * are served from the fallback. */
  async readResource(org: string, uri: string) {
    try {
      return mcpContents(await this.client.readResource(org, this.server, uri));
    } catch (error) {
      const given = this.givenResources().find((r) => r.resource.uri === uri);
      if (given === undefined || !(error instanceof Unavailable) || (await this.resources(org)) !== undefined) {
        throw mcpError(error);
      }
      return { contents: [...given.contents] };
    }
  }

  /**
   * Serves the loader's methods on `server`, a v1 or v2 SDK `McpServer` or low-level `Server`,
   * for `org`: a fixed org, or the one a function finds in each request's context (v1's `extra`,
   * v2's `ctx`). Declares prompts and resources with `listChanged`, so call it before `connect`.
   * With a fixed org the server is told of that org's changes (legacy sessions) until it closes
   * or the returned function is called; with a function, call `listen` per session or org (a
   * per-request server, as v2's `createMcpHandler` makes, never closes a `subscriptions/listen`
   * it did not connect, so it must not be the one told).
   */
  install<Context>(
    server: SdkServer<Context> | SdkMcpServer<Context>,
    org: string | ((ctx: Context) => string),
  ): () => void {
    const low = lowLevel(server);
    const orgOf = typeof org === "string" ? () => org : org;
    serve(low, (method, params, ctx) => this.answer(method, params, orgOf(ctx)));
    if (typeof org !== "string") return () => {};
    const stop = this.listen(org, {
      promptsChanged: () => void quietly(() => low.sendPromptListChanged()),
      resourcesChanged: () => void quietly(() => low.sendResourceListChanged()),
    });
    onClose(low, stop);
    return stop;
  }

  /** Tells `target` of every change to what `org` sees, until the returned function is called. */
  listen(org: string, target: ListChangedTarget): () => void {
    this.targets.set(target, org);
    return () => this.targets.delete(target);
  }

  /** Stops forwarding changes and asking for views served from the fallback. */
  close(): void {
    this.stop.abort();
    this.changes.close();
    this.targets.clear();
  }

  private answer(method: LoaderMethod, params: Params, org: string): Promise<object> {
    switch (method) {
      case "prompts/list":
        return this.listPrompts(org);
      case "prompts/get":
        return this.getPrompt(org, stringParam(params, "name"), argumentsParam(params));
      case "resources/list":
        return this.listResources(org);
      case "resources/templates/list":
        return this.listResourceTemplates(org);
      case "resources/read":
        return this.readResource(org, stringParam(params, "uri"));
    }
  }

  private givenPrompts() {
    return this.fallback.prompts ?? [];
  }

  private givenResources() {
    return this.fallback.resources ?? [];
  }

  /** `org`'s prompts; undefined while they are served from the fallback. */
  private prompts(org: string): Promise<View<Prompt> | undefined> {
    return this.read(org, "Prompts", this.givenPrompts().length > 0, () => this.client.prompts(org, this.server));
  }

  private resources(org: string) {
    return this.read(org, "Resources", this.givenResources().length > 0, () => this.client.resources(org, this.server));
  }

  /** The view `fetch` reads; undefined when it is served from the fallback instead: the service
   * cannot answer, no copy is known (the client would serve it stale), and the fallback has
   * this kind (`given`). */
  private async read<T extends PlainItem>(
    org: string,
    kind: ViewKind,
    given: boolean,
    fetch: () => Promise<View<T>>,
  ): Promise<View<T> | undefined> {
    try {
      return await fetch();
    } catch (error) {
      if (!given || !(error instanceof Unavailable)) throw mcpError(error);
      this.fellBack(org, kind, fetch);
      return undefined;
    }
  }

  /** Notes that `org`'s `kind` is served from the fallback; the first time, asks for it until
   * the service answers. */
  private fellBack(org: string, kind: ViewKind, fetch: () => Promise<unknown>): void {
    const key = `${kind}\u0000${org}`;
    if (this.onFallback.has(key)) return;
    this.onFallback.add(key);
    void this.probe(org, kind, fetch).finally(() => this.onFallback.delete(key));
  }

  /** Asks for a view served from the fallback until the service answers it (a refusal is an
   * answer too: the org's clients are then told the service's error), then announces it. */
  private async probe(org: string, kind: ViewKind, fetch: () => Promise<unknown>): Promise<void> {
    for (;;) {
      await sleep(PROBE_MS, this.stop.signal);
      if (this.stop.signal.aborted) return;
      const answered = await fetch().then(
        () => true,
        (error: unknown) => !(error instanceof Unavailable),
      );
      if (answered) return this.tell({ type: "changed", org, server: this.server, kind, revision: 0 });
    }
  }

  private async forward(): Promise<void> {
    for await (const item of this.changes) this.tell(item);
  }

  /** Tells each target what `item` means for its org. */
  private tell(item: Changed | Lagged): void {
    for (const [target, org] of this.targets) announce(item, org, this.server, target);
  }
}

/** The lists to announce for one item: the changed kind if it concerns `org`, both after a
 * loss (the missed notifications may have concerned it). */
function announce(item: Changed | Lagged, org: string, server: string, target: ListChangedTarget): void {
  const lagged = item.type === "lagged";
  if (!lagged && !concerns(item, org, server)) return;
  if (lagged || item.kind === "Prompts") target.promptsChanged();
  if (lagged || item.kind === "Resources") target.resourcesChanged();
}

/** A client error as the MCP error that carries the service's message. */
function mcpError(error: unknown): unknown {
  if (error instanceof NotFound || error instanceof InvalidArgument) {
    return new McpRequestError(INVALID_PARAMS, error.message);
  }
  if (error instanceof ConfigError) return new McpRequestError(INTERNAL_ERROR, error.message);
  return error;
}
