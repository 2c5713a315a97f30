#!/usr/bin/env bash
# Runs the TypeScript tests (client/typescript and examples/mcp-server-typescript) against the
# real service binary and throwaway Redis servers: `npm ci` from the committed lockfiles,
# protobuf-es code generated from proto/ by buf (both from npm; no system protoc), the suites
# with `node --test`, then `npm pack` of the client installed into a scratch project and used.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# The suites run on Node 22, the lowest version the packages claim.
source scripts/node22.sh
echo "TypeScript suites on Node $(node --version)"

# The binary under test: MCP_CONFIG_BIN when set, else the debug build.
export MCP_CONFIG_BIN=${MCP_CONFIG_BIN:-$repo/target/debug/mcp-config}
[[ -x $MCP_CONFIG_BIN ]] || { echo "no service binary at $MCP_CONFIG_BIN (cargo build -p mcp-config)" >&2; exit 1; }

npm_ci=(npm ci --no-audit --no-fund --loglevel=error)
(cd client/typescript && "${npm_ci[@]}" && rm -rf dist gen && npm run -s build)
(cd examples/mcp-server-typescript && "${npm_ci[@]}" && rm -rf dist && npm run -s build)

(cd client/typescript && node --test --test-concurrency=1 --test-reporter=spec dist/test/*.test.js)
(cd examples/mcp-server-typescript && node --test --test-concurrency=1 --test-reporter=spec dist/test/*.test.js)

# The packed client, installed from the tarball into a scratch project with the committed
# lockfile (client/typescript/test/packaged/), and used against the service.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(cd client/typescript && npm pack --silent --pack-destination "$scratch" >/dev/null)
cd "$scratch"
cp "$repo/client/typescript/test/packaged/package.json" "$repo/client/typescript/test/packaged/package-lock.json" .
"${npm_ci[@]}"
node "$repo/client/typescript/test/packaged.mjs" "$MCP_CONFIG_BIN" "$repo/examples/bundle.yaml"
