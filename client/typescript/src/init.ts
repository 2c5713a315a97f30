/**
 * Prompts and resources as a test writes them: the plain shapes the client returns (`plain.ts`),
 * every field optional. Made whole by the generated schema, so an item a test gives reads exactly
 * as one the service sent would: absent fields take the protobuf defaults (empty strings, no
 * arguments, an unset oneof as `{}`), and a value of a real read (a frozen plain item, JSON
 * round-tripped or not) is taken as it is.
 */
import { type DescField, type DescMessage, type MessageInitShape, ScalarType, create } from "@bufbuild/protobuf";
import { PromptSchema, ResourceSchema } from "../gen/mcp_config/v1/config_pb.js";
import { type Prompt, type Resource, plain } from "./plain.js";

/** `T`, a plain message, with every field optional (deeply); a oneof keeps its `case`. */
export type Init<T> = T extends readonly (infer U)[]
  ? readonly Init<U>[]
  : T extends object
    ? { readonly [K in keyof T as K extends "case" ? K : never]: T[K] } & {
        readonly [K in keyof T as K extends "case" ? never : K]?: Init<T[K]>;
      }
    : T;

/** A prompt as a test writes it: `{ name: "review", messages: [{ role: "user", text: "…" }] }`. */
export type PromptInit = Init<Prompt>;
/** A resource as a test writes it: `{ uri, name, contents: { case: "text", value: "…" } }`; a
 * blob's value is base64, as reads return it (or bytes). */
export type ResourceInit = Init<Resource>;

/** `init` as the frozen plain prompt a read returns. */
export function promptOf(init: PromptInit): Prompt {
  return plain(create(PromptSchema, messageInit(PromptSchema, init) as MessageInitShape<typeof PromptSchema>));
}

/** `init` as the frozen plain resource a read returns. */
export function resourceOf(init: ResourceInit): Resource {
  return plain(create(ResourceSchema, messageInit(ResourceSchema, init) as MessageInitShape<typeof ResourceSchema>));
}

/** A plain value of `desc` as protobuf-es's init: 64-bit integers as `bigint`, bytes as
 * `Uint8Array` (from base64), field by field through messages, lists, maps and oneofs. */
function messageInit(desc: DescMessage, value: unknown): Record<string, unknown> {
  const given = value as Record<string, unknown>;
  const init: Record<string, unknown> = {};
  for (const member of desc.members) {
    const field = given[member.localName];
    if (field === undefined) continue;
    if (member.kind === "oneof") {
      const { case: name, value: chosen } = field as { case?: string; value?: unknown };
      if (name === undefined) continue;
      const chosenField = member.fields.find((f) => f.localName === name);
      if (chosenField === undefined) throw new TypeError(`${desc.name}.${member.localName}: no case "${name}"`);
      init[member.localName] = { case: name, value: fieldInit(chosenField, chosen) };
    } else {
      init[member.localName] = fieldInit(member, field);
    }
  }
  return init;
}

function fieldInit(field: DescField, value: unknown): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return scalarInit(field.scalar, value);
    case "enum":
      return value;
    case "message":
      return messageInit(field.message, value);
    case "list":
      return (value as readonly unknown[]).map((item) =>
        field.listKind === "message"
          ? messageInit(field.message, item)
          : field.listKind === "scalar"
            ? scalarInit(field.scalar, item)
            : item,
      );
    case "map":
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([key, item]) => [
          key,
          field.mapKind === "message"
            ? messageInit(field.message, item)
            : field.mapKind === "scalar"
              ? scalarInit(field.scalar, item)
              : item,
        ]),
      );
  }
}

const INT64 = new Set([ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64]);

function scalarInit(type: ScalarType, value: unknown): unknown {
  if (type === ScalarType.BYTES && typeof value === "string") return new Uint8Array(Buffer.from(value, "base64"));
  if (INT64.has(type) && typeof value === "number") return BigInt(value);
  return value;
}
