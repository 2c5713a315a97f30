#!/usr/bin/env bash
# Runs every benchmark scenario next to its baselines and writes docs/BENCHMARKS.md.
#   scripts/bench.sh            full run, release build (minutes; the first run also installs the
#                               peers, etcd and Unleash Edge, outside the repository: see bench-peers.sh)
#   scripts/bench.sh --smoke    CI-sized run (seconds); figures mean nothing, it only proves every scenario
#                               runs; peers run only if already installed
# Micro benchmarks (resolve, encode, render, cache hit): cargo bench -p mcp-config
set -euo pipefail
cd "$(dirname "$0")/.."
# The growth scenarios (start-up, Zipf, writes) run the real `mcp-config` binary, which they find
# beside the bench binary: built here when missing (CI's tests have built the debug one).
if [[ "${1:-}" == "--smoke" ]]; then
  [[ -x target/debug/mcp-config ]] || cargo build -q -p mcp-config
  report="${2:-target/BENCHMARKS-smoke.md}"
  cargo run -q -p mcp-config-bench -- all --smoke --out "$report"
  scripts/bench-peers.sh --smoke --out target/bench-peers-smoke.md
  { echo; cat target/bench-peers-smoke.md; } >> "$report"
else
  cargo build -q --release -p mcp-config
  cargo run -q --release -p mcp-config-bench -- all --out docs/BENCHMARKS.md
  scripts/bench-peers.sh --out target/bench-peers.md
  { echo; cat target/bench-peers.md; } >> docs/BENCHMARKS.md
fi
