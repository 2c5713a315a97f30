/**
 * What the client returns: the generated protobuf messages as plain, JSON-safe, deeply frozen
 * data. Same field names, minus protobuf-es's `$typeName` (and `$unknown`); 64-bit integers
 * (revisions, `Resource.size`) are numbers (mcp-config's revisions are a global counter from 1,
 * far below `Number.MAX_SAFE_INTEGER`); bytes (`Media.data`, blob contents) are base64 strings, as
 * in MCP; an unset field (a message, an unset oneof's `case`) is absent rather than `undefined`.
 * So `JSON.parse(JSON.stringify(x))` is equal to `x`, and a caller cannot change the cache's copy.
 */
import type * as pb from "../gen/mcp_config/v1/config_pb.js";

/** `T` (a generated message) as the client returns it. */
export type Plain<T> = T extends bigint
  ? number
  : T extends Uint8Array
    ? string
    : T extends readonly (infer U)[]
      ? readonly Plain<U>[]
      : T extends object
        ? Flat<
            {
              readonly [K in keyof T as K extends `$${string}` ? never : undefined extends T[K] ? never : K]: Plain<T[K]>;
            } & {
              readonly [K in keyof T as K extends `$${string}` ? never : undefined extends T[K] ? K : never]?: Plain<T[K]>;
            }
          >
        : T;

type Flat<T> = { [K in keyof T]: T[K] } & {};

export type Prompt = Plain<pb.Prompt>;
export type PromptArgument = Plain<pb.PromptArgument>;
export type PromptMessage = Plain<pb.PromptMessage>;
export type Media = Plain<pb.Media>;
export type ResourceLink = Plain<pb.ResourceLink>;
export type Icon = Plain<pb.Icon>;
export type Annotations = Plain<pb.Annotations>;
export type Resource = Plain<pb.Resource>;
export type Choices = Plain<pb.Choices>;
export type ResourceContents = Plain<pb.ResourceContents>;
/** `prompt()`'s answer: the prompt rendered with the given arguments. */
export type RenderedPrompt = Plain<pb.GetPromptResponse>;
/** `readResource()`'s answer: the resource's contents. */
export type ResourceRead = Plain<pb.ReadResourceResponse>;

/** `message` as plain, frozen data (see above). */
export function plain<T>(message: T): Plain<T> {
  return toPlain(message) as Plain<T>;
}

function toPlain(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return Object.freeze(value.map(toPlain));
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (!key.startsWith("$") && field !== undefined) out[key] = toPlain(field);
  }
  return Object.freeze(out);
}
