/**
 * Fixtures: a throwaway Redis and the real mcp-config binary per test (MCP_CONFIG_BIN, else
 * target/debug/mcp-config), loaded with the repository's example bundle.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { type Server, type Socket, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Changed, type ConfigClient, type Lagged, type Subscription, type Prompt, type View } from "../src/index.js";
import { ConfigService, RedisServer } from "../src/testing.js";

export const REPO = resolve(fileURLToPath(import.meta.url), "../../../../../");
export const BINARY = process.env.MCP_CONFIG_BIN ?? join(REPO, "target/debug/mcp-config");
export const BUNDLE = join(REPO, "examples/bundle.yaml");
export const CHANNEL = "mcp-config:invalidations";

/** Bound on waiting for a change to propagate (a publish is milliseconds; a reconnection with
 * backoff a few seconds). A bound on a wait, never a timing check. */
export const PROPAGATION_MS = 10_000;

export interface Stack {
  dir: string;
  redis: RedisServer;
  service: ConfigService;
  /** Stops everything and removes the directory. */
  stop(): Promise<void>;
}

/** A temp dir, Redis and the service publishing on it (with `extra` flags), the example bundle
 * imported. */
export async function stack(extra: readonly string[] = []): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), "mcp-config-ts-"));
  const redis = await RedisServer.create(dir);
  await redis.start();
  const service = await ConfigService.create(BINARY, dir, redis.url, extra);
  await service.start();
  await service.importBundle(BUNDLE);
  return {
    dir,
    redis,
    service,
    async stop() {
      await service.kill();
      await redis.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits (bounded) until `wanted` is announced on `changes`, skipping other notifications. */
export async function nextChange(changes: Subscription, wanted: Omit<Changed, "type" | "revision">): Promise<void> {
  const found = (async () => {
    for await (const item of changes) {
      if (isChange(item, wanted)) return;
    }
    throw new Error("the change feed ended");
  })();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(wanted)} within ${PROPAGATION_MS} ms`)), PROPAGATION_MS);
  });
  try {
    await Promise.race([found, bound]);
  } finally {
    clearTimeout(timer);
  }
}

function isChange(item: Changed | Lagged, wanted: Omit<Changed, "type" | "revision">): boolean {
  return item.type === "changed" && item.org === wanted.org && item.server === wanted.server && item.kind === wanted.kind;
}

export const ACME_GITHUB_PROMPTS = { org: "acme", server: "github", kind: "Prompts" } as const;

/** Prompt name -> its first message's text. */
export function texts(view: View<Prompt>): Record<string, string> {
  return Object.fromEntries(view.items.map((p) => [p.name, p.messages[0]?.text ?? ""]));
}

/** Runs `body` with a client, closing it whatever happens. */
export async function using<T>(client: ConfigClient, body: (client: ConfigClient) => Promise<T>): Promise<T> {
  try {
    return await body(client);
  } finally {
    await client.close();
  }
}

/** The HTTP/2 connection preface a client sends before its first frame. */
const PREFACE_BYTES = 24;
const HEADERS_FRAME = 0x1;

/**
 * A TCP proxy to a local port that can hang like a frozen service: `blackhole()` accepts
 * connections and forwards nothing either way, closing nothing; `heal()` forwards what was held
 * back and passes everything on again. `delay(ms)` makes it a slow service instead: every byte
 * is forwarded, either way, `ms` after it arrived (in order); `delay(0)` ends that. `requests`
 * counts the HTTP/2 HEADERS frames clients sent (one per gRPC call), whether or not they were
 * forwarded; `connections` the connections made.
 */
export class HangingProxy {
  requests = 0;
  connections = 0;
  private holding = false;
  private delayMs = 0;
  private readonly links = new Set<Link>();

  private constructor(
    private readonly server: Server,
    private readonly target: number,
  ) {}

  static async start(target: number): Promise<HangingProxy> {
    const server = createServer();
    const proxy = new HangingProxy(server, target);
    server.on("connection", (socket) => proxy.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get endpoint(): string {
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  }

  blackhole(): void {
    this.holding = true;
  }

  heal(): void {
    this.holding = false;
    for (const link of this.links) link.flush();
  }

  delay(ms: number): void {
    this.delayMs = ms;
  }

  async stop(): Promise<void> {
    for (const link of this.links) link.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.connections += 1;
    const link = new Link(
      client,
      this.target,
      () => this.holding,
      () => this.delayMs,
      () => (this.requests += 1),
    );
    this.links.add(link);
    client.on("close", () => this.links.delete(link));
  }
}

/** One proxied connection; the upstream one is opened on the first byte it may forward. */
class Link {
  private upstream: Socket | undefined;
  private readonly toUpstream: Buffer[] = [];
  private readonly toClient: Buffer[] = [];
  /** The client's bytes not yet parsed into frames (to count HEADERS frames). */
  private unparsed = Buffer.alloc(0);
  private prefaceLeft = PREFACE_BYTES;
  private readonly upward: Delayed;
  private readonly downward: Delayed;

  constructor(
    private readonly client: Socket,
    private readonly target: number,
    private readonly holding: () => boolean,
    delayMs: () => number,
    private readonly onRequest: () => void,
  ) {
    this.upward = new Delayed(delayMs, (data) => this.upstream?.write(data));
    this.downward = new Delayed(delayMs, (data) => this.client.write(data));
    client.on("data", (data: Buffer) => {
      this.count(data);
      this.toUpstream.push(data);
      this.flush();
    });
    client.on("error", () => this.close());
    client.on("close", () => this.close());
  }

  flush(): void {
    if (this.holding()) return;
    if (this.upstream === undefined && this.toUpstream.length > 0) {
      const upstream = connect({ port: this.target, host: "127.0.0.1" });
      upstream.on("data", (data: Buffer) => {
        this.toClient.push(data);
        this.flush();
      });
      upstream.on("error", () => this.close());
      upstream.on("close", () => this.close());
      this.upstream = upstream;
    }
    for (const data of this.toUpstream.splice(0)) this.upward.send(data);
    for (const data of this.toClient.splice(0)) this.downward.send(data);
  }

  close(): void {
    this.upward.stop();
    this.downward.stop();
    this.client.destroy();
    this.upstream?.destroy();
  }

  private count(data: Buffer): void {
    let bytes = data;
    if (this.prefaceLeft > 0) {
      const skipped = Math.min(this.prefaceLeft, bytes.length);
      this.prefaceLeft -= skipped;
      bytes = bytes.subarray(skipped);
    }
    this.unparsed = Buffer.concat([this.unparsed, bytes]);
    while (this.unparsed.length >= 9) {
      const length = this.unparsed.readUIntBE(0, 3);
      if (this.unparsed.length < 9 + length) break;
      if (this.unparsed[3] === HEADERS_FRAME) this.onRequest();
      this.unparsed = this.unparsed.subarray(9 + length);
    }
  }
}

/** One direction of a link: each chunk written `delayMs()` after it was sent, in order (a chunk
 * never overtakes an earlier one, even when the delay is shortened meanwhile). */
class Delayed {
  private readonly queue: Array<{ data: Buffer; at: number }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly delayMs: () => number,
    private readonly write: (data: Buffer) => void,
  ) {}

  send(data: Buffer): void {
    const delay = this.delayMs();
    if (delay <= 0 && this.queue.length === 0) return this.write(data);
    this.queue.push({ data, at: performance.now() + delay });
    this.pump();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }

  private pump(): void {
    if (this.timer !== undefined) return;
    while (this.queue.length > 0) {
      const head = this.queue[0] as { data: Buffer; at: number };
      const wait = head.at - performance.now();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        return;
      }
      this.queue.shift();
      this.write(head.data);
    }
  }
}
