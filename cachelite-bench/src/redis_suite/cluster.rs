//! The Redis Cluster rows: cachelite's two-tier cache over a three-master
//! cluster started for the run, beside raw redis-rs cluster-async
//! `GET`/`SET` on the same cluster.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cachelite::redis::{RedisStore, TieredCache};
use serde_json::json;

use super::{AsyncOp, TASKS, VALUE_BYTES, throughput};
use crate::Options;
use crate::report::{Report, Table, f};
use crate::timing::{Sampler, min_ns_per_op};

/// A three-master cluster of private redis-server processes on free
/// loopback ports, without replicas; killed, waited on and its directory
/// removed on drop.
struct Cluster {
    children: Vec<Child>,
    ports: Vec<u16>,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn answers(port: u16) -> bool {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

fn cluster_ok(port: u16) -> bool {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
        .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c))
        .is_ok_and(|info| {
            info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
        })
}

/// Starts the cluster, or says why not.
fn start() -> Result<Cluster, String> {
    let dir = std::env::temp_dir().join(format!(
        "cachelite-bench-cluster-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("no temporary directory: {e}"))?;
    let mut cluster = Cluster {
        children: Vec::new(),
        ports: Vec::new(),
        dir,
    };
    for _ in 0..3 {
        let port = free_port()?;
        let conf = cluster.dir.join(format!("nodes-{port}.conf"));
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
            .arg("--cluster-config-file")
            .arg(&conf)
            .arg("--dir")
            .arg(&cluster.dir)
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("no redis-server: {e}"))?;
        cluster.children.push(child);
        cluster.ports.push(port);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cluster.ports.iter().all(|p| answers(*p)) {
        if Instant::now() > deadline {
            return Err("the cluster's redis-servers did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")))
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("no redis-cli: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cluster.ports.iter().all(|p| cluster_ok(*p)) {
        if Instant::now() > deadline {
            return Err("the cluster did not become ok".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(cluster)
}

/// Measures the cluster rows into their own table and `data.cluster`; if
/// the cluster cannot be started, the table says why.
pub(super) fn measure(opts: &Options, report: &mut Report) {
    let mut table = Table::new(
        format!("Redis Cluster, 3 masters (µs per op, one caller; thousand ops/s, {TASKS} tasks)"),
        &[
            "operation",
            "cachelite µs",
            "raw redis-rs µs",
            "cachelite kops/s",
            "raw redis-rs kops/s",
        ],
    );
    let cluster = match start() {
        Ok(c) => c,
        Err(why) => {
            table.notes.push(format!("Not measured: {why}."));
            report.tables.push(table);
            if let Some(data) = report.data.as_object_mut() {
                data.insert("cluster".into(), json!({ "skipped": why }));
            }
            return;
        }
    };
    let nodes: Vec<String> = cluster
        .ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}/"))
        .collect();
    let keys: u64 = if opts.quick { 200 } else { 1_000 };
    let runs = if opts.quick { 2 } else { 15 };
    let per_task: u64 = if opts.quick { 50 } else { 1_600 };
    let batch: u64 = if opts.quick { 100 } else { 500 };
    let value = "v".repeat(VALUE_BYTES);
    let ttl = Duration::from_secs(300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let store = |ns: &str| {
        RedisStore::builder_cluster(nodes.clone())
            .namespace(ns)
            .connect_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(2))
            .build()
            .expect("valid store settings")
    };
    // As in the single-server rows: a one-entry local tier cycled through
    // every key, so each read goes to Redis.
    let (remote, miss, conn) = rt.block_on(async {
        let remote: TieredCache<u64, String> = TieredCache::builder(store("bench-cluster"))
            .local_capacity(1)
            .ttl(ttl)
            .build()
            .expect("a tiered cache");
        let miss: TieredCache<u64, String> = TieredCache::builder(store("bench-cluster-miss"))
            .ttl(ttl)
            .build()
            .expect("a tiered cache");
        let conn = redis::cluster::ClusterClient::new(nodes.clone())
            .expect("cluster nodes")
            .get_async_connection()
            .await
            .expect("a redis-rs cluster connection");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(remote.is_local_active() && miss.is_local_active()) {
            assert!(Instant::now() < deadline, "the subscribers did not connect");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for k in 0..keys {
            remote.insert(&k, value.clone()).await.expect("a write");
        }
        (remote, miss, conn)
    });
    let raw_keys: Arc<Vec<String>> = Arc::new(
        (0..keys)
            .map(|k| remote.store().redis_key(&k).expect("a key"))
            .collect(),
    );
    let fresh = Arc::new(AtomicU64::new(1 << 40));

    let mut cases: Vec<Sampler<'_>> = vec![
        // 0: cachelite L2 hit
        Box::new(|| {
            rt.block_on(async {
                for i in 0..batch {
                    black_box(remote.get(&(i % keys)).await);
                }
            });
            batch
        }),
        // 1: raw GET of the same bytes
        Box::new(|| {
            let mut c = conn.clone();
            rt.block_on(async {
                for i in 0..batch {
                    let r: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("GET")
                        .arg(&raw_keys[(i % keys) as usize])
                        .query_async(&mut c)
                        .await;
                    black_box(r.ok());
                }
            });
            batch
        }),
        // 2: cachelite miss: read both tiers, compute, write
        Box::new(|| {
            rt.block_on(async {
                for _ in 0..batch {
                    let k = fresh.fetch_add(1, Ordering::Relaxed);
                    black_box(miss.get_or_insert_with(&k, || value.clone()).await);
                }
            });
            batch
        }),
        // 3: raw miss: GET, then SET PX
        Box::new(|| {
            let mut c = conn.clone();
            rt.block_on(async {
                for _ in 0..batch {
                    let k = format!("raw-cluster:{}", fresh.fetch_add(1, Ordering::Relaxed));
                    let r: redis::RedisResult<Option<Vec<u8>>> =
                        redis::cmd("GET").arg(&k).query_async(&mut c).await;
                    black_box(r.ok());
                    let r: redis::RedisResult<()> = redis::cmd("SET")
                        .arg(&k)
                        .arg(value.as_bytes())
                        .arg("PX")
                        .arg(300_000)
                        .query_async(&mut c)
                        .await;
                    black_box(r.ok());
                }
            });
            batch
        }),
    ];
    let lat = min_ns_per_op(runs, &mut cases);
    drop(cases);

    let remote = Arc::new(remote);
    let miss = Arc::new(miss);
    let value = Arc::new(value);
    let ops: Vec<(&str, AsyncOp)> = vec![
        ("cachelite L2 hit", {
            let c = remote.clone();
            Arc::new(move |i| {
                let c = c.clone();
                Box::pin(async move {
                    black_box(c.get(&(i % keys)).await);
                })
            })
        }),
        ("raw GET", {
            let (c, raw_keys) = (conn.clone(), raw_keys.clone());
            Arc::new(move |i| {
                let (mut c, raw_keys) = (c.clone(), raw_keys.clone());
                Box::pin(async move {
                    let r: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("GET")
                        .arg(&raw_keys[(i % keys) as usize])
                        .query_async(&mut c)
                        .await;
                    black_box(r.ok());
                })
            })
        }),
        ("cachelite miss", {
            let (c, v, fresh) = (miss.clone(), value.clone(), fresh.clone());
            Arc::new(move |_| {
                let (c, v) = (c.clone(), v.clone());
                let k = fresh.fetch_add(1, Ordering::Relaxed);
                Box::pin(async move {
                    black_box(c.get_or_insert_with(&k, || (*v).clone()).await);
                })
            })
        }),
        ("raw miss", {
            let (c, v, fresh) = (conn.clone(), value.clone(), fresh.clone());
            Arc::new(move |_| {
                let (mut c, v) = (c.clone(), v.clone());
                let k = format!("raw-cluster:{}", fresh.fetch_add(1, Ordering::Relaxed));
                Box::pin(async move {
                    let r: redis::RedisResult<Option<Vec<u8>>> =
                        redis::cmd("GET").arg(&k).query_async(&mut c).await;
                    black_box(r.ok());
                    let r: redis::RedisResult<()> = redis::cmd("SET")
                        .arg(&k)
                        .arg(v.as_bytes())
                        .arg("PX")
                        .arg(300_000)
                        .query_async(&mut c)
                        .await;
                    black_box(r.ok());
                })
            })
        }),
    ];
    let mut tput = std::collections::BTreeMap::new();
    // Rotated as the single-server rows are.
    for round in 0..runs.min(5) {
        for (name, op) in ops.iter().cycle().skip(round % ops.len()).take(ops.len()) {
            let x = throughput(&rt, per_task, op);
            let best = tput.entry(*name).or_insert(0.0_f64);
            *best = best.max(x);
        }
    }
    let t = |name: &str| tput.get(name).copied().unwrap_or(f64::NAN);
    let us = |ns: f64| f(ns / 1000.0, 2);
    let kops = |x: f64| f(x / 1000.0, 1);
    table.row(vec![
        "L2 hit (Redis)".into(),
        us(lat[0]),
        format!("{} (GET)", us(lat[1])),
        kops(t("cachelite L2 hit")),
        kops(t("raw GET")),
    ]);
    table.row(vec![
        "miss (read, compute, write)".into(),
        us(lat[2]),
        format!("{} (GET + SET PX)", us(lat[3])),
        kops(t("cachelite miss")),
        kops(t("raw miss")),
    ]);
    table.notes.push(format!(
        "A 3-master Redis Cluster without replicas (private redis-servers on loopback, \
         `redis-cli --cluster create`), on the same machine as the rows above. cachelite's \
         `TieredCache` over `RedisStore::builder_cluster` (a one-entry local tier, so every \
         read goes to Redis; a miss stores with SET NX PX), beside raw redis-rs cluster-async \
         commands on one `ClusterConnection`; {VALUE_BYTES}-byte values, {keys} keys for hits, \
         a new key per miss. The raw GET reads cachelite's own entries. Fastest of {runs} \
         samples; throughput the best of {} rotated rounds of {TASKS} tasks.",
        runs.min(5)
    ));
    report.tables.push(table);
    if let Some(data) = report.data.as_object_mut() {
        data.insert(
            "cluster".into(),
            json!({
                "ns_per_op": {
                    "cachelite_l2_hit": lat[0], "raw_get": lat[1],
                    "cachelite_miss": lat[2], "raw_miss": lat[3],
                },
                "ops_per_sec": tput,
            }),
        );
    }
    report.chart = super::chart_from_json(&json!({ "data": &report.data }))
        .ok()
        .map(crate::plot::Chart::from);
    drop((remote, miss, conn));
    drop(rt);
    drop(cluster);
}

/// Adds the cluster's L2 hit and miss to the suite's chart, as two more
/// groups, when the report has them (`data.cluster` of a written report).
pub(super) fn add_to_chart(cluster: &serde_json::Value, chart: &mut crate::plot::BarChart) {
    let ns = &cluster["ns_per_op"];
    let us = |name: &str| ns[name].as_f64().map(|v| v / 1e3);
    let (Some(hit), Some(get), Some(miss), Some(raw_miss)) = (
        us("cachelite_l2_hit"),
        us("raw_get"),
        us("cachelite_miss"),
        us("raw_miss"),
    ) else {
        return;
    };
    chart.groups.push("L2 hit, cluster".into());
    chart.groups.push("miss, cluster".into());
    for s in &mut chart.series {
        let values = match s.name.as_str() {
            "cachelite TieredCache" => [Some(hit), Some(miss)],
            "raw redis-rs" => [Some(get), Some(raw_miss)],
            _ => [None, None],
        };
        s.values.extend(values);
    }
}
