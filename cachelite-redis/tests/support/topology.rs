//! Test harness for deployments of several servers: a three-master Redis
//! Cluster, and a master, a replica and a sentinel. Each starts on free
//! loopback ports, and every process started is killed and waited on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, have_redis_server, skip};

fn have_redis_cli() -> bool {
    Command::new("redis-cli")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A private directory for config files; removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(what: &str) -> Dir {
        let p = std::env::temp_dir().join(format!(
            "cachelite-{what}-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&p).expect("create a temporary directory");
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One redis-server process started here.
struct Proc {
    child: Option<Child>,
    port: u16,
}

impl Proc {
    /// Starts `redis-server` with `args` on a free port (retrying if the
    /// port was taken meanwhile) and waits until it answers `PING`.
    fn start(args: impl Fn(u16) -> Vec<String>) -> Proc {
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args(args(port))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut p = Proc {
                child: Some(child),
                port,
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if ping(port) {
                    return p;
                }
                if let Some(Ok(Some(_))) = p.child.as_mut().map(Child::try_wait) {
                    break; // exited: the port was taken
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            p.stop();
        }
        panic!("could not start redis-server on a free port");
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ping(port: u16) -> bool {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

/// A plain connection to one node, for checks behind the cache's back.
pub fn node(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(10)))
        .expect("a connection to the node")
}

/// Waits until `cond` holds; panics after `secs` seconds.
fn wait(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A three-master Redis Cluster without replicas.
pub struct RedisCluster {
    nodes: Vec<Proc>,
    _dir: Dir,
}

impl RedisCluster {
    /// Starts the cluster, or `None` (after a message) when redis-server
    /// or redis-cli is missing.
    pub fn start() -> Option<RedisCluster> {
        if !have_redis_server() || !have_redis_cli() {
            skip("redis-server or redis-cli is not installed");
            return None;
        }
        let dir = Dir::new("cluster");
        let nodes: Vec<Proc> = (0..3)
            .map(|_| {
                Proc::start(|port| {
                    let conf = dir.0.join(format!("nodes-{port}.conf"));
                    [
                        "--port",
                        &port.to_string(),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &conf.display().to_string(),
                        "--cluster-node-timeout",
                        "1000",
                        // The other masters keep serving when one is down.
                        "--cluster-require-full-coverage",
                        "no",
                        "--dir",
                        &dir.0.display().to_string(),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ]
                    .map(String::from)
                    .to_vec()
                })
            })
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for n in &nodes {
            create.arg(format!("127.0.0.1:{}", n.port));
        }
        let out = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let c = RedisCluster { nodes, _dir: dir };
        for port in c.ports() {
            wait(30, "every node sees the cluster as ok", || {
                redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query::<String>(&mut node(port))
                    .is_ok_and(|info| {
                        info.contains("cluster_state:ok")
                            && info.contains("cluster_slots_ok:16384")
                            && info.contains("cluster_known_nodes:3")
                    })
            });
        }
        Some(c)
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Proc::url).collect()
    }

    /// The nodes' ports (stopped nodes included).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// Kills node `i`.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].stop();
    }

    /// The keys of one node that start with `prefix`.
    pub fn keys_on(&self, i: usize, prefix: &str) -> Vec<Vec<u8>> {
        let mut c = node(self.nodes[i].port);
        let mut found = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query(&mut c)
                .expect("SCAN a node");
            found.extend(keys);
            cursor = next;
            if cursor == 0 {
                return found;
            }
        }
    }

    /// The nodes that hold a pub/sub client, by index.
    pub fn nodes_with_subscribers(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i].child.is_some()
                    && redis::cmd("CLIENT")
                        .arg("LIST")
                        .arg("TYPE")
                        .arg("pubsub")
                        .query::<String>(&mut node(self.nodes[i].port))
                        .is_ok_and(|l| !l.trim().is_empty())
            })
            .collect()
    }
}

/// A master, its replica, and one sentinel (quorum 1) watching them as
/// `mymaster`.
pub struct SentinelSet {
    master: Proc,
    replica: Proc,
    sentinel: Proc,
    _dir: Dir,
}

pub const SERVICE: &str = "mymaster";

impl SentinelSet {
    /// Starts the three, or `None` (after a message) when redis-server is
    /// missing. Returns once the sentinel names the master.
    pub fn start() -> Option<SentinelSet> {
        if !have_redis_server() {
            skip("redis-server is not installed");
            return None;
        }
        let dir = Dir::new("sentinel");
        let plain = |port: u16| {
            [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                // A replica's full sync writes an RDB file: here, not in
                // the working directory.
                "--dir",
                &dir.0.display().to_string(),
                "--dbfilename",
                &format!("dump-{port}.rdb"),
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            .map(String::from)
            .to_vec()
        };
        let master = Proc::start(plain);
        let replica = Proc::start(|port| {
            let mut a = plain(port);
            a.extend([
                "--replicaof".into(),
                "127.0.0.1".into(),
                master.port.to_string(),
            ]);
            a
        });
        wait(30, "the replica is in sync", || {
            redis::cmd("INFO")
                .arg("replication")
                .query::<String>(&mut node(replica.port))
                .is_ok_and(|i| i.contains("master_link_status:up"))
        });
        let sentinel = Proc::start(|port| {
            let conf = dir.0.join(format!("sentinel-{port}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor {SERVICE} 127.0.0.1 {m} 1\n\
                     sentinel down-after-milliseconds {SERVICE} 1000\n\
                     sentinel failover-timeout {SERVICE} 5000\n",
                    dir = dir.0.display(),
                    m = master.port
                ),
            )
            .expect("write the sentinel's config");
            vec![conf.display().to_string(), "--sentinel".into()]
        });
        let s = SentinelSet {
            master,
            replica,
            sentinel,
            _dir: dir,
        };
        wait(30, "the sentinel names the master", || {
            s.named_master() == Some(s.master.port)
        });
        Some(s)
    }

    /// Waits until the sentinel knows the replica, which a failover needs.
    fn wait_until_replica_known(&self) {
        let s = self;
        wait(30, "the sentinel knows the replica", || {
            redis::cmd("SENTINEL")
                .arg("REPLICAS")
                .arg(SERVICE)
                .query::<Vec<std::collections::HashMap<String, String>>>(&mut node(s.sentinel.port))
                .is_ok_and(|r| {
                    r.iter().any(|m| {
                        m.get("flags").is_some_and(|f| f == "slave")
                            && m.get("master-link-status").is_some_and(|l| l == "ok")
                    })
                })
        });
    }

    pub fn sentinel_url(&self) -> String {
        self.sentinel.url()
    }

    pub fn master_port(&self) -> u16 {
        self.master.port
    }

    pub fn replica_port(&self) -> u16 {
        self.replica.port
    }

    /// The master's port as the sentinel names it.
    pub fn named_master(&self) -> Option<u16> {
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(SERVICE)
            .query::<Option<(String, u16)>>(&mut node(self.sentinel.port))
            .ok()
            .flatten()
            .map(|(_, p)| p)
    }

    /// Makes the sentinel name the replica as the master, with no failover:
    /// the old master stays a master and keeps its clients.
    pub fn renamed_to_replica(&self) {
        let mut s = node(self.sentinel.port);
        let _: () = redis::cmd("SENTINEL")
            .arg("REMOVE")
            .arg(SERVICE)
            .query(&mut s)
            .expect("SENTINEL REMOVE");
        let _: () = redis::cmd("SENTINEL")
            .arg("MONITOR")
            .arg(SERVICE)
            .arg("127.0.0.1")
            .arg(self.replica.port)
            .arg(1)
            .query(&mut s)
            .expect("SENTINEL MONITOR");
        assert_eq!(self.named_master(), Some(self.replica.port));
    }

    /// Makes the replica the master and the master its replica by hand,
    /// without a failover (so no client is disconnected), then has the
    /// sentinel name the new master.
    pub fn swap_roles(&self) {
        let _: () = redis::cmd("REPLICAOF")
            .arg("NO")
            .arg("ONE")
            .query(&mut node(self.replica.port))
            .expect("promote the replica");
        let _: () = redis::cmd("REPLICAOF")
            .arg("127.0.0.1")
            .arg(self.replica.port)
            .query(&mut node(self.master.port))
            .expect("demote the master");
        self.renamed_to_replica();
    }

    /// Whether the server on `port` holds a pub/sub client.
    pub fn has_subscriber(port: u16) -> bool {
        redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("pubsub")
            .query::<String>(&mut node(port))
            .is_ok_and(|l| !l.trim().is_empty())
    }

    /// Waits until the first master has been turned into a replica of the
    /// new one (the sentinel does so after the switch).
    pub fn wait_until_old_master_follows(&self) {
        wait(30, "the old master is a replica", || {
            redis::cmd("ROLE")
                .query::<Vec<redis::Value>>(&mut node(self.master.port))
                .is_ok_and(
                    |r| matches!(r.first(), Some(redis::Value::BulkString(b)) if b == b"slave"),
                )
        });
    }

    /// Forces a failover and waits until the sentinel names the replica.
    pub fn failover(&self) {
        self.wait_until_replica_known();
        let deadline = Instant::now() + Duration::from_secs(30);
        // Refused while the sentinel is still settling in: retry.
        loop {
            let r = redis::cmd("SENTINEL")
                .arg("FAILOVER")
                .arg(SERVICE)
                .query::<String>(&mut node(self.sentinel.port));
            if r.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "SENTINEL FAILOVER: {r:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
        wait(30, "the sentinel names the replica as master", || {
            self.named_master() == Some(self.replica.port)
        });
    }
}
