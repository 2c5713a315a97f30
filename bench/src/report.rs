//! The report: every figure next to its baseline, as ratios, plus the machine it ran on.

use std::fmt::Write;

use crate::{
    load::Stats,
    scenarios::{ColdLoads, Latency, Memory, MissPath, Propagation},
};

pub struct Report {
    smoke: bool,
    pinned: bool,
    throughput: Vec<String>,
    latency: Vec<String>,
    misc: Vec<String>,
    propagation: Vec<String>,
    /// "How cost grows": whole blocks (tables, plots).
    growth: Vec<String>,
    client_reads: Vec<String>,
    client_notes: Vec<String>,
    mcp_server_heading: Option<String>,
    mcp_server: Vec<String>,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .map_or(0, |kb| kb / 1024 / 1024);
    format!("{cpu}, {cores} cores, {memory} GiB")
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "n/a".into()
    }
}

/// The full-load runs of one response size, each the median of its interleaved repeats.
pub struct Throughput {
    pub bare: Stats,
    pub service: Stats,
    pub direct: Stats,
    pub direct_tokio_postgres: Stats,
    pub redis_get: Stats,
}

impl Report {
    pub fn new(smoke: bool, pinned: bool) -> Self {
        Self {
            smoke,
            pinned,
            throughput: vec![],
            latency: vec![],
            misc: vec![],
            propagation: vec![],
            growth: vec![],
            client_reads: vec![],
            client_notes: vec![],
            mcp_server_heading: None,
            mcp_server: vec![],
        }
    }

    pub fn throughput(
        &mut self,
        size: &str,
        runs: Throughput,
        bare_half: Stats,
        service_half: Stats,
    ) {
        let Throughput {
            bare,
            service,
            direct,
            direct_tokio_postgres,
            redis_get,
        } = runs;
        self.throughput.push(format!(
            "| {size} ({} B) | {:.0} | {:.0} | {:.0} | {:.0} / {:.0} | {} | {} (bare {}) | {} / {} (bare {} / {}) |",
            service.response_bytes,
            service.rps,
            bare.rps,
            redis_get.rps,
            direct.rps,
            direct_tokio_postgres.rps,
            ratio(service.rps, bare.rps),
            ratio(service.rps, redis_get.rps),
            ratio(bare.rps, redis_get.rps),
            ratio(service.rps, direct.rps),
            ratio(service.rps, direct_tokio_postgres.rps),
            ratio(bare.rps, direct.rps),
            ratio(bare.rps, direct_tokio_postgres.rps),
        ));
        self.latency.push(format!(
            "| {size} | {:.0} | {:.0} / {:.0} / {:.0} | {:.0} / {:.0} / {:.0} | {:+.0} µs |",
            bare_half.rps,
            service_half.p50_us,
            service_half.p99_us,
            service_half.p999_us,
            bare_half.p50_us,
            bare_half.p99_us,
            bare_half.p999_us,
            service_half.p50_us - bare_half.p50_us,
        ));
        let errors = [
            &bare,
            &service,
            &direct,
            &direct_tokio_postgres,
            &redis_get,
            &bare_half,
            &service_half,
        ]
        .iter()
        .map(|stats| stats.errors)
        .sum::<u64>();
        if errors > 0 {
            self.misc.push(format!(
                "- {size}: {errors} failed requests across the runs"
            ));
        }
    }

    pub fn mcp(&mut self, figures: crate::mcp::McpFigures) {
        let grpc = figures.grpc.rps.max(f64::MIN_POSITIVE);
        let (wire, through_rmcp) = (figures.wire.rps / grpc, figures.mcp.rps / grpc);
        self.misc.push(format!(
            "- MCP endpoint (in-process, 2k view, {} in flight): `prompts/list` through `/mcp/{{server}}` from a pooled HTTP client sending the current protocol's request, answers decoded into rmcp's `ListPromptsResult`, {:.0}/s (p50 {:.0} µs, p99 {:.0} µs; {} of them answered from their encoded form) vs `GetPrompts` {:.0}/s (p50 {:.0} µs, p99 {:.0} µs): **{wire:.2}×**; through rmcp's own client {:.0}/s (p50 {:.0} µs, p99 {:.0} µs; {} from their encoded form): {through_rmcp:.2}×. One change announced to {} listen streams: {} received, p50 {:.1} ms, p99 {:.1} ms from the write's acknowledgment.",
            figures.concurrency,
            figures.wire.rps,
            figures.wire.p50_us,
            figures.wire.p99_us,
            figures.wire_encoded,
            figures.grpc.rps,
            figures.grpc.p50_us,
            figures.grpc.p99_us,
            figures.mcp.rps,
            figures.mcp.p50_us,
            figures.mcp.p99_us,
            figures.mcp_encoded,
            figures.listeners,
            figures.announce.samples,
            figures.announce.p50_ms,
            figures.announce.p99_ms,
        ));
    }

    pub fn hung_reads(&mut self, f: crate::clients::HungReads) {
        self.misc.push(format!(
            "- Cached reads through the Rust client with the service hung (link blackholed, call timeout {} s, every read revalidating): {} reads, all answered stale, p50 **{:.2} ms**, p99 **{:.2} ms** (target: tens of ms at most; the read budget is 50 ms, and the circuit breaker answers at once once it opens).",
            f.timeout.as_secs(),
            f.count,
            f.reads.p50_us / 1000.0,
            f.reads.p99_us / 1000.0,
        ));
    }

    pub fn gateway(&mut self, f: crate::gateway::GatewayFigures) {
        use crate::gateway::{OVERHEAD_TARGET_MS, THROUGHPUT_TARGET, TOOL_WAIT};
        let met = |ok: bool| if ok { "met" } else { "not met" };
        let side = |s: &crate::load::Stats| {
            format!(
                "{:.0}/s (p50 {:.0} µs, p99 {:.0} µs)",
                s.rps, s.p50_us, s.p99_us
            )
        };
        let alone = &f.alone;
        let overhead_ms = (alone.gateway.p50_us - alone.straight.p50_us) / 1000.0;
        self.misc.push(format!(
            "- Gateway latency, one tool call in flight (a tool answering at once, in-process upstream): through `/mcp/{{server}}` {} vs straight {}: p50 overhead **{overhead_ms:.2} ms** (target ≤ {OVERHEAD_TARGET_MS} ms: {}).",
            side(&alone.gateway),
            side(&alone.straight),
            met(overhead_ms <= OVERHEAD_TARGET_MS),
        ));
        for pair in &f.pairs {
            let ratio = pair.gateway.rps / pair.straight.rps.max(f64::MIN_POSITIVE);
            let tool = match pair.tool {
                "io" => format!("a tool waiting {} ms (I/O)", TOOL_WAIT.as_millis()),
                _ => "a tool answering at once (CPU shared with the upstream)".to_owned(),
            };
            self.misc.push(format!(
                "- Gateway throughput, {tool}, {} sessions in flight: through `/mcp/{{server}}` {} vs straight {}: **{ratio:.2}×** (target ≥ {THROUGHPUT_TARGET}×: {}).",
                f.concurrency,
                side(&pair.gateway),
                side(&pair.straight),
                met(ratio >= THROUGHPUT_TARGET),
            ));
        }
    }

    pub fn clients(&mut self, f: crate::clients::ClientFigures) {
        use crate::clients::{CACHED_VS_REDIS_TARGET, Reads};
        let shown =
            |r: &Reads| format!("{:.2} / {:.2} ({:.0}/s)", r.p50_us, r.p99_us, r.per_second);
        for size in &f.sizes {
            // Judged at p50, the typical read: the mean behind reads/s also carries every
            // preemption of this shared machine, which weighs most on the shortest read.
            let at_p50 = size.redis_get.p50_us / size.cached.p50_us.max(f64::MIN_POSITIVE);
            let per_second =
                size.cached.per_second / size.redis_get.per_second.max(f64::MIN_POSITIVE);
            self.client_reads.push(format!(
                "| {} ({} B) | {} | {} | {} | {} | {} | **{at_p50:.0}×** at p50, {per_second:.0}× in reads/s ({}) |",
                size.size,
                size.bytes,
                shown(&size.cached),
                shown(&size.redis_get),
                shown(&size.get_prompts),
                shown(&size.revalidation),
                shown(&size.reload),
                if at_p50 >= CACHED_VS_REDIS_TARGET {
                    "met"
                } else {
                    "MISSED"
                },
            ));
        }
        self.client_notes.push(format!(
            "- The timer itself (an empty read through the same function): {} µs, in every figure above.",
            shown(&f.floor),
        ));
        self.client_notes.push(format!(
            "- `GetPrompt` through the client (rendered by the service each time, {} view's first prompt): {} µs.",
            f.sizes.first().map_or("", |s| s.size),
            shown(&f.get_prompt),
        ));
    }

    pub fn mcp_server(&mut self, f: crate::mcp_server::McpServerFigures) {
        use crate::mcp_server::TARGET;
        let shown = |s: &Stats, (low, high): (f64, f64)| {
            format!(
                "{:.0} ({:.0} / {:.0}; runs {low:.0}–{high:.0})",
                s.rps, s.p50_us, s.p99_us
            )
        };
        self.mcp_server_heading = Some(format!(
            "{} in flight (one MCP client each, current protocol, no session), {} s a run, each figure the median of {} interleaved runs",
            f.concurrency, f.seconds, f.repeats
        ));
        for size in &f.sizes {
            let times = size.config_backed.rps / size.hard_coded.rps.max(f64::MIN_POSITIVE);
            let errors = size.config_backed.errors + size.hard_coded.errors;
            self.mcp_server.push(format!(
                "| {} ({} prompts) | {} | {} | **{times:.2}×** ({}) |{}",
                size.size,
                size.prompts,
                shown(&size.config_backed, size.config_backed_range),
                shown(&size.hard_coded, size.hard_coded_range),
                if times >= TARGET { "met" } else { "MISSED" },
                if errors > 0 {
                    format!(" {errors} failed requests")
                } else {
                    String::new()
                },
            ));
        }
    }

    pub fn fanout(&mut self, f: crate::scenarios::Fanout) {
        self.misc.push(format!(
            "- Fan-out to {} subscribers over {} servers (each event one server's, published as the relay does): global channel {:.0} deliveries per event (every subscriber), p50 {:.2} ms, p99 {:.2} ms; per-server channels {:.0} deliveries per event (its server's subscribers), p50 {:.2} ms, p99 {:.2} ms: **{:.1}×** fewer messages, p99 **{:.2}×**.",
            f.subscribers,
            crate::scenarios::FANOUT_SERVERS,
            f.global_deliveries,
            f.global.p50_ms,
            f.global.p99_ms,
            f.per_server_deliveries,
            f.per_server.p50_ms,
            f.per_server.p99_ms,
            f.global_deliveries / f.per_server_deliveries.max(f64::MIN_POSITIVE),
            f.per_server.p99_ms / f.global.p99_ms.max(f64::MIN_POSITIVE),
        ));
    }

    pub fn ui(&mut self, figures: crate::ui::UiFigures) {
        let pair = |page: &crate::ui::PageLatency, json: &crate::ui::PageLatency| {
            format!(
                "first byte p50 {:.1} ms, full page p50 {:.1} ms, **p95 {:.1} ms** (target ≤ 20 ms) vs the admin API's JSON p50 {:.1} ms, p95 {:.1} ms: **{:.2}×** at p95",
                page.first_byte_p50_ms,
                page.p50_ms,
                page.p95_ms,
                json.p50_ms,
                json.p95_ms,
                page.p95_ms / json.p95_ms.max(f64::MIN_POSITIVE)
            )
        };
        let scopes: Vec<String> = figures
            .scopes
            .iter()
            .map(|scope| {
                format!(
                    "the scope page of an org over {} defaults (its first 100 a page) {}, and on its first view after a change (the scope read again, {} views) first byte p50 {:.1} ms, full page p50 {:.1} ms, p95 {:.1} ms",
                    scope.entries,
                    pair(&scope.page, &scope.json),
                    scope.page_after_change.samples,
                    scope.page_after_change.first_byte_p50_ms,
                    scope.page_after_change.p50_ms,
                    scope.page_after_change.p95_ms,
                )
            })
            .collect();
        self.misc.push(format!(
            "- Web UI pages (in-process, one request at a time, {} each): {}; the history page of an entry with {} versions {}.",
            figures.history_page.samples,
            scopes.join("; "),
            crate::ui::VERSIONS,
            pair(&figures.history_page, &figures.history_json),
        ));
    }

    pub fn renders(&mut self, f: &crate::renders::RenderFairness) {
        let reads = |r: &crate::renders::VictimReads| {
            format!(
                "`GetPrompt` {:.2} / {:.2} ms, `GetPrompts` {:.2} / {:.2} ms ({} + {} calls, {} failed)",
                r.get_prompt.p50_ms,
                r.get_prompt.p99_ms,
                r.get_prompts.p50_ms,
                r.get_prompts.p99_ms,
                r.get_prompt.samples,
                r.get_prompts.samples,
                r.errors,
            )
        };
        self.misc.push(format!(
            "- Render fairness (real binary, p50 / p99): org `calm`'s reads idle {}; while org `storm` keeps 16 renders of a template that runs to its deadline in flight {}: **p99 {:+.2} ms** for `GetPrompt`, {:+.2} ms for `GetPrompts` (target: no failed call, p99 within a few ms). The attacker got {} refusals (RESOURCE_EXHAUSTED), {} other answers; {} workers stopped at their deadline. The render path itself (worker round trip included), idle: `GetPrompt` p50 {} `GetPrompts`'.",
            reads(&f.idle),
            reads(&f.attacked),
            f.attacked.get_prompt.p99_ms - f.idle.get_prompt.p99_ms,
            f.attacked.get_prompts.p99_ms - f.idle.get_prompts.p99_ms,
            f.attacker_refused,
            f.attacker_other,
            f.workers_stopped,
            ratio(f.idle.get_prompt.p50_ms, f.idle.get_prompts.p50_ms),
        ));
    }

    pub fn stampede(&mut self, requests: usize, ok: usize, loads: u64) {
        self.misc.push(format!(
            "- Stampede: {requests} concurrent `GetPrompts` on one cold key (100 KB view): {ok} answered, **{loads} store load(s)** (target: exactly 1)."
        ));
    }

    pub fn propagation(
        &mut self,
        subscribers: usize,
        raw: Latency,
        redis: Propagation,
        watch: Propagation,
    ) {
        let pair = |l: &Latency| format!("{:.2} / {:.2}", l.p50_ms, l.p99_ms);
        self.propagation.push(format!(
            "| {subscribers} | {} | {} ({:+.2} / {:+.2}) | {} | {} | {} | {} / {} / {} |",
            pair(&raw),
            pair(&redis.from_commit),
            redis.from_commit.p50_ms - raw.p50_ms,
            redis.from_commit.p99_ms - raw.p99_ms,
            pair(&redis.from_request),
            pair(&watch.from_commit),
            pair(&watch.from_request),
            raw.samples,
            redis.from_commit.samples,
            watch.from_commit.samples,
        ));
    }

    pub fn cold(&mut self, orgs: usize, prompts: usize, loads: ColdLoads) {
        let latency = loads.production;
        self.misc.push(format!(
            "- Cold loads (no cache), {orgs} orgs × {prompts} prompts in PostgreSQL, {} views loaded: p50 {:.2} ms, p99 **{:.2} ms**, max {:.2} ms (target p99 ≤ 10 ms).",
            latency.samples, latency.p50_ms, latency.p99_ms, latency.max_ms
        ));
        let before = loads.before_labels;
        self.misc.push(format!(
            "- Release labels on the store path: the same cold loads at production through the labeled query vs the query before labels, alternating: p50 {:.3} vs {:.3} ms, p99 {:.3} vs {:.3} ms — production reads at **{}** of the speed before labels (target ≥ 0.95×).",
            latency.p50_ms,
            before.p50_ms,
            latency.p99_ms,
            before.p99_ms,
            ratio(before.p50_ms, latency.p50_ms)
        ));
    }

    pub fn miss_paths(&mut self, from_l2: MissPath, from_store: MissPath) {
        let line = |path: &MissPath| {
            format!(
                "whole {:.3} ms vs parts {:.3} ms (**{}**)",
                path.whole.p50_ms,
                path.parts.p50_ms,
                ratio(path.whole.p50_ms, path.parts.p50_ms)
            )
        };
        self.misc.push(format!(
            "- Miss paths of a 2 KB view, p50 over {} rounds (target ≤ 1.2× the sum of the parts): from L2 (GET + decode + L1 insert) {}; from PostgreSQL (L2 GET + query, merge, encode + L2 SET + L1 insert) {}.",
            from_l2.whole.samples,
            line(&from_l2),
            line(&from_store),
        ));
    }

    pub fn memory(&mut self, memory: Memory) {
        self.misc.push(format!(
            "- L1 memory: {} orgs' ~2 KB views offered to a {} MiB budget: {} kept, weighing {:.1} MiB (**{}** the budget); process RSS grew {:.1} MiB.",
            memory.orgs,
            memory.budget_bytes >> 20,
            memory.entries_kept,
            memory.weighted_bytes as f64 / (1 << 20) as f64,
            if memory.weighted_bytes <= memory.budget_bytes { "within" } else { "OVER" },
            memory.rss_growth_bytes as f64 / (1 << 20) as f64,
        ));
    }

    pub fn zipf(&mut self, points: &[crate::growth::ZipfPoint]) {
        let mut block = String::from(
            "### A working set larger than L1: Zipf-distributed requests\n\n\
             Requests for `org1`…`orgN` (one ~1 KB view each), Zipf-distributed with exponent s, \
             64 in flight; each setting against its own all-hit baseline (every request for one \
             view) on the same service. Target: s = 1.0 over 100,000 views with a 64 MiB L1 at \
             ≥ 0.8× the all-hit throughput. Plot: [`bench/zipf.svg`](bench/zipf.svg).\n\n\
             | L1 budget | L2 | requests | req/s | × all-hit | p99 | L1 hit ratio | L2 hit ratio (of L1 misses) |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for point in points {
            let baseline = points
                .iter()
                .find(|p| {
                    p.budget_mib == point.budget_mib && p.l2 == point.l2 && p.exponent.is_none()
                })
                .map_or(0.0, |p| p.stats.rps);
            let requests = point.exponent.map_or("all-hit (one view)".to_owned(), |s| {
                format!("Zipf s = {s:.1}")
            });
            let target = point.budget_mib == 64 && point.exponent == Some(1.0);
            let verdict = match (target, point.stats.rps / baseline.max(1.0) >= 0.8) {
                (true, true) => " (target ≥ 0.8×: met)",
                (true, false) => " (target ≥ 0.8×: MISSED)",
                _ => "",
            };
            let _ = writeln!(
                block,
                "| {} MiB | {} | {requests} | {:.0} | {}{verdict} | {:.2} ms | {:.1} % | {} |",
                point.budget_mib,
                if point.l2 { "Redis" } else { "none" },
                point.stats.rps,
                ratio(point.stats.rps, baseline),
                point.stats.p99_us / 1e3,
                point.l1_hit_ratio * 100.0,
                point
                    .l2_hit_ratio
                    .map_or("—".to_owned(), |r| format!("{:.1} %", r * 100.0)),
            );
        }
        self.growth.push(block);
    }

    pub fn startup(&mut self, points: &[crate::growth::StartupPoint]) {
        let mut block = String::from(
            "### Start-up as the data grows\n\n\
             Process start → `/readyz` 200 (the median of three starts) of `mcp-config serve` on \
             PostgreSQL, and its resident memory idle and after loading views. Target: ≤ 1 s \
             regardless of data size (nothing is loaded eagerly). Plot: \
             [`bench/startup.svg`](bench/startup.svg).\n\n\
             | orgs × prompts | to ready | resident, idle | resident after warming | views warmed |\n\
             |---|---|---|---|---|\n",
        );
        for p in points {
            let ms = p.ready.as_secs_f64() * 1e3;
            let _ = writeln!(
                block,
                "| {} × {} | {ms:.0} ms{} | {:.1} MiB | {:.1} MiB | {} |",
                p.orgs,
                p.prompts,
                if ms <= 1000.0 { " (met)" } else { " (MISSED)" },
                p.rss_idle_kib as f64 / 1024.0,
                p.rss_warm_kib as f64 / 1024.0,
                p.warmed,
            );
        }
        self.growth.push(block);
    }

    pub fn writes(&mut self, points: &[crate::growth::WritePoint], save_ceiling: f64) {
        let mut block = String::from(
            "### Writes\n\n\
             Single-entry writes through the admin API (8 in flight, each a new version of one of \
             1,000 defaults), the propagation of those writes while they run (the write's \
             acknowledgement → its event on the Redis channel, as the relay publishes it), and \
             one bundle import of many new entries (one transaction, one change per entry).\n\n\
             | store | writes/s | write p50 / p99 | propagation p50 / p99 during the writes | bundle import |\n\
             |---|---|---|---|---|\n",
        );
        for p in points {
            let _ = writeln!(
                block,
                "| {} | {:.0} | {:.2} / {:.2} ms | {:.2} / {:.2} ms ({} events) | {} entries in {:.2} s ({:.0} entries/s) |",
                p.store,
                p.writes.rps,
                p.writes.p50_us / 1e3,
                p.writes.p99_us / 1e3,
                p.propagation.p50_ms,
                p.propagation.p99_ms,
                p.propagation.samples,
                p.bundle_entries,
                p.bundle.as_secs_f64(),
                p.bundle_entries as f64 / p.bundle.as_secs_f64().max(1e-9),
            );
        }
        if let Some(pg) = points.iter().find(|p| p.store == "PostgreSQL") {
            let ratio = pg.writes.rps / save_ceiling.max(f64::MIN_POSITIVE);
            let _ = writeln!(
                block,
                "\nPostgreSQL saves against the same transaction's ceiling (the store's SQL for one save run by `pgbench`, 8 clients, prepared statements, the same cluster and durability, after the service stopped): {:.0} saves/s vs {:.0} transactions/s: **{:.2}×** (target ≥ 0.7×: {}).",
                pg.writes.rps,
                save_ceiling,
                ratio,
                if ratio >= 0.7 { "met" } else { "MISSED" }
            );
        }
        self.growth.push(block);
    }

    /// The section of issue 18's part 2: what an MCP server sees.
    fn render_mcp_server_view(&self, s: &mut String) {
        if self.client_reads.is_empty() && self.mcp_server.is_empty() {
            return;
        }
        let _ = writeln!(s, "\n## What an MCP server sees\n");
        if !self.client_reads.is_empty() {
            let _ = writeln!(
                s,
                "### Reads through the Rust client (µs, p50 / p99, and reads/s; sequential, one process)\n\n\
                 Every read from the same process, timed by the same function: the client's cached read \
                 (the view is current: no call), a Redis `GET` of the same bytes (fred), a `GetPrompts` \
                 call (tonic, decoded); then after an invalidation: the client's revalidation \
                 (`known_revision`, answered `not_modified`) and its full reload (the view changed: the \
                 whole body fetched and decoded; the change written and heard first, untimed). In-process \
                 service on SQLite. Each kind's reads taken in interleaved chunks. Ratio: the Redis `GET`'s p50 over the cached read's (target ≥ 100×), and the cached read's reads/s over the `GET`'s.\n"
            );
            let _ = writeln!(
                s,
                "| view | cached read | Redis GET | `GetPrompts` | revalidation | full reload | cached vs Redis GET |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|---|");
            for row in &self.client_reads {
                let _ = writeln!(s, "{row}");
            }
            for note in &self.client_notes {
                let _ = writeln!(s, "{note}");
            }
            let _ = writeln!(
                s,
                "- The TypeScript client's figures: `cd client/typescript && npm run bench`."
            );
        }
        if let Some(heading) = &self.mcp_server_heading {
            let _ = writeln!(
                s,
                "\n### `prompts/list` through the example MCP server (req/s, and p50 / p99 µs; {heading})\n\n\
                 `examples/mcp-server-rust` reading its prompts from mcp-config through the Rust client, \
                 against the same server with the same prompts hard-coded (the state mcp-config replaces): \
                 both served by the example's `serve` (rmcp streamable HTTP); the hard-coded list is the view's \
                 prompts converted once, at start, by the function the example converts them with per request. In-process (server, service and load share the cores). Target ≥ 0.95×.\n"
            );
            let _ = writeln!(s, "| view | on mcp-config | hard-coded | ratio |");
            let _ = writeln!(s, "|---|---|---|---|");
            for row in &self.mcp_server {
                let _ = writeln!(s, "{row}");
            }
        }
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Benchmarks\n");
        if self.smoke {
            let _ = writeln!(
                s,
                "> **Smoke run** (CI-sized): these figures only show that every scenario ran.\n"
            );
        }
        let _ = writeln!(
            s,
            "Produced by `scripts/bench.sh` (`cargo run --release -p mcp-config-bench -- all`). Machine: {}. \
             Server and load generator {}. Every row compares figures measured in the same run. \
             How the scenarios are built and which targets they meet: `docs/benchmarks-analysis.md`.\n",
            machine(),
            if self.pinned {
                "pinned to separate cores with `taskset` (PostgreSQL and Redis on the server's core)"
            } else {
                "NOT pinned (taskset unavailable)"
            }
        );
        let _ = writeln!(
            s,
            "## Cached `GetPrompts` throughput (requests/s, 64 in flight over 4 connections; each figure the median of 3 interleaved runs)\n"
        );
        let _ = writeln!(
            s,
            "| response | mcp-config | bare tonic (same bytes) | Redis GET (fred) | PostgreSQL per request (sqlx / tokio-postgres) | vs bare | vs Redis (the bare server's ratio) | vs PostgreSQL, sqlx / tokio-postgres (the bare server's ratios) |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for row in &self.throughput {
            let _ = writeln!(s, "{row}");
        }
        let _ = writeln!(
            s,
            "\n## Latency at half of the bare server's max throughput, at most 15 k/s (µs, p50 / p99 / p99.9; evenly spaced arrivals, open loop; each the run of median p50 of 3 interleaved runs)\n"
        );
        let _ = writeln!(
            s,
            "| response | req/s | mcp-config | bare tonic | p50 difference |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        for row in &self.latency {
            let _ = writeln!(s, "{row}");
        }
        let _ = writeln!(
            s,
            "\n## Propagation (ms, p50 / p99, to each subscriber's receipt)\n\n\
             From the commit (PostgreSQL's commit timestamp of the write's transaction) and from \
             the write request (adds the write itself: HTTP, transaction, commit).\n"
        );
        let _ = writeln!(
            s,
            "| subscribers | raw PUBLISH → receive | commit → Redis subscriber (vs raw) | request → Redis subscriber | commit → Watch stream | request → Watch stream | samples |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for row in &self.propagation {
            let _ = writeln!(s, "{row}");
        }
        self.render_mcp_server_view(&mut s);
        let _ = writeln!(s, "\n## Other targets\n");
        for line in &self.misc {
            let _ = writeln!(s, "{line}");
        }
        if !self.growth.is_empty() {
            let _ = writeln!(s, "\n## How cost grows\n");
            for block in &self.growth {
                let _ = writeln!(s, "{block}");
            }
        }
        s
    }
}
