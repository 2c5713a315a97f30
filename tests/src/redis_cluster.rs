//! A throwaway Redis Cluster of three masters (no replicas) on free ports, its node files in a
//! temp dir.

use std::{process::Child, time::Duration};

use crate::redis::{cli, spawn, wait_until};

pub struct RedisCluster {
    ports: Vec<u16>,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts three masters, joins them (`redis-cli --cluster create`) and waits until every
    /// node says the cluster is ok.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ports: Vec<u16> = (0..3).map(|_| crate::free_port()).collect();
        let children = ports
            .iter()
            .map(|port| {
                let (port_arg, bus_port) = (port.to_string(), crate::free_port().to_string());
                let nodes = dir.path().join(format!("nodes-{port}.conf"));
                spawn(
                    &[
                        "--port",
                        &port_arg,
                        // The bus would be port + 10,000 otherwise: maybe taken, maybe past 65,535.
                        "--cluster-port",
                        &bus_port,
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        nodes.to_str().expect("a UTF-8 temp dir"),
                        "--dir",
                        dir.path().to_str().expect("a UTF-8 temp dir"),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ],
                    *port,
                )
            })
            .collect();
        let cluster = Self {
            ports,
            children,
            _dir: dir,
        };
        let mut create = vec!["--cluster", "create"];
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        create.extend(nodes.iter().map(String::as_str));
        create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let created = cli(cluster.ports[0], &create);
        assert!(
            created.contains("All 16384 slots covered"),
            "redis-cli --cluster create failed: {created}"
        );
        for port in &cluster.ports {
            wait_until("the cluster is ok", Duration::from_secs(30), || {
                cli(*port, &["cluster", "info"]).contains("cluster_state:ok")
            });
        }
        cluster
    }

    /// A `redis-cluster://` URL naming every node (fred needs one; the others help when the
    /// first is down).
    pub fn url(&self) -> String {
        let others: Vec<String> = self.ports[1..]
            .iter()
            .map(|p| format!("node=127.0.0.1:{p}"))
            .collect();
        format!(
            "redis-cluster://127.0.0.1:{}?{}",
            self.ports[0],
            others.join("&")
        )
    }

    pub fn ports(&self) -> &[u16] {
        &self.ports
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
