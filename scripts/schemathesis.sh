#!/usr/bin/env bash
# OpenAPI-driven fuzzing of the admin API with schemathesis: starts a throwaway service on the
# embedded default, imports the example bundle, and runs schemathesis against
# /admin/v1/openapi.json. It fails on any 5xx and on any answer the document does not describe:
#   not_a_server_error            no 5xx
#   status_code_conformance       every status is one the route documents
#   content_type_conformance      every answer has a documented media type
#   response_headers_conformance  documented headers are there and valid (Retry-After on 429)
#   response_schema_conformance   every body matches its documented schema
# Left out: positive_data_acceptance and negative_data_rejection. The document cannot state every
# rule the service checks (key characters, content and template validation, whether an org
# exists), so a request valid by the schema may rightly get a 400; and the service is more
# lenient than the schema in places (`PROMPTS` as well as `prompts`).
#   scripts/schemathesis.sh [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v schemathesis >/dev/null 2>&1 || python3 -m pip install -q "schemathesis>=4.32,<5"
cargo build -q -p mcp-config
bin="$(realpath -m "${CARGO_TARGET_DIR:-target}")/debug/mcp-config"
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
grpc=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MCP_CONFIG_DATABASE_URL="sqlite://$dir/fuzz.db" MCP_CONFIG_HTTP_ADDR="127.0.0.1:$port" MCP_CONFIG_GRPC_ADDR="127.0.0.1:$grpc" \
  MCP_CONFIG_ADMIN_RATE_LIMIT=100000 "$bin" serve >"$dir/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
MCP_CONFIG_ADMIN_URL="http://127.0.0.1:$port" "$bin" import examples/bundle.yaml >/dev/null
# Run from the throwaway folder: schemathesis keeps a crash cache in ./.schemathesis, which
# belongs to this run only.
cd "$dir"
schemathesis run "http://127.0.0.1:$port/admin/v1/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples "${1:-50}" --url "http://127.0.0.1:$port"
