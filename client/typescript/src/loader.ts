/**
 * `ConfigLoader`: what an MCP server built on the official TypeScript SDK needs from mcp-config,
 * for one of its servers (`github`, `slack`, …), by the org of each request:
 *
 * - `install(server, orgOf)` registers `prompts/list`, `prompts/get`, `resources/list`,
 *   `resources/templates/list` and `resources/read` handlers on a low-level SDK `Server` (typed
 *   structurally, so this package does not pin an SDK version); errors become MCP errors
 *   carrying the service's message. Prompt messages become MCP content blocks of every kind
 *   (text, image, audio, embedded resource, resource link); resources whose URI is a template
 *   are listed as resource templates only, and a URI one matches is read like any other (the
 *   service matches it and renders the contents);
 * - `listen(org, target)` tells `target` when a list `org` sees changed (its own entries or a
 *   default), and both lists after a lost notification, until the returned function is called.
 *   An MCP server calls it for each legacy session (`server.sendPromptListChanged()`) or each
 *   org's `subscriptions/listen` notifier.
 */
import { type Changed, type Lagged, type Subscription, concerns } from "./changes.js";
import type { ConfigClient } from "./client.js";
import { ConfigError, InvalidArgument, NotFound } from "./errors.js";
import { mcpContents, mcpPrompt, mcpRendered, mcpResourceTemplates, mcpResources } from "./mcp.js";

/** JSON-RPC error codes of MCP. */
const INVALID_PARAMS = -32602;
const INTERNAL_ERROR = -32603;

/** An error the MCP SDK answers with its `code` and `message` as they are. */
export class McpRequestError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The part of a low-level MCP SDK `Server` the loader registers handlers on. */
export interface HandlerRegistry<Context> {
  setRequestHandler(
    method: "prompts/list" | "prompts/get" | "resources/list" | "resources/templates/list" | "resources/read",
    handler: (request: { params?: any }, ctx: Context) => Promise<any>,
  ): void;
}

/** Who is told that a list changed. */
export interface ListChangedTarget {
  promptsChanged(): void;
  resourcesChanged(): void;
}

export interface ConfigLoaderOptions {
  client: ConfigClient;
  /** The MCP server's name in mcp-config. */
  server: string;
}

export class ConfigLoader {
  private readonly client: ConfigClient;
  readonly server: string;
  private readonly targets = new Map<ListChangedTarget, string>();
  private readonly changes: Subscription;

  constructor({ client, server }: ConfigLoaderOptions) {
    this.client = client;
    this.server = server;
    this.changes = client.changes();
    void this.forward();
  }

  async listPrompts(org: string) {
    const view = await answer(this.client.prompts(org, this.server));
    return { prompts: view.items.map(mcpPrompt) };
  }

  async getPrompt(org: string, name: string, args: Record<string, string> = {}) {
    return mcpRendered(await answer(this.client.prompt(org, this.server, name, args)));
  }

  async listResources(org: string) {
    const view = await answer(this.client.resources(org, this.server));
    return { resources: mcpResources(view.items) };
  }

  /** The resource templates: the same view as `listResources`, its other part. */
  async listResourceTemplates(org: string) {
    const view = await answer(this.client.resources(org, this.server));
    return { resourceTemplates: mcpResourceTemplates(view.items) };
  }

  async readResource(org: string, uri: string) {
    return mcpContents(await answer(this.client.readResource(org, this.server, uri)));
  }

  /** Registers the five handlers on `server`, each for the org `orgOf` finds in its context. */
  install<Context>(server: HandlerRegistry<Context>, orgOf: (ctx: Context) => string): void {
    server.setRequestHandler("prompts/list", (_, ctx) => this.listPrompts(orgOf(ctx)));
    server.setRequestHandler("prompts/get", (request, ctx) =>
      this.getPrompt(orgOf(ctx), request.params.name, request.params.arguments ?? {}),
    );
    server.setRequestHandler("resources/list", (_, ctx) => this.listResources(orgOf(ctx)));
    server.setRequestHandler("resources/templates/list", (_, ctx) => this.listResourceTemplates(orgOf(ctx)));
    server.setRequestHandler("resources/read", (request, ctx) =>
      this.readResource(orgOf(ctx), request.params.uri),
    );
  }

  /** Tells `target` of every change to what `org` sees, until the returned function is called. */
  listen(org: string, target: ListChangedTarget): () => void {
    this.targets.set(target, org);
    return () => this.targets.delete(target);
  }

  /** Stops forwarding changes. */
  close(): void {
    this.changes.close();
    this.targets.clear();
  }

  private async forward(): Promise<void> {
    for await (const item of this.changes) {
      for (const [target, org] of this.targets) announce(item, org, this.server, target);
    }
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

/** Awaits a client call; its errors become MCP errors that carry the service's message. */
async function answer<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof NotFound || error instanceof InvalidArgument) {
      throw new McpRequestError(INVALID_PARAMS, error.message);
    }
    if (error instanceof ConfigError) throw new McpRequestError(INTERNAL_ERROR, error.message);
    throw error;
  }
}
