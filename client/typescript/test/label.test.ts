/**
 * The client's `label` goes with every read and with `Watch`: checked against an in-process gRPC
 * server that records the requests it gets (no service binary needed).
 */
import assert from "node:assert/strict";
import { type Http2Session, createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ConfigService } from "../gen/mcp_config/v1/config_pb.js";
import { createConfigClient } from "../src/index.js";

type Recorded = Record<string, string[]>;

/** Every read once, by a Watch client with `label` (undefined: the option left out); the labels
 * each method was asked with. */
async function readsWith(label: string | undefined): Promise<Recorded> {
  const labels: Recorded = {};
  const keep = (method: string, request: { label: string }) => (labels[method] ??= []).push(request.label);
  const handler = connectNodeAdapter({
    routes: (router) =>
      router.service(ConfigService, {
        getPrompts: (request) => (keep("GetPrompts", request), { revision: 1n }),
        getResources: (request) => (keep("GetResources", request), { revision: 1n }),
        getPrompt: (request) => (keep("GetPrompt", request), { revision: 1n }),
        readResource: (request) => (keep("ReadResource", request), { revision: 1n }),
        async *watch(request, context) {
          keep("Watch", request);
          // Open until the client goes.
          await new Promise((resolve) => context.signal.addEventListener("abort", resolve, { once: true }));
        },
      }),
  });
  const sessions = new Set<Http2Session>();
  const server = createServer(handler).on("session", (session) => sessions.add(session));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const client = createConfigClient({ endpoint: `http://127.0.0.1:${port}`, ...(label === undefined ? {} : { label }) });
  try {
    await client.prompts("acme", "github");
    await client.resources("acme", "github");
    await client.prompt("acme", "github", "review-pr", { repo: "acme/api" });
    await client.readResource("acme", "github", "file:///readme");
    for (let waited = 0; labels.Watch === undefined; waited += 10) {
      assert.ok(waited < 10_000, "the Watch stream was not opened");
      await sleep(10);
    }
  } finally {
    await client.close();
    for (const session of sessions) session.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
  return labels;
}

describe("the client's label", () => {
  test("goes with every read and with Watch", async () => {
    assert.deepEqual(await readsWith("staging"), {
      GetPrompts: ["staging"],
      GetResources: ["staging"],
      GetPrompt: ["staging"],
      ReadResource: ["staging"],
      Watch: ["staging"],
    });
  });

  test("none reads at production", async () => {
    assert.deepEqual(await readsWith(undefined), {
      GetPrompts: [""],
      GetResources: [""],
      GetPrompt: [""],
      ReadResource: [""],
      // The tracker's label, as events name it.
      Watch: ["production"],
    });
  });
});
