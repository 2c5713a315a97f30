#!/usr/bin/env bash
# Runs the whole test suite. The tests start their own throwaway PostgreSQL and Redis servers,
# so this installs the server binaries first when they are missing (Debian/Ubuntu, as root).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# The Cluster and Sentinel harness joins and inspects its servers with redis-cli.
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ((${#missing[@]})); then
  echo "installing ${missing[*]} for the test harness"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

cargo test --workspace --all-targets "$@"
# The service binary the Rust tests just built: building it alone would resolve features
# differently and compile much of the tree again.
MCP_CONFIG_BIN="$PWD/target/debug/mcp-config" scripts/test-python.sh
MCP_CONFIG_BIN="$PWD/target/debug/mcp-config" scripts/test-ts.sh
# The official MCP conformance suite against the service's own /mcp endpoint.
MCP_CONFIG_BIN="$PWD/target/debug/mcp-config" scripts/conformance.sh
