/**
 * The loader's methods on a server of the official MCP TypeScript SDK: v1
 * (`@modelcontextprotocol/sdk`) or v2 (`@modelcontextprotocol/server`), its high-level `McpServer`
 * or its low-level `Server`, typed structurally so this package depends on no SDK.
 *
 * The methods are answered by the server's `fallbackRequestHandler`: the one way to handle a
 * method by its name that both majors share (v1's `setRequestHandler` takes a zod schema this
 * package would have to import from the SDK, v2's a method name). A handler the server has of its
 * own (its tools) still answers first, so the loader refuses a server that already answers
 * prompts or resources itself, and passes every method it does not serve on to the fallback
 * handler the server had, if any. What v2 wraps around registered handlers only (its
 * `cacheHints` option) does not apply to these methods: their 2026-07-28 results carry the
 * SDK's default cache fields, which suits lists that mcp-config announces when they change.
 */

/** JSON-RPC error codes of MCP. */
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
const METHOD_NOT_FOUND = -32601;

/** An error the MCP SDK answers with its `code` and `message` as they are. */
export class McpRequestError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The methods the loader answers. */
export type LoaderMethod =
  | "prompts/list"
  | "prompts/get"
  | "resources/list"
  | "resources/templates/list"
  | "resources/read";

const METHODS: ReadonlySet<string> = new Set<LoaderMethod>([
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/templates/list",
  "resources/read",
]);

/** A request's `params`, as the client sent them (not yet checked). */
export type Params = Record<string, unknown>;

/** What the loader uses of a low-level SDK `Server` (v1 or v2); `Context` is what its handlers
 * are given with each request (v1's `extra`, v2's `ctx`), where a server finds the org. */
export interface SdkServer<Context> {
  registerCapabilities(capabilities: {
    prompts: { listChanged: boolean };
    resources: { listChanged: boolean };
  }): void;
  assertCanSetRequestHandler(method: string): void;
  fallbackRequestHandler?: ((request: any, ctx: Context) => Promise<any>) | undefined;
  onclose?: (() => void) | undefined;
  sendPromptListChanged(): Promise<void>;
  sendResourceListChanged(): Promise<void>;
}

/** A high-level SDK `McpServer` (v1 or v2): the low-level server it wraps is `server`. */
export interface SdkMcpServer<Context> {
  readonly server: SdkServer<Context>;
}

/** The low-level server of either kind. */
export function lowLevel<Context>(server: SdkServer<Context> | SdkMcpServer<Context>): SdkServer<Context> {
  return "server" in server ? server.server : server;
}

/**
 * Declares prompts and resources with `listChanged` (before `connect`: the SDK refuses new
 * capabilities on a connected server) and answers the loader's methods with `answer`.
 */
export function serve<Context>(
  server: SdkServer<Context>,
  answer: (method: LoaderMethod, params: Params, ctx: Context) => Promise<object>,
): void {
  for (const method of METHODS) server.assertCanSetRequestHandler(method);
  server.registerCapabilities({ prompts: { listChanged: true }, resources: { listChanged: true } });
  const next = server.fallbackRequestHandler;
  server.fallbackRequestHandler = async (request: { method: string; params?: Params }, ctx: Context) => {
    if (METHODS.has(request.method)) return answer(request.method as LoaderMethod, request.params ?? {}, ctx);
    if (next !== undefined) return next(request, ctx);
    throw new McpRequestError(METHOD_NOT_FOUND, "Method not found");
  };
}

/** Calls `stop` when `server` closes (its transport closed: a session ended), then whatever
 * `onclose` it had. */
export function onClose<Context>(server: SdkServer<Context>, stop: () => void): void {
  const closed = server.onclose;
  server.onclose = () => {
    stop();
    closed?.();
  };
}

/** A notification to a session that may be gone or not yet initialized: its failure is not the
 * loader's to report. */
export async function quietly(send: () => Promise<void>): Promise<void> {
  try {
    await send();
  } catch {
    // Nobody is there to tell.
  }
}

/** `params[name]`, which MCP requires to be a string. */
export function stringParam(params: Params, name: string): string {
  const value = params[name];
  if (typeof value !== "string") throw new McpRequestError(INVALID_PARAMS, `${name}: a string is required`);
  return value;
}

/** A prompt's `arguments`: MCP's are strings by name; absent is none. */
export function argumentsParam(params: Params): Record<string, string> {
  const given = params.arguments;
  if (given === undefined || given === null) return {};
  if (typeof given !== "object" || Object.values(given).some((value) => typeof value !== "string")) {
    throw new McpRequestError(INVALID_PARAMS, "arguments: an object of strings is required");
  }
  return given as Record<string, string>;
}
