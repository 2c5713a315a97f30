#!/usr/bin/env bash
# Loads mcp-config, etcd and Unleash Edge with one generator (h2load) and writes the markdown
# section "Peers in the same run (h2load)". Called by scripts/bench.sh.
#   scripts/bench-peers.sh --out FILE            full run: installs what is missing (Unleash Edge
#                                                compiles for ~10+ min the first time), 60,000 requests a run
#   scripts/bench-peers.sh --smoke --out FILE    runs only the peers already installed, 2,000 requests;
#                                                installs nothing; the section says which ran
#
# Everything is installed outside the repository, in $MCP_CONFIG_BENCH_CACHE
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/mcp-config-bench), pinned:
#   h2load  Debian nghttp2-client  (apt-get download, unpacked with dpkg -x, no root needed)
#   etcd    Debian etcd-server     (the same)
#   Unleash Edge from crates.io    (cargo install --locked --root <cache>)
set -euo pipefail
cd "$(dirname "$0")/.."

NGHTTP2_VERSION=1.52.0-1+deb12u3
ETCD_VERSION=3.4.23-4+b4
EDGE_VERSION=20.1.0

smoke=0
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --out) out="$2"; shift ;;
    *) echo "usage: $0 [--smoke] --out FILE" >&2; exit 2 ;;
  esac
  shift
done
[[ -n "$out" ]] || { echo "usage: $0 [--smoke] --out FILE" >&2; exit 2; }

cache="${MCP_CONFIG_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-config-bench}"
root="$cache/root"            # Debian packages unpacked here
edge_root="$cache/unleash-edge-$EDGE_VERSION"
h2load="$root/usr/bin/h2load"
nghttp="$root/usr/bin/nghttp"
etcd="$root/usr/bin/etcd"
edge="$edge_root/bin/unleash-edge"
libs="$root/usr/lib/x86_64-linux-gnu"
mkdir -p "$cache" target
say() { echo "bench-peers: $*" >&2; }

# Downloads the pinned Debian packages (and the libraries h2load needs that the system lacks)
# and unpacks them under $root: nothing touches the system's package database.
install_debs() {
  local debs="$cache/debs" pkgs=("nghttp2-client=$NGHTTP2_VERSION" "etcd-server=$ETCD_VERSION") dep
  for dep in $(apt-cache depends "nghttp2-client=$NGHTTP2_VERSION" | awk '/Depends:/ {print $2}'); do
    dpkg -s "$dep" >/dev/null 2>&1 || pkgs+=("$dep")
  done
  mkdir -p "$debs" "$root"
  say "downloading ${pkgs[*]}"
  (cd "$debs" && apt-get download "${pkgs[@]}" >&2)
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
}

# Unleash Edge compiles for a long time: at the lowest priority, one job, so other work goes on.
install_edge() {
  say "installing unleash-edge $EDGE_VERSION into $edge_root (compiles for ~10+ min)"
  nice -n 19 cargo install unleash-edge --locked --version "$EDGE_VERSION" --root "$edge_root" -j 1 >&2
}

skipped=()
if [[ $smoke == 0 ]]; then
  [[ -x "$h2load" && -x "$etcd" ]] || install_debs
  [[ -x "$edge" ]] || install_edge
  cargo build -q --release -p mcp-config -p mcp-config-bench
  mcp_config=target/release/mcp-config bench=target/release/mcp-config-bench
  requests=60000 rounds=3 half_seconds=10 watchers=1:300,100:30,1000:30 mode="full run"
else
  if [[ ! -x "$h2load" ]]; then
    say "h2load is not installed ($h2load): no peer comparison in smoke mode"
    printf '## Peers in the same run (h2load)\n\nNot run: h2load is not installed (`scripts/bench-peers.sh --out FILE` installs it and the peers).\n' > "$out"
    exit 0
  fi
  [[ -x "$etcd" ]] || { etcd=""; skipped+=("etcd (not installed)"); }
  [[ -x "$edge" ]] || { edge=""; skipped+=("Unleash Edge (not installed)"); }
  # Smoke figures mean nothing; release binaries already built are used, else debug ones.
  profile=release
  [[ -x target/release/mcp-config && -x target/release/mcp-config-bench ]] || {
    profile=debug
    cargo build -q -p mcp-config -p mcp-config-bench
  }
  mcp_config=target/$profile/mcp-config bench=target/$profile/mcp-config-bench
  requests=2000 rounds=1 half_seconds=1 watchers=1:5,100:2 mode="smoke run: figures mean nothing"
fi

export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
version() { "$@" 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1 || true; }
skipped_json=$(printf '%s\n' "${skipped[@]+"${skipped[@]}"}" | python3 -c 'import json,sys; print(json.dumps([l for l in sys.stdin.read().splitlines() if l]))')
meta=$(cat <<EOF
{"command": "scripts/bench-peers.sh$([[ $smoke == 1 ]] && echo ' --smoke') --out $out",
 "mode": "$mode",
 "versions": {"h2load": "$(version "$h2load" --version)", "mcp": "$(git describe --always --dirty)",
              "etcd": "$(version "$etcd" --version)", "unleash": "$( [[ -n "$edge" ]] && echo "$EDGE_VERSION")"},
 "skipped": $skipped_json}
EOF
)

python3 scripts/bench_peers.py --h2load "$h2load" --nghttp "$nghttp" --ld-library-path "$libs" \
  --mcp-config "$mcp_config" --bench "$bench" --etcd "$etcd" --edge "$edge" \
  --watchers "$watchers" --requests "$requests" --rounds "$rounds" --half-seconds "$half_seconds" \
  --meta "$meta" --json-out target/bench-peers.json --out "$out"
