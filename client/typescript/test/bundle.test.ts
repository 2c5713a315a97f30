/** The main entry never references `ioredis`: an app bundled with esbuild needs no
 * `--external ioredis` (the Redis source is the subpath export `@mcp-config/client/redis`). */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

test("an app importing only the main entry bundles without externals and without ioredis", async () => {
  const result = await build({
    stdin: {
      contents: `
        import { ConfigLoader, createConfigClient } from "@mcp-config/client";
        const client = createConfigClient({ endpoint: "http://127.0.0.1:50051", source: { type: "watch" } });
        new ConfigLoader({ client, server: "github" });
        await client.close();
      `,
      resolveDir: ROOT,
      loader: "js",
    },
    bundle: true,
    platform: "node",
    format: "esm",
    write: false,
    logLevel: "silent",
  });
  assert.deepEqual(result.errors, []);
  const text = result.outputFiles.map((file) => file.text).join("\n");
  assert.match(text, /createConfigClient|ConfigClient/);
  assert.doesNotMatch(text, /ioredis/);
});
