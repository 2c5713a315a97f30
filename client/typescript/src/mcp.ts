/**
 * mcp-config's messages, as the client returns them (`plain.ts`), as MCP result objects (the
 * service shapes them after MCP already, so this is field for field; empty strings are absent
 * fields in MCP; bytes are base64 already).
 */
import type {
  Annotations,
  Icon,
  Media,
  Prompt,
  PromptMessage,
  RenderedPrompt,
  Resource,
  ResourceContents,
  ResourceLink,
  ResourceRead,
} from "./plain.js";

const optional = (text: string) => (text === "" ? undefined : text);

export function mcpPrompt(p: Prompt) {
  return {
    name: p.name,
    title: optional(p.title),
    description: optional(p.description),
    arguments: p.arguments.map((a) => ({
      name: a.name,
      description: optional(a.description),
      required: a.required,
    })),
    icons: mcpIcons(p.icons),
  };
}

/** Icons as MCP has them; none is an absent field. */
function mcpIcons(icons: readonly Icon[]) {
  if (icons.length === 0) return undefined;
  return icons.map((i) => ({
    src: i.src,
    mimeType: optional(i.mimeType),
    sizes: i.sizes.length > 0 ? [...i.sizes] : undefined,
  }));
}

export function mcpRendered(r: RenderedPrompt) {
  return {
    description: optional(r.description),
    messages: r.messages.map((m) => ({
      role: m.role as "user" | "assistant",
      content: mcpContent(m),
    })),
  };
}

/** A rendered message's one MCP content block: its `content` when set, else its text (a text
 * message leaves `content` unset, so a service older than `content` still reads as text). */
export function mcpContent(m: PromptMessage) {
  const annotations = mcpAnnotations(m.annotations);
  return annotations === undefined ? mcpBlock(m) : { ...mcpBlock(m), annotations };
}

function mcpBlock(m: PromptMessage) {
  const c = m.content;
  switch (c.case) {
    case "image":
      return { type: "image" as const, ...mcpMedia(c.value) };
    case "audio":
      return { type: "audio" as const, ...mcpMedia(c.value) };
    case "resource":
      return { type: "resource" as const, resource: mcpResourceContents(c.value) };
    case "resourceLink":
      return mcpResourceLink(c.value);
    case undefined:
      return { type: "text" as const, text: m.text };
  }
}

/** MCP requires `mimeType` on image and audio blocks, so it is kept even when empty. */
function mcpMedia(m: Media) {
  return { data: m.data, mimeType: m.mimeType };
}

function mcpResourceLink(l: ResourceLink) {
  return {
    type: "resource_link" as const,
    uri: l.uri,
    name: l.name,
    title: optional(l.title),
    description: optional(l.description),
    mimeType: optional(l.mimeType),
  };
}

/** The resources of a view that `resources/list` shows: templates are not readable as they
 * are, MCP lists them apart (`resources/templates/list`). */
export function mcpResources(items: readonly Resource[]) {
  return items.filter((r) => !r.isTemplate).map(mcpResource);
}

/** The resource templates of a view, as `resources/templates/list` shows them. */
export function mcpResourceTemplates(items: readonly Resource[]) {
  return items.filter((r) => r.isTemplate).map(mcpResourceTemplate);
}

export function mcpResource(r: Resource) {
  return {
    uri: r.uri,
    name: r.name,
    title: optional(r.title),
    description: optional(r.description),
    mimeType: optional(r.mimeType),
    size: r.size,
    annotations: mcpAnnotations(r.annotations),
    icons: mcpIcons(r.icons),
  };
}

/** A template's `uri` is its RFC 6570 URI template; its size is the template's, not that of
 * any resource it expands to, so it is left out. */
export function mcpResourceTemplate(r: Resource) {
  return {
    uriTemplate: r.uri,
    name: r.name,
    title: optional(r.title),
    description: optional(r.description),
    mimeType: optional(r.mimeType),
    annotations: mcpAnnotations(r.annotations),
    icons: mcpIcons(r.icons),
  };
}

function mcpAnnotations(a: Annotations | undefined) {
  if (a === undefined) return undefined;
  return {
    audience: a.audience.length > 0 ? (a.audience as Array<"user" | "assistant">) : undefined,
    priority: a.priority,
    lastModified: optional(a.lastModified),
  };
}

export function mcpContents(r: ResourceRead) {
  return { contents: r.contents.map(mcpResourceContents) };
}

/** One resource's contents, in a `resources/read` result or embedded in a prompt message. */
export function mcpResourceContents(c: ResourceContents) {
  return c.contents.case === "blob"
    ? { uri: c.uri, mimeType: optional(c.mimeType), blob: c.contents.value }
    : { uri: c.uri, mimeType: optional(c.mimeType), text: c.contents.value ?? "" };
}
