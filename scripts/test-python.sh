#!/usr/bin/env bash
# Runs the Python tests (client/python and examples/mcp-server-python) against the real service
# binary and throwaway Redis servers. Creates target/python-venv on first use; the client is
# installed non-editable so its build hook generates the gRPC stubs from proto/ every time.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/python-venv
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip -q --disable-pip-version-check)
# setuptools keeps build/ between builds; a stale copy of a removed module would ship again.
rm -rf client/python/build examples/mcp-server-python/build
"${pip[@]}" install --upgrade \
  ./client/python ./examples/mcp-server-python \
  "grpcio==1.85.1" "protobuf==7.36.2" "redis==8.1.0" "jinja2==3.1.6" "mcp==2.3.0" \
  "pyjwt==2.15.1" "uvicorn==0.54.0" "pytest==9.2.0" "pytest-asyncio==1.5.0" \
  "playwright==1.65.2" "pytest-playwright==0.10.0" \
  "oidc-provider-mock==0.3.4" "authlib==1.9.10" "flask==3.1.3"

# The binary under test: MCP_CONFIG_BIN when set, else the debug build (a no-op when current).
if [[ -z ${MCP_CONFIG_BIN:-} ]]; then
  cargo build -q -p mcp-config
fi

# axe-core for the browser tests' accessibility check, from the npm registry into a scratch
# directory with an npm cache of its own (nothing cached from before, nothing left after).
axe_version=4.10.3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
npm_config_cache="$scratch/npm-cache" npm install --no-audit --no-fund --no-save --loglevel=error \
  --prefix "$scratch/axe" "axe-core@$axe_version"
export AXE_CORE_JS=$scratch/axe/node_modules/axe-core/axe.min.js
[[ -f $AXE_CORE_JS ]] || { echo "axe-core $axe_version has no axe.min.js at $AXE_CORE_JS" >&2; exit 1; }

"$venv/bin/python" -m pytest -q -p no:cacheprovider \
  client/python/tests examples/mcp-server-python/tests tests/browser "$@"
