//! The Markdown snippet for the README's "Performance" section.

use std::fmt::Write as _;

use serde_json::Value;

use crate::report::{Report, Table, ratio};

/// How one peer is named in each suite.
struct Peer {
    label: &'static str,
    latency: &'static str,
    throughput: &'static str,
    memory: &'static str,
    hit_ratio: &'static str,
}

const PEERS: &[Peer] = &[
    Peer {
        label: "quick_cache 0.7 (sync)",
        latency: "quick_cache::sync",
        throughput: "quick_cache::sync",
        memory: "quick_cache::sync",
        hit_ratio: "quick_cache",
    },
    Peer {
        label: "moka 0.12 (sync)",
        latency: "moka::sync",
        throughput: "moka::sync",
        memory: "moka::sync",
        hit_ratio: "moka",
    },
    Peer {
        label: "mini-moka 0.10 (sync)",
        latency: "mini_moka::sync",
        throughput: "mini_moka::sync",
        memory: "mini_moka::sync",
        hit_ratio: "mini-moka",
    },
    Peer {
        label: "lru 0.19 (+ Mutex)",
        latency: "lru + Mutex",
        throughput: "lru + Mutex",
        memory: "lru",
        hit_ratio: "lru",
    },
    Peer {
        label: "cached 4 LruCache (+ Mutex)",
        latency: "cached LruCache + Mutex",
        throughput: "cached LruCache + Mutex",
        memory: "cached LruCache",
        hit_ratio: "cached LruCache",
    },
];

fn data<'a>(reports: &'a [Report], suite: &str) -> Option<&'a Value> {
    reports.iter().find(|r| r.suite == suite).map(|r| &r.data)
}

/// The first key of `map` equal to `name`, or starting with `name` when
/// `name` ends in `(`: the default cachelite rows carry their shard count.
fn lookup<'a>(map: &'a Value, name: &str) -> Option<&'a Value> {
    let obj = map.as_object()?;
    obj.get(name).or_else(|| {
        name.ends_with('(')
            .then(|| {
                obj.iter()
                    .find(|(k, _)| k.starts_with(name))
                    .map(|(_, v)| v)
            })
            .flatten()
    })
}

fn mean_hit_ratio(hr: &Value, name: &str) -> Option<f64> {
    let v: Vec<f64> = hr
        .get(name)?
        .as_array()?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64 * 100.0)
}

fn points(pair: Option<(f64, f64)>) -> String {
    pair.map_or_else(|| "—".into(), |(a, b)| format!("{:+.2}", a - b))
}

pub(crate) fn render(reports: &[Report]) -> String {
    let lat = data(reports, "latency").and_then(|d| d.get("ns_per_op"));
    let thr = data(reports, "throughput").and_then(|d| d.get("ops_per_sec"));
    let mem = data(reports, "memory").and_then(|d| d.get("caches"));
    let hr = data(reports, "hit-ratio").and_then(|d| d.get("hit_ratio"));

    let cl_lat = lat
        .and_then(|m| lookup(m, "cachelite"))
        .and_then(Value::as_f64);
    let cl_thr = thr
        .and_then(|m| lookup(m, "cachelite ("))
        .and_then(|v| v.get("1"))
        .and_then(Value::as_f64);
    let cl_mem = mem
        .and_then(|m| lookup(m, "cachelite ("))
        .and_then(|v| v.get("overhead_3n"))
        .and_then(Value::as_f64);
    let cl_hr = hr.and_then(|m| mean_hit_ratio(m, "cachelite lru"));
    // The policy with the best mean over all workloads (default shards).
    let best = hr.and_then(|m| {
        m.as_object()?
            .keys()
            .filter(|k| k.starts_with("cachelite ") && !k.ends_with("/1"))
            .filter_map(|k| Some((k.clone(), mean_hit_ratio(m, k)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    });
    let best_header = best.as_ref().map_or_else(
        || "mean hit ratio, best cachelite policy − peer (points)".to_owned(),
        |(k, _)| format!("mean hit ratio, {k} − peer (points)"),
    );

    let mut t = Table::new(
        "",
        &[
            "peer",
            "`get` hit time (÷ peer, lower is better)",
            "get-or-insert ops/s, 1 thread (÷ peer, higher is better)",
            "bytes per entry (÷ peer, lower is better)",
            "mean hit ratio, cachelite lru − peer (points)",
            &best_header,
        ],
    );
    let cell = |x: Option<f64>| {
        x.filter(|v| v.is_finite())
            .map_or_else(|| "—".to_owned(), ratio)
    };
    for p in PEERS {
        let l = lat
            .and_then(|m| lookup(m, p.latency))
            .and_then(Value::as_f64);
        let th = thr
            .and_then(|m| lookup(m, p.throughput))
            .and_then(|v| v.get("1"))
            .and_then(Value::as_f64);
        let me = mem
            .and_then(|m| lookup(m, p.memory))
            .and_then(|v| v.get("overhead_3n"))
            .and_then(Value::as_f64);
        let h = hr.and_then(|m| mean_hit_ratio(m, p.hit_ratio));
        t.row(vec![
            p.label.to_owned(),
            cell(cl_lat.zip(l).map(|(a, b)| a / b)),
            cell(cl_thr.zip(th).map(|(a, b)| a / b)),
            cell(cl_mem.zip(me).map(|(a, b)| a / b)),
            points(cl_hr.zip(h)),
            points(best.as_ref().map(|b| b.1).zip(h)),
        ]);
    }
    let mut s = String::from(
        "<!-- generated by `cargo run --release -p cachelite-bench -- all`; see docs/bench/README.md -->\n\n",
    );
    let _ = writeln!(
        s,
        "cachelite in its default configuration (LRU, aHash, shards following the CPU count) against each peer's default, measured in one run on the same machine; each cell is cachelite's figure divided by the peer's. Method and full tables: [docs/bench/README.md](docs/bench/README.md); hit ratios per workload: [docs/bench/hit_ratio.svg](docs/bench/hit_ratio.svg).\n"
    );
    s.push_str(&t.markdown());
    // Under contention: the concurrency suite's own headline table.
    if let Some(c) = reports.iter().find(|r| r.suite == "concurrency")
        && let Some(t) = c.tables.first()
    {
        let _ = writeln!(
            s,
            "\nUnder contention (concurrency suite; million ops/s summed over threads, best of {} runs; plot: [docs/bench/concurrency.svg](docs/bench/concurrency.svg)):\n",
            c.data["runs"]
        );
        s.push_str(
            &Table {
                title: String::new(),
                ..t.clone()
            }
            .markdown(),
        );
    }
    let checks: Vec<String> = reports
        .iter()
        .flat_map(|r| &r.checks)
        .filter(|c| c.kind == crate::CheckKind::Target)
        .map(|c| {
            let mark = match c.status {
                crate::Status::Pass => "met",
                crate::Status::Fail => "**missed**",
                crate::Status::Pending => "pending",
            };
            format!(
                "- {}: {} (target {}) — {mark}",
                c.name, c.measured, c.target
            )
        })
        .collect();
    if !checks.is_empty() {
        s.push_str("\nTargets:\n\n");
        for c in checks {
            s.push_str(&c);
            s.push('\n');
        }
    }
    s
}
