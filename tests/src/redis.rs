//! A throwaway Redis server on a free port, that a test can kill and restart on the same port.

use std::{
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct Redis {
    port: u16,
    child: Mutex<Option<Child>>,
}

impl Redis {
    pub fn start() -> Self {
        let redis = Self {
            port: crate::free_port(),
            child: Mutex::new(None),
        };
        redis.resume();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap().as_ref().map(Child::id)
    }

    /// Starts (again) on the same port and waits until it accepts connections.
    pub fn resume(&self) {
        let port = self.port.to_string();
        let child = spawn(
            &["--port", &port, "--save", "", "--appendonly", "no"],
            self.port,
        );
        *self.child.lock().unwrap() = Some(child);
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing answers, as in a
    /// partition or a stalled failover.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid().expect("the server runs");
        let sent = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill {signal} {pid}");
    }

    /// Kills the server (SIGKILL): connections drop, nothing is saved.
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            // A frozen server takes SIGKILL too; thawing first lets it die at once.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `redis-server` with `args` (on loopback only), and waits until `port` accepts
/// connections.
pub(crate) fn spawn(args: &[&str], port: u16) -> Child {
    let child = Command::new("redis-server")
        .args(args)
        .args(["--bind", "127.0.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed (see .ci/run)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// What `redis-cli -p <port> <command…>` prints; empty if it cannot run or connect.
pub(crate) fn cli(port: u16, command: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(command)
        .stderr(Stdio::null())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

/// Polls `check` every 50 ms until it holds; panics with `what` after `timeout`.
pub(crate) fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
