#!/usr/bin/env node
/**
 * `mcp-config-example --server github`: an MCP server whose prompts and resources come from
 * mcp-config, per org, over streamable HTTP at `/mcp`. SIGTERM or Ctrl-C: the listen streams
 * end gracefully, sessions close, the mcp-config client closes, the process exits.
 */
import { parseArgs } from "node:util";
import { ConfigLoader, createConfigClient } from "@mcp-config/client";
import { redisSource } from "@mcp-config/client/redis";
import { createApp } from "./app.js";

const { values } = parseArgs({
  options: {
    server: { type: "string" },
    "config-endpoint": { type: "string", default: "http://127.0.0.1:50051" },
    "redis-url": { type: "string" },
    channel: { type: "string", default: "mcp-config:invalidations" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8000" },
    "jwt-secret": { type: "string", default: process.env.MCP_CONFIG_JWT_SECRET },
    token: { type: "string", default: process.env.MCP_CONFIG_TOKEN },
    // The release label served (staging, …); production when empty.
    label: { type: "string", default: process.env.MCP_CONFIG_LABEL ?? "" },
  },
});
if (values.server === undefined) {
  console.error("usage: mcp-config-example --server NAME [--config-endpoint URL] [--redis-url URL] [--port N]");
  process.exit(2);
}

const client = createConfigClient({
  endpoint: values["config-endpoint"],
  source:
    values["redis-url"] === undefined
      ? { type: "watch" }
      : redisSource({ url: values["redis-url"], channel: values.channel }),
  ...(values.token === undefined ? {} : { token: values.token }),
  label: values.label,
  warn: (message) => console.warn(message),
});
const loader = new ConfigLoader({ client, server: values.server });
const app = createApp({
  loader,
  jwtSecret: values["jwt-secret"],
  loopbackOnly: values.host === "127.0.0.1" || values.host === "localhost",
});
app.http.listen(Number(values.port), values.host, () => {
  console.log(`MCP server for ${values.server} on http://${values.host}:${values.port}/mcp`);
});

async function shutdown(): Promise<void> {
  await app.close();
  loader.close();
  await client.close();
}
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
