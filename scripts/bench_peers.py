#!/usr/bin/env python3
"""Loads mcp-config and its peers (etcd, Unleash Edge) with one neutral generator, h2load, and
writes the markdown section "Peers in the same run (h2load)".

Why a generator of neither side: the project's own load tool speaks only our gRPC, so a figure
for a peer would come from a different client with different costs. h2load speaks h2c (gRPC
with a framed request body) and HTTP/1.1, and costs every target the same. Run by
`scripts/bench-peers.sh`, which installs the tools; this file only needs the Python standard
library so that it runs wherever the script does.

Every target gets the same: one core (`taskset -c 0`; h2load on core 1), the same response
size, the same number of requests, 64 requests in flight. While one target is measured the
others are paused (SIGSTOP), so no idle server takes the measured one's core.
"""

import argparse
import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

# (name, prompts of ~1 KB each): the same fixture as the bench crate (bench/src/fixture.rs),
# so GetPrompts answers with the same bytes as in the report's first table.
SIZES = [("2k", 2), ("20k", 20), ("100k", 100)]
ORG = "bench"
IN_FLIGHT = 64
GRPC_CONNECTIONS = 4  # 64 in flight = 4 connections x 16 streams, as the bench crate's generator
EDGE_TOKEN = "*:development.bench-peers"
ROUNDS = 3  # interleaved runs per target and size; the median is reported
# Targets from issue 18: mcp-config's requests/s over each peer's, at every size.
TARGETS = {"etcd": 1.5, "unleash": 2.0}
NAMES = {"mcp": "mcp-config", "etcd": "etcd", "unleash": "Unleash Edge",
         "mcp-list": "mcp-config MCP `prompts/list`"}
# Issue 26: the MCP endpoint's `prompts/list` at this share of `GetPrompts`' requests/s or more.
MCP_LIST_TARGET = 0.9


def log(message):
    print(f"bench-peers: {message}", file=sys.stderr, flush=True)


# --- payloads -------------------------------------------------------------------------------

def prompt(i):
    filler = "Explain the change, its risk and how it was tested. " * 16
    return {
        "title": f"Benchmark prompt {i}",
        "description": "A prompt of about one kilobyte, like a real review prompt.",
        "arguments": [{"name": "repo", "required": True}, {"name": "number", "required": True}],
        "messages": [{"role": "user", "text": f"Review #{{{{ number }}}} in {{{{ repo }}}}. {filler}"}],
    }


def bundle_yaml():
    """The bench crate's fixture bundle: one server per size, and the org that reads them."""
    lines = ["defaults:"]
    for size, count in SIZES:
        lines += [f"  s{size}:", "    prompts:"]
        lines += [f"      prompt-{i:04}: {json.dumps(prompt(i))}" for i in range(count)]
    lines += ["orgs:", f"  {ORG}:", "    name: Benchmark"]
    return "\n".join(lines) + "\n"


def varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_bytes(number, value):
    return varint(number << 3 | 2) + varint(len(value)) + value


def grpc_frame(message):
    """gRPC's length-prefixed message: uncompressed flag, big-endian length, protobuf bytes."""
    return struct.pack(">BI", 0, len(message)) + message


def get_prompts_request(server):
    # mcp_config.v1.GetPromptsRequest: org_id = 1, server = 2.
    return field_bytes(1, ORG.encode()) + field_bytes(2, server.encode())


def range_request(key):
    # etcdserverpb.RangeRequest: key = 1, serializable = 7 (bool, varint 1).
    return field_bytes(1, key) + varint(7 << 3 | 0) + varint(1)


def feature(i, description):
    """A flag as Unleash serves it to SDKs: a gradual rollout with a constraint and variants."""
    return {
        "name": f"bench-feature-{i:04}",
        "type": "release",
        "project": "default",
        "enabled": True,
        "stale": False,
        "impressionData": False,
        "description": description,
        "strategies": [{
            "name": "flexibleRollout",
            "parameters": {"rollout": "50", "stickiness": "default", "groupId": f"bench-feature-{i:04}"},
            "constraints": [{"contextName": "appName", "operator": "IN", "values": ["mcp-a", "mcp-b"],
                             "caseInsensitive": False, "inverted": False}],
            "variants": [],
        }],
        "variants": [
            {"name": "a", "weight": 500, "weightType": "variable", "stickiness": "default",
             "payload": {"type": "string", "value": "alpha"}},
            {"name": "b", "weight": 500, "weightType": "variable", "stickiness": "default",
             "payload": {"type": "string", "value": "beta"}},
        ],
    }


def bootstrap(lengths):
    """Client features of one ~1 KB flag per entry of `lengths`, each description that long."""
    text = "Rolls the new review flow out to half of the MCP servers. " * 40
    return {"version": 2, "features": [feature(i, text[:n]) for i, n in enumerate(lengths)]}


# --- processes -----------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}; its log is in the work dir")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port} within {seconds} s")


class Servers:
    """The servers this run started, by pid; paused and resumed, and stopped at the end."""

    def __init__(self, work):
        self.work = work
        self.procs = {}

    def start(self, name, argv, port, env=None):
        logf = open(self.work / f"{name}.log", "wb")
        proc = subprocess.Popen(["taskset", "-c", "0", *argv], stdout=logf, stderr=logf,
                                env={**os.environ, **(env or {})})
        self.procs[name] = proc
        wait_port(port, name, proc)
        return proc

    def only(self, name):
        """Resumes `name` and pauses every other server."""
        for other, proc in self.procs.items():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT if other == name else signal.SIGSTOP)
        time.sleep(0.2)

    def stop_all(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def http(method, url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


# --- h2load --------------------------------------------------------------------------------

def h2load(args, tool, argv, log_file=None):
    cmd = ["taskset", "-c", "1", tool.h2load, *argv]
    if log_file:
        cmd.append(f"--log-file={log_file}")
    out = subprocess.run(cmd, capture_output=True, text=True, env=tool.env)
    if out.returncode != 0:
        raise SystemExit(f"h2load failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
    return parse_h2load(out.stdout, " ".join(cmd))


def parse_h2load(text, cmd):
    figures = {}
    for line in text.splitlines():
        words = line.replace(",", "").split()
        if line.startswith("finished in"):
            figures["rps"] = float(words[3])
        elif line.startswith("requests:"):
            figures["done"] = int(words[1])
            figures["succeeded"] = int(words[words.index("succeeded") - 1])
        elif line.startswith("status codes:"):
            figures["2xx"] = int(words[2])
        elif line.startswith("traffic:"):
            figures["data_bytes"] = int(line.rsplit("(", 1)[1].split(")")[0])
        elif line.startswith("time for request:"):
            figures["time_for_request"] = line.split(":", 1)[1].split()
    if figures.get("2xx") != figures.get("done") or figures.get("succeeded") != figures.get("done"):
        raise SystemExit(f"not every request succeeded: {cmd}\n{text}")
    figures["bytes_per_response"] = figures["data_bytes"] / max(1, figures["succeeded"])
    return figures


def percentiles(log_file):
    """p50 / p99 / p99.9 in µs from h2load's per-request log (third column: µs to the end of
    the response), which h2load's own summary (min / max / mean / sd) does not give."""
    times = sorted(int(line.split("\t")[2]) for line in open(log_file) if line.strip())
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    return {"p50": pick(0.50), "p99": pick(0.99), "p999": pick(0.999)}


class Target:
    """How h2load reaches one server for one size."""

    def __init__(self, name, url, h2load_args, server=None):
        self.name, self.url, self.h2load_args = name, url, h2load_args
        self.server = server or name  # the process that answers it

    def load(self, clients_rps=None):
        return self.h2load_args(clients_rps) + [self.url]


def paced(rate):
    """At a paced rate every target gets the same 4 connections: h2load sends one request per
    connection every 1/rps s, the connections' ticks aligned, so arrivals come in bursts of as
    many requests as there are connections; 64 HTTP/1.1 connections would give Edge bursts of 64
    where the gRPC targets get 4."""
    return ["-c", str(GRPC_CONNECTIONS), f"--rps={max(1, round(rate / GRPC_CONNECTIONS))}"]


def grpc_args(body):
    def args(rate):
        grpc = ["-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers"]
        if rate:
            return paced(rate) + ["-m", str(IN_FLIGHT // GRPC_CONNECTIONS)] + grpc
        return ["-c", str(GRPC_CONNECTIONS), "-m", str(IN_FLIGHT // GRPC_CONNECTIONS)] + grpc
    return args


def mcp_list_body():
    """`prompts/list` as a 2026-07-28 client sends it: stateless, its `_meta` complete."""
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "prompts/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "h2load", "version": "1"}}}}).encode()


def mcp_list_args(body):
    """The MCP list over the same h2c connections and streams as `GetPrompts`: the two differ
    only in what the server does per request."""
    def args(rate):
        mcp = ["-d", str(body), "-H", "content-type: application/json",
               "-H", "accept: application/json, text/event-stream",
               "-H", "mcp-protocol-version: 2026-07-28", "-H", "mcp-method: prompts/list",
               "-H", f"x-org-id: {ORG}"]
        return ["-c", str(GRPC_CONNECTIONS), "-m", str(IN_FLIGHT // GRPC_CONNECTIONS)] + mcp
    return args


def edge_args(rate):
    # HTTP/1.1 has one request in flight per connection: 64 connections for 64 in flight.
    h1 = ["--h1", "-m", "1", "-H", f"authorization: {EDGE_TOKEN}"]
    return (paced(rate) if rate else ["-c", str(IN_FLIGHT)]) + h1


# --- the run -------------------------------------------------------------------------------

def start_mcp(servers, tool, work):
    grpc, http_port = free_port(), free_port()
    db = work / "mcp-config.db"
    servers.start("mcp", [tool.mcp_config, "serve", "--database-url", f"sqlite://{db}",
                          "--grpc-addr", f"127.0.0.1:{grpc}", "--http-addr", f"127.0.0.1:{http_port}",
                          "--auth", "none",
                          # the watchers scenario opens 1,000 connections from one address and
                          # writes as fast as the events arrive; neither limit touches GetPrompts
                          "--max-connections-per-peer", "10000", "--admin-rate-limit", "1000000"],
                  grpc, env={"RUST_LOG": "warn"})
    wait_port(http_port, "mcp-config (HTTP)", servers.procs["mcp"])
    http("POST", f"http://127.0.0.1:{http_port}/admin/v1/bundle", bundle_yaml().encode(),
         {"content-type": "application/yaml"})
    return grpc, http_port


def start_etcd(servers, tool, work):
    client, peer = free_port(), free_port()
    servers.start("etcd", [tool.etcd, "--name", "bench", "--data-dir", str(work / "etcd"),
                           "--listen-client-urls", f"http://127.0.0.1:{client}",
                           "--advertise-client-urls", f"http://127.0.0.1:{client}",
                           "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                           "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                           "--initial-cluster", f"bench=http://127.0.0.1:{peer}",
                           "--log-level", "warn"], client)
    deadline = time.monotonic() + 30
    while True:  # listening is not yet serving: wait for the single member's leader
        try:
            http("POST", f"http://127.0.0.1:{client}/v3/kv/range", b'{"key":"AA=="}')
            return client
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def grpc_response(tool, url, body):
    """One gRPC call's response message, through nghttp (same package as h2load)."""
    out = subprocess.run([tool.nghttp, "-d", str(body), "-H", "content-type: application/grpc",
                          "-H", "te: trailers", url], capture_output=True, env=tool.env)
    data = out.stdout
    if out.returncode != 0 or len(data) < 5:
        raise SystemExit(f"no gRPC answer from {url}: {out.stderr.decode()}")
    (length,) = struct.unpack(">I", data[1:5])
    return data[5:5 + length]


def start_edge(servers, tool, work, size, count, target_bytes):
    """Unleash Edge offline with a bootstrap whose client features are `target_bytes` long:
    started once to measure what it serves around the descriptions, then again with the
    descriptions cut or grown so the whole is the payload's length."""
    lengths = [700] * count
    for attempt in range(3):
        path = work / f"bootstrap-{size}.json"
        path.write_text(json.dumps(bootstrap(lengths)))
        port = free_port()
        name = f"unleash-{attempt}"
        servers.start(name, [tool.edge, "--port", str(port), "--interface", "127.0.0.1", "offline",
                             "--bootstrap-file", str(path), "--client-tokens", EDGE_TOKEN],
                      port, env={"RUST_LOG": "warn"})
        url = f"http://127.0.0.1:{port}/api/client/features"
        served = len(http("GET", url, headers={"authorization": EDGE_TOKEN}))
        if served == target_bytes or attempt == 2:
            servers.procs["unleash"] = servers.procs.pop(name)
            return url, served
        proc = servers.procs.pop(name)
        proc.terminate()
        proc.wait()
        room = target_bytes - (served - sum(lengths))  # what the descriptions may take
        if room < 0:
            raise SystemExit(f"{count} flags without descriptions exceed {target_bytes} bytes")
        lengths = [room // count + (1 if i < room % count else 0) for i in range(count)]


def measure_size(args, tool, size, count, work):
    servers = Servers(work)
    targets = {}
    try:
        if tool.mcp_config:
            port, http_port = start_mcp(servers, tool, work)
            body = work / f"get-prompts-{size}.bin"
            body.write_bytes(grpc_frame(get_prompts_request(f"s{size}")))
            url = f"http://127.0.0.1:{port}/mcp_config.v1.ConfigService/GetPrompts"
            payload = grpc_response(tool, url, body)
            targets["mcp"] = Target("mcp", url, grpc_args(body))
            body = work / "prompts-list.json"
            body.write_bytes(mcp_list_body())
            targets["mcp-list"] = Target("mcp-list", f"http://127.0.0.1:{http_port}/mcp/s{size}",
                                         mcp_list_args(body), server="mcp")
        else:
            payload = None
        if payload is None:
            raise SystemExit("mcp-config is the reference target; it must run")
        if tool.etcd:
            port = start_etcd(servers, tool, work)
            key = f"/mcp-config/{ORG}/s{size}".encode()
            put = json.dumps({"key": base64.b64encode(key).decode(),
                              "value": base64.b64encode(payload).decode()}).encode()
            http("POST", f"http://127.0.0.1:{port}/v3/kv/put", put)
            body = work / f"range-{size}.bin"
            body.write_bytes(grpc_frame(range_request(key)))
            targets["etcd"] = Target("etcd", f"http://127.0.0.1:{port}/etcdserverpb.KV/Range",
                                     grpc_args(body))
        if tool.edge:
            url, _ = start_edge(servers, tool, work, size, count, len(payload))
            targets["unleash"] = Target("unleash", url, edge_args)

        result = {"payload": len(payload), "max": {}, "half": {}}
        for name, target in targets.items():  # warm every target (connections, caches, JIT-free)
            servers.only(target.server)
            h2load(args, tool, ["-n", str(max(500, args.requests // 20)), *target.load()])
        runs = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, target in targets.items():
                servers.only(target.server)
                runs[name].append(h2load(args, tool, ["-n", str(args.requests), *target.load()]))
                log(f"{size} {NAMES[name]}: {runs[name][-1]['rps']:.0f} req/s")
        for name, figures in runs.items():
            median = sorted(figures, key=lambda f: f["rps"])[len(figures) // 2]
            result["max"][name] = {**median, "all": [f["rps"] for f in figures]}
        # Latency at one rate for all: half the slowest target's maximum, so every target is at
        # most half loaded and the latencies are comparable. The MCP list is compared with
        # GetPrompts at full load only.
        peers = {name: target for name, target in targets.items() if name != "mcp-list"}
        rate = min(result["max"][name]["rps"] for name in peers) / 2
        result["half_rate"] = rate
        count_half = int(min(args.requests, max(1000, rate * args.half_seconds)))
        for name, target in peers.items():
            servers.only(target.server)
            log_file = work / f"half-{name}-{size}.tsv"
            figures = h2load(args, tool, ["-n", str(count_half), *target.load(rate)], log_file)
            result["half"][name] = {**figures, **percentiles(log_file), "requests": count_half}
            log(f"{size} {NAMES[name]} at {rate:.0f}/s: p50 {result['half'][name]['p50']} µs")
        return result
    finally:
        servers.stop_all()


def measure_watchers(args, tool, work):
    """Write request → event at 1 / 100 / 1,000 watchers: etcd `Put` → `Watch`, mcp-config
    admin write → `Watch`, by the bench crate's `watchers` command on core 1."""
    servers = Servers(work)
    result = {}
    try:
        grpc, http_port = start_mcp(servers, tool, work)
        etcd = start_etcd(servers, tool, work)
        endpoints = {"mcp": (f"127.0.0.1:{grpc}", "mcp-config", f"http://127.0.0.1:{http_port}"),
                     "etcd": (f"127.0.0.1:{etcd}", "etcd", "")}
        for watchers, rounds in args.watchers:
            for name, (addr, peer, admin) in endpoints.items():
                servers.only(name)
                cmd = ["taskset", "-c", "1", tool.bench, "watchers", "--peer", peer, "--grpc", addr,
                       "--watchers", str(watchers), "--rounds", str(rounds)]
                if admin:
                    cmd += ["--admin", admin]
                out = subprocess.run(cmd, capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
                result.setdefault(str(watchers), {})[name] = json.loads(out.stdout)
                figures = result[str(watchers)][name]
                log(f"{watchers} watchers, {NAMES[name]}: p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms")
        return result
    finally:
        servers.stop_all()


# --- the report ----------------------------------------------------------------------------

def report(results, meta, watchers=None):
    ran = [n for n in ("mcp", "etcd", "unleash") if n in meta["ran"]]
    out = ["## Peers in the same run (h2load)", ""]
    out.append(
        f"Produced by `{meta['command']}` ({meta['when']}; {meta['mode']}). One generator for every "
        f"server, h2load {meta['versions'].get('h2load', '?')}; each server on core 0 "
        f"(`taskset -c 0`; each runtime then starts one worker: Edge's `--workers` has no effect "
        f"since 20.0), h2load on core 1, the other servers paused (SIGSTOP) while one is "
        f"measured. {meta['requests']} requests a run, {IN_FLIGHT} in flight: gRPC over h2c as "
        f"{GRPC_CONNECTIONS} connections × {IN_FLIGHT // GRPC_CONNECTIONS} streams with a framed "
        f"request body (mcp-config `GetPrompts`, etcd `KV/Range` with `serializable`); Unleash "
        f"Edge over HTTP/1.1 (`--h1`), {IN_FLIGHT} connections. "
        + (f"Each figure the median of {meta['rounds']} interleaved runs." if meta["rounds"] > 1 else "One run each."))
    out.append("")
    versions = ", ".join(f"{NAMES[n]} {meta['versions'].get(n, '?')}" for n in ran)
    if meta.get("load"):
        out.append(f"Load average (1 min) at the start and the end: {' → '.join(meta['load'])} on "
                   f"{os.cpu_count()} cores; anything above ~2 is other work sharing the cores "
                   "with the measured server and h2load, and lowers every absolute figure.")
        out.append("")
    out.append(f"Ran: {versions}." + (
        f" Not run: {', '.join(meta['skipped'])}." if meta["skipped"] else ""))
    out.append("")
    out.append(
        "Payloads: mcp-config serves the bench fixture's view (the first table's bytes); etcd holds "
        "those same bytes under one key; Unleash Edge (offline, a bootstrap file, one core) serves "
        "`/api/client/features` of N ~1 KB flags (N = the view's prompts) stretched to the same "
        "length. Bytes per response below are h2load's data bytes ÷ responses (gRPC's 5-byte "
        "prefix and etcd's header and key included).")
    out.append("")
    header = ["response"] + [f"{NAMES[n]} req/s" for n in ran]
    header += [f"÷ {NAMES[n]} (target ≥ {TARGETS[n]}×)" for n in ("etcd", "unleash") if n in ran]
    header += ["bytes per response"]
    out += ["### Throughput (requests/s, " + f"{IN_FLIGHT} in flight)", "",
            "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    verdicts = []
    for size, r in results.items():
        row = [f"{size} ({r['payload']} B)"]
        row += [f"{r['max'][n]['rps']:.0f}" for n in ran]
        for peer in ("etcd", "unleash"):
            if peer in ran:
                ratio = r["max"]["mcp"]["rps"] / r["max"][peer]["rps"]
                met = ratio >= TARGETS[peer]
                verdicts.append((size, peer, ratio, met))
                row.append(f"**{ratio:.2f}×** {'met' if met else 'missed'}")
        row.append(" / ".join(f"{r['max'][n]['bytes_per_response']:.0f}" for n in ran))
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    if all("mcp-list" in r["max"] for r in results.values()):
        out += ["### The MCP endpoint's `prompts/list` against `GetPrompts` (requests/s, the same h2c connections and streams)", "",
                f"| response | `GetPrompts` | `prompts/list` | ÷ `GetPrompts` (target ≥ {MCP_LIST_TARGET}×) | bytes per response | every run |",
                "|---|---|---|---|---|---|"]
        for size, r in results.items():
            grpc, listed = r["max"]["mcp"], r["max"]["mcp-list"]
            ratio = listed["rps"] / grpc["rps"]
            out.append(f"| {size} | {grpc['rps']:.0f} | {listed['rps']:.0f} | **{ratio:.2f}×** "
                       f"{'met' if ratio >= MCP_LIST_TARGET else 'missed'} | "
                       f"{grpc['bytes_per_response']:.0f} / {listed['bytes_per_response']:.0f} | "
                       + "/".join(f"{x:.0f}" for x in listed["all"]) + " |")
        out.append("")
        out.append(
            "A 2026-07-28 client's stateless `prompts/list` (its `_meta` complete, `Mcp-Method` and "
            "`MCP-Protocol-Version` headers, org `bench` by `x-org-id`) to `/mcp/s<size>` over h2c, "
            "64 in flight as 4 connections × 16 streams like `GetPrompts`, interleaved with it on "
            "the same server: the answer is the first page's JSON encoded once per revision "
            "(`mcp::lists`), protobuf for `GetPrompts`.")
        out.append("")
    out.append("Every run's requests/s, in order: " + "; ".join(
        f"{size} " + ", ".join(f"{NAMES[n]} " + "/".join(f"{x:.0f}" for x in r["max"][n]["all"]) for n in ran)
        for size, r in results.items()) + ".")
    out.append("")
    out += [f"### Latency at half load (µs, p50 / p99 / p99.9; each target at the same rate: half the slowest one's maximum)", "",
            "| response | req/s | " + " | ".join(NAMES[n] for n in ran) + " |",
            "|---|---|" + "---|" * len(ran)]
    for size, r in results.items():
        row = [size, f"{r['half_rate']:.0f}"]
        row += [f"{r['half'][n]['p50']} / {r['half'][n]['p99']} / {r['half'][n]['p999']}" for n in ran]
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append(
        "Paced with `--rps` over 4 connections for every target (HTTP/1.1 too: h2load's "
        "connections tick together, so 64 of them would send Edge bursts of 64 where the gRPC "
        "targets get bursts of 4). h2load prints only min / max / mean / sd of the time for a request; the "
        "percentiles are computed from its per-request `--log-file` (µs to the end of the "
        "response). h2load times a request from when it is sent, not from when the pace called "
        "for it: while a connection's slots (16 streams; HTTP/1.1: one) are full, the wait is not "
        "counted, so the tail is if anything understated.")
    out.append("")
    if watchers:
        out += ["### Propagation: write request → the event at each watcher (ms, p50 / p99; each server on core 0, the watchers and the writer in one process on core 1, every watcher on its own connection)", "",
                "| watchers | mcp-config (admin write → `Watch` stream) | etcd (`Put` → `Watch`) | p99 ratio (mcp-config ÷ etcd) | samples |",
                "|---|---|---|---|---|"]
        for n, w in watchers.items():
            m, e = w["mcp"], w["etcd"]
            out.append(f"| {n} | {m['p50_ms']:.2f} / {m['p99_ms']:.2f} | {e['p50_ms']:.2f} / {e['p99_ms']:.2f} | "
                       f"{m['p99_ms'] / e['p99_ms']:.2f}× | {m['samples']} / {e['samples']} |")
        out.append("")
        out.append(
            "Timed from the moment the write request is sent, on both sides (etcd has no commit "
            "timestamp to read): the write itself is included — etcd's raft round and WAL fsync, "
            "mcp-config's HTTP request and SQLite transaction (no Redis: the in-process relay "
            "feeds the `Watch` streams). The in-process figures above, from PostgreSQL's commit "
            "timestamp, are not comparable with these.")
        out.append("")
        biggest = watchers[max(watchers, key=int)]
        ratio = biggest["mcp"]["p99_ms"] / biggest["etcd"]["p99_ms"]
        verdicts.append((f"propagation p99 to {max(watchers, key=int)} watchers", "etcd", ratio, ratio <= 1.0))
    if verdicts:
        missed = [v for v in verdicts if not v[3]]
        out.append("Targets (issue 18: ≥ 1.5× etcd serializable `Range` and ≥ 2× Unleash Edge at every size; "
                   "propagation p99 to 1,000 watchers ≤ etcd's): " + (
            "**met**, every one." if not missed else
            "**missed**: " + ", ".join(f"{s} vs {NAMES[p]} ({x:.2f}×)" for s, p, x, _ in missed) + "; met elsewhere."))
        out.append("")
    return "\n".join(out)


class Tool:
    def __init__(self, args):
        self.h2load = args.h2load
        self.nghttp = args.nghttp
        self.etcd = args.etcd or None
        self.edge = args.edge or None
        self.mcp_config = args.mcp_config
        self.bench = args.bench or None
        self.env = {**os.environ}
        if args.ld_library_path:
            self.env["LD_LIBRARY_PATH"] = args.ld_library_path


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--h2load", default="")
    p.add_argument("--nghttp", default="")
    p.add_argument("--ld-library-path", default="")
    p.add_argument("--mcp-config", default="")
    p.add_argument("--etcd", default="")
    p.add_argument("--edge", default="")
    p.add_argument("--bench", default="", help="the mcp-config-bench binary (for the watchers)")
    p.add_argument("--watchers", default="1:300,100:30,1000:30",
                   help="watchers:rounds, comma-separated")
    p.add_argument("--requests", type=int, default=60000)
    p.add_argument("--rounds", type=int, default=ROUNDS)
    p.add_argument("--half-seconds", type=float, default=10.0)
    p.add_argument("--sizes", default="2k,20k,100k")
    p.add_argument("--meta", default="{}", help="JSON: command, mode, versions, skipped")
    p.add_argument("--json-out", default="")
    p.add_argument("--out", required=True)
    p.add_argument("--from-json", default="", help="only write the section again from a saved run")
    args = p.parse_args()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        Path(args.out).write_text(report(saved["results"], saved["meta"], saved.get("watchers")) + "\n")
        return
    args.watchers = [tuple(int(x) for x in pair.split(":")) for pair in args.watchers.split(",")]
    tool = Tool(args)
    meta = json.loads(args.meta)
    meta.update(requests=args.requests, rounds=args.rounds,
                when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                ran=["mcp"] + (["etcd"] if tool.etcd else []) + (["unleash"] if tool.edge else []))
    meta.setdefault("skipped", [])
    meta["load"] = [open("/proc/loadavg").read().split()[0]]
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as work:
        for size, count in SIZES:
            if size in args.sizes.split(","):
                sub = Path(work) / size
                sub.mkdir()
                results[size] = measure_size(args, tool, size, count, sub)
        watchers = None
        if tool.bench and tool.etcd:
            sub = Path(work) / "watchers"
            sub.mkdir()
            watchers = measure_watchers(args, tool, sub)
        elif not tool.bench:
            meta["skipped"].append("propagation vs etcd watchers (no bench binary)")
    meta["load"].append(open("/proc/loadavg").read().split()[0])
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"meta": meta, "results": results, "watchers": watchers}, indent=1))
    Path(args.out).write_text(report(results, meta, watchers) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
