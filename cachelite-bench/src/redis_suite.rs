//! The Redis tier beside its peers, against one server in one run:
//! cachelite's two-tier cache, `cached`'s `AsyncRedisCache` and raw
//! redis-rs `GET`/`SET`, for a local (L1) hit, a Redis (L2) hit and a miss
//! (read, compute, write).
//!
//! The server is `CACHELITE_REDIS_URL` when set, otherwise a private
//! `redis-server` started on a free loopback port (and stopped at the
//! end); with neither, every check is pending and says why.

use std::future::Future;
use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cached::{AsyncRedisCache, ConcurrentCachedAsync as _};
use cachelite::Cache;
use cachelite::redis::{BlockingTieredCache, RedisStore, TieredCache};
use serde_json::json;

use crate::Options;
use crate::plot::{BarChart, Chart, Series};
use crate::report::{Check, CheckKind, Report, Table, f, ratio};
use crate::timing::{Sampler, min_ns_per_op};

mod cluster;

/// Bytes of each value.
const VALUE_BYTES: usize = 100;
/// Concurrent tasks in the throughput runs.
const TASKS: usize = 16;

/// A Redis server for the run.
struct Server {
    url: String,
    child: Option<Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The server named by `CACHELITE_REDIS_URL`, or a private one.
fn server() -> Result<Server, String> {
    if let Ok(url) = std::env::var("CACHELITE_REDIS_URL")
        && !url.is_empty()
    {
        return Ok(Server { url, child: None });
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!("no Redis server: set CACHELITE_REDIS_URL or install redis-server ({e})")
        })?;
    let server = Server {
        url: format!("redis://127.0.0.1:{port}/"),
        child: Some(child),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let pong = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
            let mut buf = [0u8; 7];
            s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
        });
        if pong {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("redis-server did not start".into())
}

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send>>;
/// One operation of a throughput run, for the i-th op of a task.
type AsyncOp = Arc<dyn Fn(u64) -> BoxFut + Send + Sync>;

/// Operations per second of `TASKS` tasks doing `per_task` ops each.
fn throughput(rt: &tokio::runtime::Runtime, per_task: u64, op: &AsyncOp) -> f64 {
    let start = Instant::now();
    rt.block_on(async {
        let handles: Vec<_> = (0..TASKS as u64)
            .map(|t| {
                let op = op.clone();
                tokio::spawn(async move {
                    for i in 0..per_task {
                        op(t * per_task + i).await;
                    }
                })
            })
            .collect();
        for h in handles {
            let _ = h.await;
        }
    });
    (TASKS as u64 * per_task) as f64 / start.elapsed().as_secs_f64()
}

/// Runs the suite.
#[must_use]
pub fn run(opts: &Options) -> Report {
    let mut report = Report::new("redis", opts.quick);
    match server() {
        Ok(server) => {
            measure(&server.url, opts, &mut report);
            measure_layers(&server.url, opts, &mut report);
            cluster::measure(opts, &mut report);
        }
        Err(why) => {
            for (name, target) in targets() {
                report
                    .checks
                    .push(Check::pending(CheckKind::Target, name, target, why.clone()));
            }
        }
    }
    measure_sql(opts, &mut report);
    report
}

/// The suite's chart (µs per op, one caller) from its written report.
///
/// # Errors
/// If a figure is missing from the report.
pub fn chart_from_json(report: &serde_json::Value) -> Result<BarChart, String> {
    let ns = &report["data"]["ns_per_op"];
    let us = |name: &str| {
        ns[name]
            .as_f64()
            .map(|v| Some(v / 1e3))
            .ok_or_else(|| format!("redis.json: no ns_per_op.{name}"))
    };
    let mut chart = BarChart {
        title: "Redis tier: µs per op, one caller (lower is better)".into(),
        y_label: "µs per op".into(),
        groups: vec!["L1 hit".into(), "L2 hit".into(), "miss".into()],
        series: vec![
            Series {
                name: "cachelite TieredCache".into(),
                values: vec![
                    us("cachelite_l1_hit")?,
                    us("cachelite_l2_hit")?,
                    us("cachelite_miss")?,
                ],
            },
            Series {
                name: "cached AsyncRedisCache".into(),
                values: vec![None, us("cached_hit")?, us("cached_miss")?],
            },
            Series {
                name: "raw redis-rs".into(),
                values: vec![None, us("raw_get")?, us("raw_miss")?],
            },
        ],
        ..BarChart::default()
    };
    cluster::add_to_chart(&report["data"]["cluster"], &mut chart);
    Ok(chart)
}

fn targets() -> [(&'static str, &'static str); 3] {
    [
        (
            "L2 hit latency vs a raw redis-rs GET of the same bytes",
            "≤ 1.1×",
        ),
        (
            "L1 hit latency vs a plain Cache hit (blocking form: bare; async form: awaited the same way)",
            "≤ 1.1×",
        ),
        (
            "throughput vs cached's AsyncRedisCache, every row",
            "≥ 1.0×",
        ),
    ]
}

#[allow(clippy::too_many_lines)]
fn measure(url: &str, opts: &Options, report: &mut Report) {
    let keys: u64 = if opts.quick { 200 } else { 1_000 };
    let runs = if opts.quick { 2 } else { 15 };
    let per_task: u64 = if opts.quick { 50 } else { 1_600 };
    let value = "v".repeat(VALUE_BYTES);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let ns = format!("bench-{:08x}", fastrand::u32(..));
    let store = |ns: &str| {
        RedisStore::builder(url)
            .namespace(ns)
            .connect_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(2))
            .build()
            .expect("valid store settings")
    };
    let ttl = Duration::from_secs(300);
    // `local`: every key fits in the local tier; `remote`: a one-entry
    // local tier cycled through every key, so each read goes to Redis.
    let (local, remote, miss, cached, cached_mgr, mut conn) = rt.block_on(async {
        let local: TieredCache<u64, String> = TieredCache::builder(store(&ns))
            .local_capacity(keys as usize * 2)
            .ttl(ttl)
            .build()
            .expect("a tiered cache");
        let remote: TieredCache<u64, String> = TieredCache::builder(store(&ns))
            .local_capacity(1)
            .ttl(ttl)
            .build()
            .expect("a tiered cache");
        let miss: TieredCache<u64, String> = TieredCache::builder(store(&format!("{ns}-miss")))
            .ttl(ttl)
            .build()
            .expect("a tiered cache");
        let cached = AsyncRedisCache::<u64, String>::builder(format!("cached-{ns}:"))
            .ttl(ttl)
            .connection_string(url)
            .build()
            .await
            .expect("cached's AsyncRedisCache");
        // The same cache over redis-rs's auto-reconnecting
        // ConnectionManager (cached's default connection does not
        // reconnect; cachelite's replaces itself after a failure). Same
        // prefix, so the same entries.
        let cached_mgr = AsyncRedisCache::<u64, String>::builder(format!("cached-{ns}:"))
            .ttl(ttl)
            .connection_string(url)
            .connection_manager(true)
            .build()
            .await
            .expect("cached's AsyncRedisCache on a ConnectionManager");
        let conn = redis::Client::open(url)
            .expect("a URL")
            .get_multiplexed_async_connection()
            .await
            .expect("a redis-rs connection");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(local.is_local_active() && remote.is_local_active() && miss.is_local_active()) {
            assert!(Instant::now() < deadline, "the subscribers did not connect");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for k in 0..keys {
            local.insert(&k, value.clone()).await.expect("a write");
            let _ = cached.async_cache_set(k, value.clone()).await;
        }
        // Fill the local tier (a fill racing the writes' own messages is
        // skipped, so read until every key is local).
        while local.local().len() < keys as usize {
            for k in 0..keys {
                let _ = local.get(&k).await;
            }
        }
        (local, remote, miss, cached, cached_mgr, conn)
    });
    // The blocking form's local hit, against the plain hit with no future
    // around it: like with like. It runs its own runtime, so it is built
    // outside `rt`.
    let blocking: BlockingTieredCache<u64, String> = BlockingTieredCache::new(
        TieredCache::builder(store(&ns))
            .local_capacity(keys as usize * 2)
            .ttl(ttl),
    )
    .expect("a blocking tiered cache");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !blocking.as_async().is_local_active() {
        assert!(Instant::now() < deadline, "the subscriber did not connect");
        std::thread::sleep(Duration::from_millis(10));
    }
    while blocking.as_async().local().len() < keys as usize {
        for k in 0..keys {
            let _ = blocking.get(&k);
        }
    }
    let raw_keys: Vec<String> = (0..keys)
        .map(|k| local.store().redis_key(&k).expect("a key"))
        .collect();
    // The local tier's entries carry the TTL left in Redis: so do these.
    let plain: Cache<u64, String> = Cache::builder()
        .max_items(keys as usize * 2)
        .default_ttl(ttl)
        .build();
    for k in 0..keys {
        plain.insert(k, value.clone());
    }

    // Latency: one caller, sequential operations.
    let batch_local = if opts.quick { 2_000 } else { 20_000 };
    let batch_remote = if opts.quick { 100 } else { 500 };
    let fresh = std::sync::atomic::AtomicU64::new(1 << 40);
    let next = || fresh.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let raw_conn = conn.clone();
    let mut cases: Vec<Sampler<'_>> = vec![
        // 0: plain Cache hit
        Box::new(|| {
            for i in 0..batch_local {
                black_box(plain.get(&(i % keys)));
            }
            batch_local
        }),
        // 1: cachelite L1 hit
        Box::new(|| {
            rt.block_on(async {
                for i in 0..batch_local {
                    black_box(local.get(&(i % keys)).await);
                }
            });
            batch_local
        }),
        // 2: cachelite L2 hit
        Box::new(|| {
            rt.block_on(async {
                for i in 0..batch_remote {
                    black_box(remote.get(&(i % keys)).await);
                }
            });
            batch_remote
        }),
        // 3: raw GET of the same bytes
        Box::new(|| {
            let mut c = raw_conn.clone();
            rt.block_on(async {
                for i in 0..batch_remote {
                    let r: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("GET")
                        .arg(&raw_keys[(i % keys) as usize])
                        .query_async(&mut c)
                        .await;
                    black_box(r.ok());
                }
            });
            batch_remote
        }),
        // 4: cached hit
        Box::new(|| {
            rt.block_on(async {
                for i in 0..batch_remote {
                    black_box(cached.async_cache_get(&(i % keys)).await.ok());
                }
            });
            batch_remote
        }),
        // 5: cachelite miss: read both tiers, compute, write
        Box::new(|| {
            rt.block_on(async {
                for _ in 0..batch_remote {
                    let k = next();
                    black_box(miss.get_or_insert_with(&k, || value.clone()).await);
                }
            });
            batch_remote
        }),
        // 6: raw miss: GET, then SET PX
        Box::new(|| {
            let mut c = conn.clone();
            rt.block_on(async {
                for _ in 0..batch_remote {
                    let k = format!("raw-{ns}:{}", next());
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
            batch_remote
        }),
        // 7: cached miss: get, then set
        Box::new(|| {
            rt.block_on(async {
                for _ in 0..batch_remote {
                    let k = next();
                    black_box(cached.async_cache_get(&k).await.ok());
                    black_box(cached.async_cache_set(k, value.clone()).await.ok());
                }
            });
            batch_remote
        }),
        // 8: plain Cache hit, awaited as the async API's hit is: the cost
        // of the `.await` itself
        Box::new(|| {
            rt.block_on(async {
                for i in 0..batch_local {
                    black_box(std::future::ready(plain.get(&(i % keys))).await);
                }
            });
            batch_local
        }),
        // 9: cachelite L1 hit through the blocking form
        Box::new(|| {
            for i in 0..batch_local {
                black_box(blocking.get(&(i % keys)));
            }
            batch_local
        }),
        // 10: cached hit on a ConnectionManager
        Box::new(|| {
            rt.block_on(async {
                for i in 0..batch_remote {
                    black_box(cached_mgr.async_cache_get(&(i % keys)).await.ok());
                }
            });
            batch_remote
        }),
        // 11: cached miss on a ConnectionManager
        Box::new(|| {
            rt.block_on(async {
                for _ in 0..batch_remote {
                    let k = next();
                    black_box(cached_mgr.async_cache_get(&k).await.ok());
                    black_box(cached_mgr.async_cache_set(k, value.clone()).await.ok());
                }
            });
            batch_remote
        }),
    ];
    let lat = min_ns_per_op(runs, &mut cases);
    drop(cases);

    // Throughput: TASKS concurrent callers.
    let local = Arc::new(local);
    let remote = Arc::new(remote);
    let miss = Arc::new(miss);
    let cached = Arc::new(cached);
    let cached_mgr = Arc::new(cached_mgr);
    let value = Arc::new(value);
    let raw_keys = Arc::new(raw_keys);
    let fresh = Arc::new(std::sync::atomic::AtomicU64::new(1 << 50));
    let fresh_key = {
        let fresh = fresh.clone();
        move || fresh.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    };
    let ops: Vec<(&str, AsyncOp)> = vec![
        ("cachelite L1 hit", {
            let c = local.clone();
            Arc::new(move |i| {
                let c = c.clone();
                Box::pin(async move {
                    black_box(c.get(&(i % keys)).await);
                })
            })
        }),
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
        ("cached hit", {
            let c = cached.clone();
            Arc::new(move |i| {
                let c = c.clone();
                Box::pin(async move {
                    black_box(c.async_cache_get(&(i % keys)).await.ok());
                })
            })
        }),
        ("cachelite miss", {
            let (c, v, fresh_key) = (miss.clone(), value.clone(), fresh_key.clone());
            Arc::new(move |_| {
                let (c, v, k) = (c.clone(), v.clone(), fresh_key());
                Box::pin(async move {
                    black_box(c.get_or_insert_with(&k, || (*v).clone()).await);
                })
            })
        }),
        ("raw miss", {
            let (c, v, fresh_key, ns) =
                (conn.clone(), value.clone(), fresh_key.clone(), ns.clone());
            Arc::new(move |_| {
                let (mut c, v) = (c.clone(), v.clone());
                let k = format!("raw-{ns}:{}", fresh_key());
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
        ("cached miss", {
            let (c, v, fresh_key) = (cached.clone(), value.clone(), fresh_key.clone());
            Arc::new(move |_| {
                let (c, v, k) = (c.clone(), v.clone(), fresh_key());
                Box::pin(async move {
                    black_box(c.async_cache_get(&k).await.ok());
                    black_box(c.async_cache_set(k, (*v).clone()).await.ok());
                })
            })
        }),
        ("cached manager hit", {
            let c = cached_mgr.clone();
            Arc::new(move |i| {
                let c = c.clone();
                Box::pin(async move {
                    black_box(c.async_cache_get(&(i % keys)).await.ok());
                })
            })
        }),
        ("cached manager miss", {
            let (c, v, fresh_key) = (cached_mgr.clone(), value.clone(), fresh_key.clone());
            Arc::new(move |_| {
                let (c, v, k) = (c.clone(), v.clone(), fresh_key());
                Box::pin(async move {
                    black_box(c.async_cache_get(&k).await.ok());
                    black_box(c.async_cache_set(k, (*v).clone()).await.ok());
                })
            })
        }),
    ];
    let mut tput = std::collections::BTreeMap::new();
    // Each round starts one row later, so that no row always runs in the
    // same place: right after the local-hit row's burst of CPU, say,
    // which the scheduler makes the next row pay for on a busy machine.
    for round in 0..runs.min(5) {
        for (name, op) in ops.iter().cycle().skip(round % ops.len()).take(ops.len()) {
            let per = if name.contains("L1") {
                per_task * 50
            } else {
                per_task
            };
            let x = throughput(&rt, per, op);
            let best = tput.entry(*name).or_insert(0.0_f64);
            *best = best.max(x);
        }
    }
    let t = |name: &str| tput.get(name).copied().unwrap_or(f64::NAN);

    let us = |ns: f64| f(ns / 1000.0, if ns < 1000.0 { 3 } else { 2 });
    let kops = |x: f64| f(x / 1000.0, 1);
    let mut table = Table::new(
        format!("Latency (µs per op, one caller) and throughput (thousand ops/s, {TASKS} tasks)"),
        &[
            "operation",
            "cachelite µs",
            "cached µs",
            "raw redis-rs µs",
            "cachelite kops/s",
            "cached kops/s",
            "raw redis-rs kops/s",
        ],
    );
    table.row(vec![
        "L1 hit (local tier)".into(),
        us(lat[1]),
        format!("{} (a Redis GET: no local tier)", us(lat[4])),
        format!("{} (plain `Cache` hit, same TTL)", us(lat[0])),
        kops(t("cachelite L1 hit")),
        format!("{} (Redis GET)", kops(t("cached hit"))),
        "—".into(),
    ]);
    table.row(vec![
        "L1 hit, a plain `Cache` awaited the same way".into(),
        "—".into(),
        "—".into(),
        format!(
            "{} (plain `Cache` hit inside a ready future, `.await`ed)",
            us(lat[8])
        ),
        "—".into(),
        "—".into(),
        "—".into(),
    ]);
    table.row(vec![
        "L1 hit, blocking form (`BlockingTieredCache`)".into(),
        us(lat[9]),
        "—".into(),
        format!("{} (plain `Cache` hit)", us(lat[0])),
        "—".into(),
        "—".into(),
        "—".into(),
    ]);
    table.row(vec![
        "L2 hit (Redis)".into(),
        us(lat[2]),
        us(lat[4]),
        format!("{} (GET)", us(lat[3])),
        kops(t("cachelite L2 hit")),
        kops(t("cached hit")),
        kops(t("raw GET")),
    ]);
    table.row(vec![
        "miss (read, compute, write)".into(),
        us(lat[5]),
        us(lat[7]),
        format!("{} (GET + SET PX)", us(lat[6])),
        kops(t("cachelite miss")),
        kops(t("cached miss")),
        kops(t("raw miss")),
    ]);
    table.row(vec![
        "L2 hit, `cached` on a `ConnectionManager`".into(),
        "—".into(),
        us(lat[10]),
        "—".into(),
        "—".into(),
        kops(t("cached manager hit")),
        "—".into(),
    ]);
    table.row(vec![
        "miss, `cached` on a `ConnectionManager`".into(),
        "—".into(),
        us(lat[11]),
        "—".into(),
        "—".into(),
        kops(t("cached manager miss")),
        "—".into(),
    ]);
    table.notes.push(format!(
        "{VALUE_BYTES}-byte string values, u64 keys; {keys} keys for hits, a new key per miss. \
         cachelite's read is one GET (the entry's expiry is in its envelope); its miss stores the \
         result with SET NX PX (a miss's result is not announced: no local tier can hold a copy of \
         an absent key) and fills its local tier. Every client writes the same value with a 300 s TTL \
         (each in its own envelope) and sends one command per round trip, except `cached`'s \
         write, which its API pairs with a GET of the old value in one pipeline. cachelite, `cached` \
         and raw redis-rs each talk to Redis through one plain redis-rs multiplexed connection \
         (`cached`'s default, which does not reconnect; cachelite replaces its connection after a \
         transport failure, one new connection at a time); the two `ConnectionManager` rows run \
         `cached` on redis-rs's auto-reconnecting manager. The targets are judged against \
         `cached`'s default."
    ));
    report.tables.push(table);
    report.method.push(format!(
        "One Redis server ({}) on loopback for every row; a 2-worker tokio runtime; latency is the \
         fastest of {runs} interleaved samples; throughput the best of {} rounds of {TASKS} tasks, \
         the rows in turn, each round starting one row later.",
        if std::env::var_os("CACHELITE_REDIS_URL").is_some() {
            "CACHELITE_REDIS_URL"
        } else {
            "a private redis-server"
        },
        runs.min(5)
    ));

    let l2 = lat[2] / lat[3];
    let l1 = lat[1] / lat[0];
    let l1_awaited = lat[1] / lat[8];
    let l1_blocking = lat[9] / lat[0];
    let rows = [
        ("L1", t("cachelite L1 hit") / t("cached hit")),
        ("L2", t("cachelite L2 hit") / t("cached hit")),
        ("miss", t("cachelite miss") / t("cached miss")),
    ];
    let rows_mgr = [
        ("L2", t("cachelite L2 hit") / t("cached manager hit")),
        ("miss", t("cachelite miss") / t("cached manager miss")),
    ];
    let worst = rows.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    let [(n2, t2), (n1, t1), (nt, tt)] = targets();
    report.checks.push(Check::new(
        CheckKind::Target,
        n2,
        t2,
        format!("{} ({} vs {} µs)", ratio(l2), us(lat[2]), us(lat[3])),
        l2 <= 1.1,
    ));
    report.checks.push(Check::new(
        CheckKind::Target,
        n1,
        t1,
        format!(
            "blocking {} ({} vs {} µs); async {} a plain hit `.await`ed the same way ({} bare)",
            ratio(l1_blocking),
            us(lat[9]),
            us(lat[0]),
            ratio(l1_awaited),
            ratio(l1)
        ),
        l1_blocking <= 1.1 && l1_awaited <= 1.1,
    ));
    report.checks.push(Check::new(
        CheckKind::Target,
        nt,
        tt,
        format!(
            "{} (against `cached` on a `ConnectionManager`: {})",
            rows.iter()
                .map(|(n, r)| format!("{n} {}", ratio(*r)))
                .collect::<Vec<_>>()
                .join(", "),
            rows_mgr
                .iter()
                .map(|(n, r)| format!("{n} {}", ratio(*r)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        worst >= 1.0,
    ));
    report.data = json!({
        "ns_per_op": {
            "plain_cache_hit": lat[0], "plain_cache_hit_awaited": lat[8], "cachelite_l1_hit": lat[1], "cachelite_l1_hit_blocking": lat[9], "cachelite_l2_hit": lat[2],
            "raw_get": lat[3], "cached_hit": lat[4], "cachelite_miss": lat[5],
            "raw_miss": lat[6], "cached_miss": lat[7],
            "cached_manager_hit": lat[10], "cached_manager_miss": lat[11],
        },
        "ops_per_sec": tput,
        "ratios": { "l2_vs_raw_get": l2, "l1_vs_plain_cache": l1, "l1_vs_plain_cache_awaited": l1_awaited, "l1_blocking_vs_plain_cache": l1_blocking,
                    "tput_l1_vs_cached": rows[0].1, "tput_l2_vs_cached": rows[1].1, "tput_miss_vs_cached": rows[2].1,
                    "tput_l2_vs_cached_manager": rows_mgr[0].1, "tput_miss_vs_cached_manager": rows_mgr[1].1 },
    });
    report.chart = chart_from_json(&json!({ "data": &report.data }))
        .ok()
        .map(Chart::from);

    // Leave nothing behind on a shared server.
    rt.block_on(async {
        let _ = local.clear().await;
        let _ = miss.clear().await;
        for pattern in [format!("raw-{ns}:*"), format!("cached-{ns}:*")] {
            let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
                .arg(&pattern)
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            for chunk in keys.chunks(500) {
                let _: redis::RedisResult<()> =
                    redis::cmd("UNLINK").arg(chunk).query_async(&mut conn).await;
            }
        }
    });
    drop(rt);
}

/// A JSON document of about `bytes` bytes: rows of a typical API reply,
/// each with a random token (which does not compress), from a fixed seed.
fn json_document(bytes: usize) -> serde_json::Value {
    let mut rng = fastrand::Rng::with_seed(15);
    let mut rows = Vec::new();
    let mut len = 2;
    while len < bytes {
        let i = rows.len();
        let row = json!({
            "id": i,
            "name": format!("user {i}"),
            "email": format!("user{i}@example.com"),
            "team": format!("team-{}", i % 7),
            "active": i % 3 != 0,
            "score": f64::from(rng.u32(0..10_000)) / 100.0,
            "token": format!("{:016x}", rng.u64(..)),
        });
        len += row.to_string().len() + 1;
        rows.push(row);
    }
    serde_json::Value::Array(rows)
}

/// Compression and encryption of the values in Redis: bytes stored and
/// one caller's get and set latency for a 10 KiB JSON value, with each
/// compression, with and without encryption. Its own table, and
/// `data.layers` in the report.
fn measure_layers(url: &str, opts: &Options, report: &mut Report) {
    use cachelite::redis::{Codec, Compression, Keyring};

    let runs = if opts.quick { 2 } else { 15 };
    let batch: u64 = if opts.quick { 20 } else { 200 };
    let doc = json_document(10 * 1024);
    let json_bytes = doc.to_string().len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let ns = format!("bench-layers-{:08x}", fastrand::u32(..));
    let variants = [
        ("none", Compression::None),
        ("lz4", Compression::lz4()),
        ("zstd (level 3)", Compression::zstd()),
    ];
    let mut stores = Vec::new();
    for (name, compression) in &variants {
        for encrypted in [false, true] {
            let mut b = RedisStore::builder(url)
                .namespace(format!("{ns}-{}-{}", stores.len(), u8::from(encrypted)))
                .codec(Codec::Json)
                .compression(*compression)
                .connect_timeout(Duration::from_secs(2))
                .response_timeout(Duration::from_secs(2));
            if encrypted {
                b = b.encryption(Keyring::new(1, [7; 32]));
            }
            stores.push((*name, encrypted, b.build().expect("valid store settings")));
        }
    }
    let ttl = Some(Duration::from_secs(300));
    let mut conn = redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .expect("a redis-rs connection");
    let mut sizes = Vec::new();
    for (_, _, store) in &stores {
        rt.block_on(store.set("doc", &doc, ttl)).expect("a write");
        let key = store.redis_key("doc").expect("a key");
        let strlen: u64 = redis::cmd("STRLEN").arg(&key).query(&mut conn).unwrap_or(0);
        let usage: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .query(&mut conn)
            .ok()
            .flatten();
        sizes.push((strlen, usage));
    }
    let mut cases: Vec<Sampler<'_>> = Vec::new();
    for (_, _, store) in &stores {
        let rt = &rt;
        cases.push(Box::new(move || {
            rt.block_on(async {
                for _ in 0..batch {
                    let v: Option<serde_json::Value> = store.get("doc").await.ok().flatten();
                    black_box(v);
                }
            });
            batch
        }));
        let doc = &doc;
        cases.push(Box::new(move || {
            rt.block_on(async {
                for _ in 0..batch {
                    black_box(store.set("doc", doc, ttl).await.ok());
                }
            });
            batch
        }));
    }
    let lat = min_ns_per_op(runs, &mut cases);
    drop(cases);

    let us = |ns: f64| f(ns / 1000.0, 1);
    let mut table = Table::new(
        format!(
            "Compression and encryption: a {:.1} KiB JSON value in Redis (bytes stored; µs per op, one caller)",
            json_bytes as f64 / 1024.0
        ),
        &[
            "compression",
            "encryption",
            "bytes (STRLEN)",
            "MEMORY USAGE",
            "get µs",
            "set µs",
        ],
    );
    let mut rows = Vec::new();
    for (i, (name, encrypted, _)) in stores.iter().enumerate() {
        let (strlen, usage) = sizes[i];
        let (get, set) = (lat[2 * i], lat[2 * i + 1]);
        table.row(vec![
            (*name).to_string(),
            if *encrypted {
                "XChaCha20-Poly1305".into()
            } else {
                "—".into()
            },
            format!(
                "{strlen} ({:.0}%)",
                100.0 * strlen as f64 / sizes[0].0.max(1) as f64
            ),
            usage.map_or("—".into(), |u| u.to_string()),
            us(get),
            us(set),
        ]);
        rows.push(json!({
            "compression": name, "encrypted": encrypted, "strlen": strlen,
            "memory_usage": usage, "get_ns": get, "set_ns": set,
        }));
    }
    table.notes.push(format!(
        "The value: a JSON array of {json_bytes} bytes (rows with ids, names, emails, flags, \
         scores and a random 16-hex-digit token each), written with the JSON codec through \
         `RedisStore` alone (no local tier). Compression from 1 KiB on; the percentage is of the \
         uncompressed, unencrypted entry. get: one GET and decoding; set: SET PX and PUBLISH in \
         one round trip. Fastest of {runs} samples of {batch} ops."
    ));
    report.tables.push(table);
    if let Some(data) = report.data.as_object_mut() {
        data.insert("layers".into(), serde_json::Value::Array(rows));
    }
    rt.block_on(async {
        for (_, _, store) in &stores {
            let _ = store.clear().await;
        }
    });
    drop(rt);
}

/// The SQL stores' rows: a two-tier cache over `PostgresStore` and over
/// `MySqlStore`, against the servers named by `CACHELITE_POSTGRES_URL` and
/// `CACHELITE_MYSQL_URL` (a store whose variable is unset is noted as not
/// measured). Tables of a namespace of their own, dropped at the end.
fn measure_sql(opts: &Options, report: &mut Report) {
    use cachelite::redis::{MySqlStore, PostgresStore};

    let keys: u64 = if opts.quick { 50 } else { 200 };
    let batch: u64 = if opts.quick { 50 } else { 200 };
    let runs = if opts.quick { 2 } else { 7 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let ns = format!("bench-{:08x}", fastrand::u32(..));
    let patient = Duration::from_secs(2);
    let mut table = Table::new(
        "PostgreSQL and MySQL stores under the two-tier cache (µs per op, one caller)",
        &[
            "store",
            "L2 hit µs",
            "miss (read, compute, write) µs",
            "set (write, announced) µs",
        ],
    );
    let mut data = serde_json::Map::new();
    for (name, var) in [
        ("PostgreSQL", "CACHELITE_POSTGRES_URL"),
        ("MySQL", "CACHELITE_MYSQL_URL"),
    ] {
        let Some(url) = std::env::var(var).ok().filter(|u| !u.is_empty()) else {
            table
                .notes
                .push(format!("{name}: not measured ({var} is unset)."));
            continue;
        };
        let row = if name == "PostgreSQL" {
            PostgresStore::builder(url)
                .namespace(&ns)
                .connect_timeout(patient)
                .response_timeout(patient)
                .build()
                .map(|store| {
                    let r = rt.block_on(sql_row(store.clone(), keys, batch, runs));
                    let _ = rt.block_on(store.drop_tables());
                    r
                })
        } else {
            MySqlStore::builder(url)
                .namespace(&ns)
                .connect_timeout(patient)
                .response_timeout(patient)
                .build()
                .map(|store| {
                    let r = rt.block_on(sql_row(store.clone(), keys, batch, runs));
                    let _ = rt.block_on(store.drop_tables());
                    r
                })
        };
        match row.and_then(|r| r) {
            Ok([hit, miss, set]) => {
                let us = |ns: f64| f(ns / 1000.0, 1);
                table.row(vec![name.into(), us(hit), us(miss), us(set)]);
                data.insert(
                    name.to_lowercase(),
                    json!({ "l2_hit": hit, "miss": miss, "set": set }),
                );
            }
            Err(e) => table.notes.push(format!("{name}: not measured ({e}).")),
        }
    }
    table.notes.push(format!(
        "{VALUE_BYTES}-byte string values, u64 keys; {keys} keys cycled through a one-entry local \
         tier for L2 hits, a new key per miss; fastest of {runs} runs of {batch} ops. A set is one \
         transaction: the row, its tags and the announcement (NOTIFY, or a changes-log row)."
    ));
    report.tables.push(table);
    if let Some(obj) = report.data.as_object_mut() {
        obj.insert("sql_ns_per_op".into(), serde_json::Value::Object(data));
    }
}

/// One SQL store's row: ns per L2 hit, per miss and per set, each the
/// fastest of `runs` runs.
async fn sql_row<S: cachelite::redis::Store>(
    store: S,
    keys: u64,
    batch: u64,
    runs: usize,
) -> Result<[f64; 3], cachelite::redis::Error> {
    store.ping().await?;
    let value = "v".repeat(VALUE_BYTES);
    let cache: TieredCache<u64, String, S> = TieredCache::builder(store)
        .local_capacity(1)
        .ttl(Duration::from_secs(300))
        .build()?;
    for k in 0..keys {
        cache.insert(&k, value.clone()).await?;
    }
    let per_op = |t: Instant| t.elapsed().as_nanos() as f64 / batch as f64;
    let mut best = [f64::INFINITY; 3];
    let mut fresh = 1u64 << 40;
    for _ in 0..runs {
        let t = Instant::now();
        for i in 0..batch {
            black_box(cache.get(&(i % keys)).await);
        }
        best[0] = best[0].min(per_op(t));
        let t = Instant::now();
        for _ in 0..batch {
            fresh += 1;
            black_box(cache.get_or_insert_with(&fresh, || value.clone()).await);
        }
        best[1] = best[1].min(per_op(t));
        let t = Instant::now();
        for i in 0..batch {
            cache.insert(&(i % keys), value.clone()).await?;
        }
        best[2] = best[2].min(per_op(t));
    }
    Ok(best)
}
