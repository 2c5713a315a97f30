//! A throwaway Redis Sentinel group on free ports: one master, one replica and three sentinels
//! (quorum 2) that fail over a second after the master stops answering.

use std::{
    process::{Child, Command},
    sync::Mutex,
    time::Duration,
};

use crate::redis::{cli, spawn, wait_until};

/// The name the sentinels know the master by.
pub const SERVICE_NAME: &str = "mymaster";

pub struct RedisSentinel {
    master_port: u16,
    replica_port: u16,
    sentinel_ports: Vec<u16>,
    master: Mutex<Option<Child>>,
    others: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl RedisSentinel {
    /// Starts the master, the replica (waiting until it has synced) and the sentinels (waiting
    /// until each knows the replica and the two other sentinels, so a failover can be agreed).
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let master_port = crate::free_port();
        let replica_port = crate::free_port();
        let master = data_node(master_port, &dir, &[]);
        let master_port_arg = master_port.to_string();
        let replica = data_node(
            replica_port,
            &dir,
            &["--replicaof", "127.0.0.1", &master_port_arg],
        );
        wait_until("the replica syncs", Duration::from_secs(30), || {
            cli(replica_port, &["info", "replication"]).contains("master_link_status:up")
        });
        let mut others = vec![replica];
        let sentinel_ports: Vec<u16> = (0..3).map(|_| crate::free_port()).collect();
        for port in &sentinel_ports {
            // A sentinel rewrites its file as it learns the group: one file each.
            let conf = dir.path().join(format!("sentinel-{port}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\n\
                     dir {dir}\n\
                     sentinel monitor {SERVICE_NAME} 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds {SERVICE_NAME} 1000\n\
                     sentinel failover-timeout {SERVICE_NAME} 5000\n\
                     sentinel parallel-syncs {SERVICE_NAME} 1\n",
                    dir = dir.path().display()
                ),
            )
            .expect("the sentinel's file is written");
            others.push(spawn(
                &[conf.to_str().expect("a UTF-8 temp dir"), "--sentinel"],
                *port,
            ));
        }
        for port in &sentinel_ports {
            wait_until(
                "every sentinel knows the replica and the other sentinels",
                Duration::from_secs(30),
                || {
                    let master = cli(*port, &["sentinel", "master", SERVICE_NAME]);
                    field(&master, "num-slaves") == Some("1")
                        && field(&master, "num-other-sentinels") == Some("2")
                },
            );
        }
        Self {
            master_port,
            replica_port,
            sentinel_ports,
            master: Mutex::new(Some(master)),
            others,
            _dir: dir,
        }
    }

    /// A `redis-sentinel://` URL naming the three sentinels.
    pub fn url(&self) -> String {
        format!(
            "redis-sentinel://127.0.0.1:{}?sentinelServiceName={SERVICE_NAME}&node=127.0.0.1:{}&node=127.0.0.1:{}",
            self.sentinel_ports[0], self.sentinel_ports[1], self.sentinel_ports[2]
        )
    }

    pub fn master_port(&self) -> u16 {
        self.master_port
    }

    pub fn replica_port(&self) -> u16 {
        self.replica_port
    }

    /// The port of the master as the first sentinel names it now.
    pub fn current_master_port(&self) -> Option<u16> {
        let addr = cli(
            self.sentinel_ports[0],
            &["sentinel", "get-master-addr-by-name", SERVICE_NAME],
        );
        addr.lines().nth(1)?.trim().parse().ok()
    }

    /// Kills the first master (SIGKILL: nothing is saved, connections drop).
    pub fn kill_master(&self) {
        if let Some(mut master) = self.master.lock().unwrap().take() {
            let _ = Command::new("kill")
                .args(["-9", &master.id().to_string()])
                .status();
            let _ = master.wait();
        }
    }
}

/// A master or replica on `port`, nothing saved but the copy a replica syncs from its master,
/// which goes to `dir`.
fn data_node(port: u16, dir: &tempfile::TempDir, extra: &[&str]) -> Child {
    let port_arg = port.to_string();
    let file = format!("dump-{port}.rdb");
    let mut args = vec![
        "--port",
        &port_arg,
        "--dir",
        dir.path().to_str().expect("a UTF-8 temp dir"),
        "--dbfilename",
        &file,
        "--save",
        "",
        "--appendonly",
        "no",
    ];
    args.extend(extra);
    spawn(&args, port)
}

/// The value of `name` in a `SENTINEL MASTER` reply (`redis-cli` prints names and values on
/// alternate lines).
fn field<'a>(reply: &'a str, name: &str) -> Option<&'a str> {
    let mut lines = reply.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line == name {
            return lines.next();
        }
    }
    None
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        self.kill_master();
        for child in &mut self.others {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
