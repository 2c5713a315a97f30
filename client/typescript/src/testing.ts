/**
 * For tests of code built on this client: `FakeConfigClient` (`fake.ts`), an in-memory client
 * whose views the test sets, for unit tests with no service; and throwaway Redis and mcp-config
 * processes (the Python client's `testing` module, in TypeScript), for tests against the real
 * service.
 *
 * Each process runs on free ports in a directory of its own (never on the standard ports, never
 * a shared instance) and can be killed and started again on the same ports, to test outages.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { openSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { sleep } from "./backoff.js";

export { FakeConfigClient, type FakeViewOptions } from "./fake.js";
export type { Init, PromptInit, ResourceInit } from "./init.js";

const START_TIMEOUT_MS = 20_000;

/** A port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Whether something accepts connections on the local `port`. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Polls `probe` until it returns something other than undefined, and returns that; throws after
 * `boundMs`. A bound on a wait that would otherwise hang, never a timing check. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  boundMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${boundMs} ms`);
    await sleep(20);
  }
}

/** A child process that can be killed and started again with the same command. */
class Process {
  private child: ChildProcess | undefined;

  constructor(
    private readonly command: string,
    private readonly args: () => string[],
    private readonly log: string,
    private readonly env: Record<string, string> = {},
  ) {}

  protected async spawnUntil(ready: () => Promise<boolean>, what: string): Promise<void> {
    const out = openSync(this.log, "a");
    const child = spawn(this.command, this.args(), {
      stdio: ["ignore", out, out],
      env: { ...process.env, ...this.env },
    });
    this.child = child;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await ready())) {
      if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} (see ${this.log})`);
      if (Date.now() > deadline) throw new Error(`${what} not ready in ${START_TIMEOUT_MS} ms`);
      await sleep(20);
    }
  }

  /** Stops it at once, as a crash would. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  /** Freezes it (SIGSTOP): it holds its connections and answers nothing, as a hung process. */
  pause(): void {
    this.child?.kill("SIGSTOP");
  }

  /** Thaws it after `pause()`. */
  resume(): void {
    this.child?.kill("SIGCONT");
  }
}

/** `redis-server` on a free port, without persistence. */
export class RedisServer extends Process {
  private constructor(
    readonly port: number,
    workdir: string,
  ) {
    super(
      "redis-server",
      () => ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
      join(workdir, "redis.log"),
    );
  }

  static async create(workdir: string): Promise<RedisServer> {
    return new RedisServer(await freePort(), workdir);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  start(): Promise<void> {
    return this.spawnUntil(() => accepts(this.port), "redis-server");
  }
}

/** `mcp-config serve` on a SQLite file, free gRPC and HTTP ports, and Redis when given. */
export class ConfigService extends Process {
  private constructor(
    readonly binary: string,
    readonly grpcPort: number,
    readonly httpPort: number,
    workdir: string,
    redisUrl: string | undefined,
    extra: readonly string[],
  ) {
    super(
      binary,
      () => [
        "serve",
        "--database-url",
        `sqlite://${join(workdir, "mcp-config.db")}`,
        "--grpc-addr",
        `127.0.0.1:${grpcPort}`,
        "--http-addr",
        `127.0.0.1:${httpPort}`,
        "--relay-poll-ms",
        "200",
        ...(redisUrl === undefined ? [] : ["--redis-url", redisUrl]),
        ...extra,
      ],
      join(workdir, "mcp-config.log"),
    );
  }

  /** `extra`: more `serve` flags (`["--watch-progress-secs", "1"]`). */
  static async create(
    binary: string,
    workdir: string,
    redisUrl?: string,
    extra: readonly string[] = [],
  ): Promise<ConfigService> {
    return new ConfigService(binary, await freePort(), await freePort(), workdir, redisUrl, extra);
  }

  /** Bearer token `admin` and `importBundle` send (an admin JWT without an org, for a service
   * started with `--auth jwt`); none by default (`--auth none`). */
  adminToken: string | undefined;

  get endpoint(): string {
    return `http://127.0.0.1:${this.grpcPort}`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** Starts it and waits until `/readyz` says it can serve. */
  start(): Promise<void> {
    return this.spawnUntil(async () => {
      try {
        return (await fetch(`${this.httpUrl}/readyz`)).ok;
      } catch {
        return false;
      }
    }, "mcp-config");
  }

  /** Loads a bundle with the CLI, as an operator would, and waits until its changes are
   * published (so their events cannot reach a client subscribed afterwards). */
  async importBundle(path: string): Promise<void> {
    const env = this.adminToken === undefined ? process.env : { ...process.env, MCP_CONFIG_TOKEN: this.adminToken };
    await promisify(execFile)(this.binary, ["import", "--admin-url", this.httpUrl, path], { env });
    await this.untilPublished();
  }

  /** Waits until the relay has published every change committed so far. */
  untilPublished(): Promise<true> {
    return eventually(async () => {
      const { changes } = (await this.admin("GET", "/changes?limit=1000")) as {
        changes: Array<{ published: boolean }>;
      };
      return changes.every((c) => c.published) ? true : undefined;
    }, "changes published");
  }

  /** One admin API call (`path` under `/admin/v1`); returns the decoded JSON answer. */
  async admin(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.httpUrl}/admin/v1${path}`, {
      method,
      headers: {
        "content-type": "application/json",
        ...(this.adminToken === undefined ? {} : { authorization: `Bearer ${this.adminToken}` }),
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    const text = await response.text();
    return text === "" ? null : JSON.parse(text);
  }

  /** Saves a new version of `org`'s github prompt `name` with one message and a `repo` argument. */
  putPrompt(org: string, name: string, text: string): Promise<unknown> {
    return this.admin("PUT", `/orgs/${org}/servers/github/prompts/${name}`, {
      content: {
        title: `${name} (edited)`,
        arguments: [{ name: "repo", required: true }],
        messages: [{ role: "user", text }],
      },
      message: "edited by a test",
    });
  }
}
