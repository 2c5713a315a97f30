/**
 * The snapshot file (contract C-SNAP-*): the views a process knew, so a cold start can serve
 * them (as stale) while the service is unreachable.
 *
 * The format is the Rust and Python clients': a JSON list of
 * `{"id": {"kind", "org", "server"}, "revision", "confirmed_ms", "body"}`, where `body` is the
 * view as an encoded `GetPromptsResponse` / `GetResourcesResponse` in base64, so a snapshot
 * written by any client is read by the others. The body carries the view's `org_unknown` too, as
 * the answer did: a snapshot written before the field (or by a client that drops it) decodes it
 * as false, the value for a registered org, which is what such a view was taken for.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  GetPromptsResponseSchema,
  GetResourcesResponseSchema,
  type Prompt,
  type Resource,
} from "../gen/mcp_config/v1/config_pb.js";
import { type Cache, type Item, type ViewKind, ageOf } from "./cache.js";

interface Saved {
  id: { kind: ViewKind; org: string; server: string };
  revision: number | string;
  /** When the service last confirmed the view, in ms since the epoch. */
  confirmed_ms: number;
  body: string;
}

function encode(kind: ViewKind, revision: bigint, items: readonly Item[], orgUnknown: boolean): Uint8Array {
  return kind === "Prompts"
    ? toBinary(
        GetPromptsResponseSchema,
        create(GetPromptsResponseSchema, { revision, prompts: items as Prompt[], orgUnknown }),
      )
    : toBinary(
        GetResourcesResponseSchema,
        create(GetResourcesResponseSchema, { revision, resources: items as Resource[], orgUnknown }),
      );
}

function decode(kind: ViewKind, body: Uint8Array): { items: readonly Item[]; orgUnknown: boolean } {
  if (kind === "Prompts") {
    const { prompts, orgUnknown } = fromBinary(GetPromptsResponseSchema, body);
    return { items: prompts, orgUnknown };
  }
  const { resources, orgUnknown } = fromBinary(GetResourcesResponseSchema, body);
  return { items: resources, orgUnknown };
}

/** Writes every known view, atomically (a temp file renamed over the old one). A failure only
 * costs the next cold start its views, so it is reported through `warn`, not thrown. */
export function saveSnapshot(path: string, cache: Cache, warn: (message: string) => void): void {
  const now = Date.now();
  const saved: Saved[] = cache.all().map(({ id, entry }) => ({
    id: { kind: id.kind, org: id.org, server: id.server },
    // JSON numbers, as the other clients write them (revisions stay far below 2^53).
    revision: Number(entry.revision),
    confirmed_ms: Math.round(now - ageOf(entry)),
    body: Buffer.from(encode(id.kind, entry.revision, entry.items, entry.orgUnknown)).toString("base64"),
  }));
  const temp = path.replace(/(\.[^./]*)?$/, ".tmp");
  try {
    writeFileSync(temp, JSON.stringify(saved));
    renameSync(temp, path);
  } catch (error) {
    warn(`cannot write the snapshot ${path}: ${String(error)}`);
  }
}

/** Loads a snapshot's views as out of date (to be revalidated, or served stale). */
export function loadSnapshot(path: string, cache: Cache, warn: (message: string) => void): void {
  let saved: Saved[];
  try {
    saved = JSON.parse(readFileSync(path, "utf8")) as Saved[];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      warn(`ignoring an unreadable snapshot ${path}: ${String(error)}`);
    }
    return;
  }
  const now = Date.now();
  for (const view of saved) {
    try {
      const { kind, org, server } = view.id;
      if (kind !== "Prompts" && kind !== "Resources") throw new Error(`unknown kind ${kind}`);
      const { items, orgUnknown } = decode(kind, Buffer.from(view.body, "base64"));
      const age = Math.max(0, now - view.confirmed_ms);
      cache.restore(
        { kind, org, server },
        {
          revision: BigInt(view.revision),
          items,
          orgUnknown,
          confirmed: performance.now() - age,
          current: false,
        },
      );
    } catch (error) {
      warn(`skipping an unreadable view in ${path}: ${String(error)}`);
    }
  }
}
