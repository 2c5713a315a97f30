//! The chaos run: PostgreSQL, Redis and three replicas of the real binary, writers and readers
//! (raw Redis subscriber, Watch follower, Rust client on Redis, Python client on Watch) at work,
//! and overlapping faults on a seeded schedule; then the invariants, each with its count.
//!
//!     cargo run -p mcp-config-chaos -- --duration 60s --python target/python-venv/bin/python
//!
//! Exits non-zero when an invariant broke; `--seed` replays a run's schedule.

mod cluster;
mod faults;
mod invariants;
mod report;
mod run;
mod workload;

use std::{path::PathBuf, time::Duration};

use clap::Parser;

#[derive(Parser)]
#[command(about = "Overlapping faults against a real cluster, with the invariants checked")]
struct Args {
    /// How long faults are injected (`60s`, `30m`).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Seed of the fault schedule and the writers (default: the clock).
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    #[arg(long, default_value_t = 2)]
    writers: usize,
    /// The service binary (default: `mcp-config` beside this one).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// A Python with the client installed (`target/python-venv/bin/python` after
    /// `scripts/test-python.sh`); without it the Python reader does not run.
    #[arg(long)]
    python: Option<PathBuf>,
    /// How long everything may take to converge once the faults end.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    convergence_bound: Duration,
    /// Where the report goes too (Markdown).
    #[arg(long)]
    report: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = match args.bin {
        Some(bin) => bin,
        None => std::env::current_exe()?.with_file_name("mcp-config"),
    };
    anyhow::ensure!(
        bin.exists(),
        "no service binary at {} (build it, or pass --bin)",
        bin.display()
    );
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let settings = run::Settings {
        bin,
        python: args.python,
        shape: faults::Shape {
            seed,
            duration: args.duration,
            replicas: args.replicas,
            witness: args.replicas - 1,
        },
        writers: args.writers,
        convergence_bound: args.convergence_bound,
    };
    let outcome = run::run(settings).await?;
    let text = report::markdown(&outcome);
    println!("{text}");
    if let Some(path) = args.report {
        std::fs::write(path, &text)?;
    }
    anyhow::ensure!(
        outcome.held(),
        "an invariant broke (seed {seed}): see the report above"
    );
    Ok(())
}
