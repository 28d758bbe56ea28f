//! A bounded load test on loopback: 64 connections mixing PUT, GET, DELETE
//! and invalidation for a fixed number of requests each, while 200 more
//! connections sit open sending nothing.
//!
//! Asserted: every request gets an answer, none is a 5xx, every
//! acknowledged write is what a final read sees, and the cache stays under
//! its bounds. Printed, not asserted: requests per second and latency
//! percentiles (`cargo test -p cachelite-cli --release --test load --
//! --nocapture`; docs/bench/server-load.md has a run).

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use cachelite_cli::server::ServerConfig;
use serde_json::{Value, json};
use ureq::Agent;

mod support;
use support::TestServer;

const CLIENTS: usize = 64;
const IDLE: usize = 200;
const REQUESTS_PER_CLIENT: usize = 250;
const KEYS_PER_CLIENT: usize = 40;

fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_connections(1)
        .max_idle_connections_per_host(1)
        .build()
        .new_agent()
}

fn call(agent: &Agent, method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let req = ureq::http::Request::builder().method(method).uri(url);
    let resp = match body {
        Some(b) => agent.run(
            req.header("content-type", "application/json")
                .body(b.to_string())
                .unwrap(),
        ),
        None => agent.run(req.body(()).unwrap()),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// What one client expects of each of its keys: the last value it wrote
/// and had acknowledged, or nothing.
type Model = BTreeMap<String, Option<Value>>;

fn group(k: usize) -> usize {
    k % 4
}

/// One client: a fixed sequence of requests on its own keys, checking each
/// answer against its model of them.
fn client(id: usize, base: &str, latencies: &mut Vec<u32>) -> Model {
    let agent = agent();
    let mut rng = fastrand::Rng::with_seed(id as u64);
    let mut model: Model = BTreeMap::new();
    for n in 0..REQUESTS_PER_CLIENT {
        let k = rng.usize(..KEYS_PER_CLIENT);
        let key = format!("c{id}:k{k}");
        let url = format!("{base}/cache/{key}");
        let started = Instant::now();
        match rng.u8(..100) {
            0..45 => {
                let value = json!({ "client": id, "n": n, "pad": "p".repeat(rng.usize(..512)) });
                let tags = [format!("c{id}:g{}", group(k))];
                let (status, _) = call(
                    &agent,
                    "PUT",
                    &url,
                    Some(&json!({ "value": value, "tags": tags })),
                );
                assert!(status == 200 || status == 201, "PUT {key}: {status}");
                model.insert(key, Some(value));
            }
            45..85 => {
                let (status, doc) = call(&agent, "GET", &url, None);
                match model.get(&key).cloned().flatten() {
                    Some(v) => {
                        assert_eq!(status, 200, "GET {key}");
                        assert_eq!(doc["value"], v, "GET {key}");
                    }
                    None => assert_eq!(status, 404, "GET {key}: {doc}"),
                }
            }
            85..95 => {
                let (status, _) = call(&agent, "DELETE", &url, None);
                let expected = if model.get(&key).cloned().flatten().is_some() {
                    204
                } else {
                    404
                };
                assert_eq!(status, expected, "DELETE {key}");
                model.insert(key, None);
            }
            _ => {
                let g = rng.usize(..4);
                let (status, doc) = call(
                    &agent,
                    "POST",
                    &format!("{base}/invalidate"),
                    Some(&json!({ "tags": [format!("c{id}:g{g}")] })),
                );
                assert_eq!(status, 200, "invalidate: {doc}");
                let mut expected = 0;
                for kk in 0..KEYS_PER_CLIENT {
                    let name = format!("c{id}:k{kk}");
                    if group(kk) == g && model.get(&name).cloned().flatten().is_some() {
                        expected += 1;
                        model.insert(name, None);
                    }
                }
                assert_eq!(doc["removed"], json!(expected), "invalidate c{id}:g{g}");
            }
        }
        latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    model
}

#[test]
fn sixty_four_clients_and_two_hundred_idle_connections() {
    let max_bytes: u64 = 8 << 20;
    let max_items = 10_000;
    let config = ServerConfig {
        max_bytes: Some(max_bytes),
        max_items: Some(max_items),
        ..ServerConfig::default()
    };
    let server = TestServer::start(config);
    let addr = server.addr;
    let base = format!("http://{addr}");

    // Connections that open and send nothing, held for the whole run.
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(addr).expect("idle connection"))
        .collect();

    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (base, done) = (base.clone(), done.clone());
            thread::spawn(move || {
                let mut latencies = Vec::with_capacity(REQUESTS_PER_CLIENT);
                let model = client(id, &base, &mut latencies);
                done.fetch_add(1, Ordering::Relaxed);
                (model, latencies)
            })
        })
        .collect();
    let mut models = Vec::new();
    let mut latencies = Vec::new();
    for w in workers {
        let (m, l) = w.join().expect("a client failed");
        models.push(m);
        latencies.extend(l);
    }
    let elapsed = started.elapsed();

    // Every acknowledged write is readable, every delete stuck.
    let agent = agent();
    for model in &models {
        for (key, expected) in model {
            let (status, doc) = call(&agent, "GET", &format!("{base}/cache/{key}"), None);
            match expected {
                Some(v) => {
                    assert_eq!(status, 200, "{key}");
                    assert_eq!(&doc["value"], v, "{key}");
                }
                None => assert_eq!(status, 404, "{key}"),
            }
        }
    }
    let (_, stats) = call(&agent, "GET", &format!("{base}/stats"), None);
    let cache = &stats["cache"];
    assert!(cache["bytes"].as_u64().unwrap() <= max_bytes, "{cache}");
    assert!(
        cache["len"].as_u64().unwrap() <= max_items as u64,
        "{cache}"
    );
    assert_eq!(cache["evictions"], json!(0), "the run was sized to fit");
    let server_stats = &stats["server"];
    let total = (CLIENTS * REQUESTS_PER_CLIENT) as u64;
    assert!(server_stats["requests"].as_u64().unwrap() >= total);
    assert_eq!(server_stats["connections_rejected"], json!(0));

    latencies.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(latencies[i]) / 1000.0
    };
    println!(
        "load: {CLIENTS} clients x {REQUESTS_PER_CLIENT} requests + {IDLE} idle connections: \
         {total} requests in {:.2} s = {:.0} req/s; latency p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
    );
    // Clients and server share this process; its peak resident memory is
    // an upper bound on the server's.
    if let Some(peak) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|st| {
            st.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
    {
        println!("load: peak resident memory of the test process ({peak})");
    }
    drop(idle);
    server.stop().unwrap();
}
