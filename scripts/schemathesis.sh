#!/usr/bin/env bash
# OpenAPI-driven fuzzing of the admin API with schemathesis: starts a throwaway service on the
# embedded default, imports the example bundle, and runs schemathesis against
# /admin/v1/openapi.json, failing on any 5xx.
#   scripts/schemathesis.sh [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v schemathesis >/dev/null 2>&1 || python3 -m pip install -q "schemathesis>=3.39,<5"
cargo build -q -p mcp-config
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
grpc=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MCP_CONFIG_DATABASE_URL="sqlite://$dir/fuzz.db" MCP_CONFIG_HTTP_ADDR="127.0.0.1:$port" MCP_CONFIG_GRPC_ADDR="127.0.0.1:$grpc" \
  MCP_CONFIG_ADMIN_RATE_LIMIT=100000 target/debug/mcp-config serve >"$dir/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
MCP_CONFIG_ADMIN_URL="http://127.0.0.1:$port" target/debug/mcp-config import examples/bundle.yaml >/dev/null
schemathesis run "http://127.0.0.1:$port/admin/v1/openapi.json" --checks not_a_server_error \
  --max-examples "${1:-50}" --url "http://127.0.0.1:$port"
