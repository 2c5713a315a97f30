#!/usr/bin/env bash
# Runs every benchmark scenario next to its baselines and writes docs/BENCHMARKS.md.
#   scripts/bench.sh            full run, release build (minutes)
#   scripts/bench.sh --smoke    CI-sized run (seconds); figures mean nothing, it only proves every scenario runs
# Micro benchmarks (resolve, encode, render, cache hit): cargo bench -p mcp-config
set -euo pipefail
cd "$(dirname "$0")/.."
# The growth scenarios (start-up, Zipf, writes) run the real `mcp-config` binary, which they find
# beside the bench binary: built here when missing (CI's tests have built the debug one).
if [[ "${1:-}" == "--smoke" ]]; then
  [[ -x target/debug/mcp-config ]] || cargo build -q -p mcp-config
  cargo run -q -p mcp-config-bench -- all --smoke --out "${2:-target/BENCHMARKS-smoke.md}"
else
  cargo build -q --release -p mcp-config
  cargo run -q --release -p mcp-config-bench -- all --out docs/BENCHMARKS.md
fi
