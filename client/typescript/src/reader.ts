/**
 * `ConfigReader`: what code built on mcp-config reads it through. `ConfigClient` is the real
 * one; `FakeConfigClient` (`@mcp-config/client/testing`) holds views a unit test sets, with no
 * service. `ConfigLoader` takes either, and so can a caller's own code, so that the code is
 * tested without a service and run against one unchanged.
 */
import type { View } from "./cache.js";
import type { Changed, Subscription } from "./changes.js";
import type { Prompt, RenderedPrompt, Resource, ResourceRead } from "./plain.js";
import type { Status, StatusEvent } from "./status.js";

export interface ConfigReader {
  /** The effective prompts of `org` (empty: defaults only) for `server`. */
  prompts(org: string, server: string): Promise<View<Prompt>>;
  /** The effective resources of `org` (empty: defaults only) for `server`. */
  resources(org: string, server: string): Promise<View<Resource>>;
  /** One prompt rendered with `args`. */
  prompt(org: string, server: string, name: string, args?: Record<string, string>): Promise<RenderedPrompt>;
  /** One resource's contents. */
  readResource(org: string, server: string, uri: string): Promise<ResourceRead>;
  /** Change notifications from now on, as an async iterator (C-FEED-1). */
  changes(capacity?: number): Subscription;
  /** Calls `callback` for every change from now on; returns the function that stops it. */
  onChange(callback: (change: Changed) => void): () => void;
  /** Whether the service answers (C-STATUS-1). */
  status(): Status;
  /** Calls `listener` for each change of status from now on (C-STATUS-2); returns the function
   * that stops it. */
  onStatus(listener: (event: StatusEvent) => void): () => void;
  /** Resolves once changes made from now on cannot be missed (C-SRC-8). */
  waitForSource(timeoutMs?: number): Promise<void>;
  /** Ends every stream and `changes()` iteration. */
  close(): Promise<void>;
}
