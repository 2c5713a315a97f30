#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
# tests/conformance/) against the service's own MCP endpoint: the service on a throwaway SQLite
# file with the suite's named prompts and resources imported (tests/conformance/bundle.yaml),
# every scenario that applies to a prompts-and-resources server run, each required to pass.
# Then through the gateway: the same endpoint with an upstream registered
# (tests/conformance/upstream.mjs, an SDK server with the suite's tools), running those
# scenarios again and the tool scenarios, each forwarded to the upstream.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
source scripts/node22.sh

bin=${MCP_CONFIG_BIN:-$repo/target/debug/mcp-config}
[[ -x $bin ]] || { echo "no service binary at $bin (cargo build -p mcp-config)" >&2; exit 1; }

# The scenarios of a server that serves prompts and resources; the tool scenarios (and the
# elicitation and sampling their tools request) are an upstream's, run through the gateway.
scenarios=(
  server-initialize ping logging-set-level completion-complete
  resources-list resources-read-text resources-read-binary resources-templates-read
  resources-subscribe resources-unsubscribe
  prompts-list prompts-get-simple prompts-get-with-args prompts-get-embedded-resource
  prompts-get-with-image
  server-sse-multiple-streams dns-rebinding-protection
)
# Not run through the gateway, with the reason: server-sse-polling (SEP-1699) needs the
# upstream's test_reconnection tool to close its SSE stream mid-call and the client to resume
# it with Last-Event-ID; the gateway keeps no event store to resume a forwarded call from.
tool_scenarios=(
  tools-list tools-call-simple-text tools-call-image tools-call-audio
  tools-call-embedded-resource tools-call-mixed-content tools-call-with-logging
  tools-call-error tools-call-with-progress tools-call-sampling tools-call-elicitation
  json-schema-2020-12 elicitation-sep1034-defaults elicitation-sep1330-enums
)

suite=$repo/target/conformance
mkdir -p "$suite"
cp tests/conformance/package.json tests/conformance/package-lock.json tests/conformance/upstream.mjs "$suite/"
(cd "$suite" && npm ci --no-audit --no-fund --loglevel=error)

work=$(mktemp -d)
service=
upstream=
cleanup() {
  # A process ended by the signal reports it (node: 143): the run's own status stands.
  [[ -n $service ]] && kill "$service" 2>/dev/null && wait "$service" 2>/dev/null || true
  [[ -n $upstream ]] && kill "$upstream" 2>/dev/null && wait "$upstream" 2>/dev/null || true
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
ran=0
# run WHERE SCENARIO...: each scenario against /mcp/conformance, WHERE naming the phase.
run() {
  local where=$1
  shift
  for scenario in "$@"; do
    ran=$((ran + 1))
    if node "$suite/node_modules/@modelcontextprotocol/conformance/dist/index.js" server \
      --url "http://localhost:$http_port/mcp/conformance" --scenario "$scenario" \
      >"$work/$where-$scenario.log" 2>&1; then
      echo "conformance ($where): $scenario passed"
    else
      echo "conformance ($where): $scenario FAILED"
      cat "$work/$where-$scenario.log"
      failed+=("$where:$scenario")
    fi
  done
}
run mcp-config "${scenarios[@]}"

upstream_port=$(free_port)
node "$suite/upstream.mjs" "$upstream_port" >"$work/upstream.log" 2>&1 &
upstream=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$upstream_port/mcp" && break
  sleep 0.1
done
"$bin" upstream --admin-url "http://127.0.0.1:$http_port" \
  set conformance --url "http://127.0.0.1:$upstream_port/mcp" >/dev/null
# The registry is fresh within two seconds on every replica.
sleep 2
run gateway "${scenarios[@]}" "${tool_scenarios[@]}"

if ((${#failed[@]})); then
  echo "conformance: ${#failed[@]} of $ran scenario runs failed: ${failed[*]}" >&2
  exit 1
fi
echo "conformance: all $ran scenario runs passed (${#scenarios[@]} on mcp-config alone, ${#scenarios[@]} + ${#tool_scenarios[@]} through the gateway)"
