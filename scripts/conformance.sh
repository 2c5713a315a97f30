#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
# tests/conformance/) against the service's own MCP endpoint: the service on a throwaway SQLite
# file with the suite's named prompts and resources imported (tests/conformance/bundle.yaml),
# every scenario that applies to a prompts-and-resources server run, each required to pass.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
source scripts/node22.sh

bin=${MCP_CONFIG_BIN:-$repo/target/debug/mcp-config}
[[ -x $bin ]] || { echo "no service binary at $bin (cargo build -p mcp-config)" >&2; exit 1; }

# The scenarios of a server that serves prompts and resources. Not run, with the reason:
#   tools-*, json-schema-2020-12, elicitation-*: tools (and the elicitation and sampling they
#     request) are the upstream MCP server's, not mcp-config's.
scenarios=(
  server-initialize ping logging-set-level completion-complete
  resources-list resources-read-text resources-read-binary resources-templates-read
  resources-subscribe resources-unsubscribe
  prompts-list prompts-get-simple prompts-get-with-args prompts-get-embedded-resource
  prompts-get-with-image
  server-sse-multiple-streams dns-rebinding-protection
)

suite=$repo/target/conformance
mkdir -p "$suite"
cp tests/conformance/package.json tests/conformance/package-lock.json "$suite/"
(cd "$suite" && npm ci --no-audit --no-fund --loglevel=error)

work=$(mktemp -d)
service=
cleanup() {
  [[ -n $service ]] && kill "$service" 2>/dev/null && wait "$service" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http_port=$(free_port)
grpc_port=$(free_port)
"$bin" serve --auth none --database-url "sqlite://$work/config.db" \
  --http-addr "127.0.0.1:$http_port" --grpc-addr "127.0.0.1:$grpc_port" >"$work/service.log" 2>&1 &
service=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break
  sleep 0.1
done
"$bin" import tests/conformance/bundle.yaml --admin-url "http://127.0.0.1:$http_port" >/dev/null

failed=()
for scenario in "${scenarios[@]}"; do
  if node "$suite/node_modules/@modelcontextprotocol/conformance/dist/index.js" server \
    --url "http://localhost:$http_port/mcp/conformance" --scenario "$scenario" \
    >"$work/$scenario.log" 2>&1; then
    echo "conformance: $scenario passed"
  else
    echo "conformance: $scenario FAILED"
    cat "$work/$scenario.log"
    failed+=("$scenario")
  fi
done
if ((${#failed[@]})); then
  echo "conformance: ${#failed[@]} of ${#scenarios[@]} scenarios failed: ${failed[*]}" >&2
  exit 1
fi
echo "conformance: all ${#scenarios[@]} scenarios passed"
