/** close() ends every stream and timer: a process that closes its clients exits by itself. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { PROPAGATION_MS, type Stack, stack } from "./harness.js";

const INDEX = fileURLToPath(new URL("../src/index.js", import.meta.url));
const REDIS = fileURLToPath(new URL("../src/redis.js", import.meta.url));

/** A child that follows both sources, reads, iterates changes, closes, and should then exit. */
const SCRIPT = `
const { createConfigClient } = await import(process.argv[1]);
const { redisSource } = await import(process.argv[2]);
const [endpoint, redisUrl] = process.argv.slice(3);
const clients = [
  createConfigClient({ endpoint }),
  createConfigClient({ endpoint, source: redisSource({ url: redisUrl }) }),
];
for (const client of clients) {
  await client.waitForSource(${PROPAGATION_MS});
  await client.prompts("acme", "github");
  const iterating = (async () => { for await (const _ of client.changes()) {} })();
  await client.close();
  await iterating;
}
`;

describe("closing", () => {
  let s: Stack;
  before(async () => (s = await stack()));
  after(() => s.stop());

  test("S-CLOSE-1 close() ends every stream and changes() iteration: the process exits", async () => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", SCRIPT, INDEX, REDIS, s.service.endpoint, s.redis.url], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      const bound = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`the process did not exit within ${3 * PROPAGATION_MS} ms of closing`));
      }, 3 * PROPAGATION_MS);
      child.once("exit", (exitCode) => {
        clearTimeout(bound);
        resolve(exitCode);
      });
    });
    assert.equal(code, 0);
  });
});
