//! A throwaway PostgreSQL cluster: `initdb` into a temp dir, `pg_ctl start` on a free port.
//!
//! PostgreSQL refuses to run as root; when the tests do, the cluster is created and run as the
//! `postgres` user (with `runuser`), in a directory handed over to that user.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

use tempfile::TempDir;

pub struct Postgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    /// Commits wait for their WAL write, so a crash (`pg_ctl stop -m immediate`) keeps every
    /// acknowledged commit. Off by default: tests that never crash the server go faster.
    durable: bool,
}

static DATABASES: AtomicU32 = AtomicU32::new(0);

fn bin_dir() -> PathBuf {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql (see .ci/run)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root.
fn run(bin: &Path, program: &str, args: &[&str]) {
    let program = bin.join(program);
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    let output = command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Postgres {
    /// Creates and starts a new cluster.
    pub fn start() -> Self {
        Self::create(false)
    }

    /// [`Postgres::start`], keeping every acknowledged commit through a [`Postgres::crash`].
    pub fn start_durable() -> Self {
        Self::create(true)
    }

    fn create(durable: bool) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("mcp-config-pg-")
            .tempdir()
            .expect("temp dir");
        if is_root() {
            let status = Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown of the cluster dir");
        }
        let bin = bin_dir();
        let data = dir.path().join("data");
        run(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let pg = Self {
            dir,
            bin,
            port: crate::free_port(),
            durable,
        };
        pg.start_server();
        pg
    }

    fn start_server(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("server.log");
        // fsync stays off even when durable: a crash of the server (not of the machine) keeps
        // what was written to the OS.
        let synchronous_commit = if self.durable { "on" } else { "off" };
        let options = format!(
            "-p {} -k {} -h 127.0.0.1 -c fsync=off -c synchronous_commit={synchronous_commit} -c full_page_writes=off -c max_connections=200 -c track_commit_timestamp=on",
            self.port,
            self.dir.path().display()
        );
        run(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops the server (fast shutdown); [`Postgres::resume`] starts it again on the same port.
    pub fn stop(&self) {
        self.stop_by("fast");
    }

    /// Stops the server as a crash would (immediate shutdown: no checkpoint, clients cut);
    /// [`Postgres::resume`] recovers it on the same port.
    pub fn crash(&self) {
        self.stop_by("immediate");
    }

    fn stop_by(&self, mode: &str) {
        let data = self.dir.path().join("data");
        run(
            &self.bin,
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", mode, "-w", "stop"],
        );
    }

    pub fn resume(&self) {
        self.start_server();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's process id (new backends are its children), while it runs.
    pub fn pid(&self) -> Option<u32> {
        let pid_file = self.dir.path().join("data").join("postmaster.pid");
        std::fs::read_to_string(pid_file)
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Runs `pgbench` (the cluster's own) against the database of `url` (one of
    /// [`Postgres::database`]'s) with `args`; its standard output.
    pub fn pgbench(&self, url: &str, args: &[&str]) -> String {
        let name = url
            .rsplit('/')
            .next()
            .expect("a database URL ends in its name");
        let output = Command::new(self.bin.join("pgbench"))
            .args(self.connection_args())
            .args(args)
            .arg(name)
            .output()
            .expect("pgbench runs");
        assert!(
            output.status.success(),
            "pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// How a client program reaches the cluster: over TCP, as `postgres`.
    fn connection_args(&self) -> Vec<String> {
        [
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ]
        .map(String::from)
        .into()
    }

    /// The URL of the cluster's `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Creates a fresh, empty database and returns its URL.
    pub fn database(&self) -> String {
        let name = format!("test_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
        let mut args = self.connection_args();
        args.push(name.clone());
        run(
            &self.bin,
            "createdb",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        let _ = command
            .args([
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}
