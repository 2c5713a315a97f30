/**
 * Answers made from a view the caller holds rather than by the service: a prompt rendered
 * locally (contract C-RENDER-1) and a resource's contents (C-RENDER-2), each in the shape the
 * service's own answer has. `ConfigClient` uses them while the service cannot be reached;
 * `FakeConfigClient` (`@mcp-config/client/testing`) answers every call with them.
 */
import type { Prompt, RenderedPrompt, Resource, ResourceRead } from "./plain.js";
import { plain } from "./plain.js";
import { renderLocally } from "./render.js";

/** The prompt `name` of `items` rendered with `args` (a missing argument: `InvalidArgument`, a
 * failing template: `RenderError`), at the view's `revision`; undefined when the view lacks it. */
export function renderHeld(
  items: readonly Prompt[],
  name: string,
  args: Record<string, string>,
  revision: number,
): RenderedPrompt | undefined {
  const prompt = items.find((p) => p.name === name);
  if (prompt === undefined) return undefined;
  const messages = renderLocally(prompt, args);
  return plain({ description: prompt.description, messages, revision });
}

/** The contents of the resource of exactly `uri` in `items`, at the view's `revision`, as the
 * service answers `ReadResource`; undefined when the view has none. A resource template is
 * never matched: what a URI it matches reads is the template rendered, which is the service's
 * to do (its text, a Jinja template of the URI's variables). */
export function readHeld(items: readonly Resource[], uri: string, revision: number): ResourceRead | undefined {
  const resource = items.find((r) => r.uri === uri && !r.isTemplate);
  if (resource === undefined) return undefined;
  // The service answers one part: the URI as asked, the resource's MIME type, its text or blob
  // (a oneof of the same case names, so the plain value carries over).
  return plain({ contents: [{ uri, mimeType: resource.mimeType, contents: resource.contents }], revision });
}
