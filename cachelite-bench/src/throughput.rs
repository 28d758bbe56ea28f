//! Get-or-insert throughput: Zipf 0.9 over 100k keys into a 10k-entry
//! cache, on 1 and 2 threads, every cache in one run.

use std::time::Instant;

use cached::Cached as _;
use cachelite::Cache;
use parking_lot::Mutex;
use serde_json::json;

use crate::Options;
use crate::plot::{BarChart, Series};
use crate::report::{Check, CheckKind, Report, Table, f, ratio};
use crate::workload::{Zipf, zipf_keys};

type Fold = foldhash::fast::RandomState;
type Sip = std::hash::RandomState;

/// Distinct keys.
pub const KEYS: usize = 100_000;
/// Cache capacity.
pub const CAPACITY: usize = 10_000;
/// Zipf exponent.
pub const ZIPF_S: f64 = 0.9;

/// One cache under load: runs a key stream, returns how many misses it saw.
type Op<'a> = Box<dyn Fn(&[u64]) -> u64 + Sync + 'a>;

struct Case<'a> {
    name: String,
    how: &'static str,
    op: Op<'a>,
}

/// Thread counts measured.
const THREADS: [usize; 2] = [1, 2];

fn cases() -> Vec<Case<'static>> {
    let cl: Cache<u64, u64> = Cache::new(CAPACITY);
    let cl1: Cache<u64, u64> = Cache::builder().max_items(CAPACITY).shards(1).build();
    let cl_split: Cache<u64, u64> = Cache::new(CAPACITY);
    let cl_fold: Cache<u64, u64, Fold> = Cache::builder()
        .max_items(CAPACITY)
        .hasher(Fold::default())
        .build();
    let cl_sip: Cache<u64, u64, Sip> = Cache::builder()
        .max_items(CAPACITY)
        .hasher(Sip::new())
        .build();
    let qc = quick_cache::sync::Cache::<u64, u64>::new(CAPACITY);
    let moka = moka::sync::Cache::<u64, u64>::new(CAPACITY as u64);
    let mini = mini_moka::sync::Cache::<u64, u64>::new(CAPACITY as u64);
    let lru = Mutex::new(lru::LruCache::<u64, u64>::new(
        CAPACITY.try_into().expect("nonzero"),
    ));
    let cached = Mutex::new(cached::LruCache::<u64, u64>::new(CAPACITY));
    let map_sip: Mutex<hashbrown::HashMap<u64, u64, Sip>> = Mutex::default();
    let map_fold: Mutex<hashbrown::HashMap<u64, u64, Fold>> = Mutex::default();
    let shards = cl.shard_count();
    vec![
        Case {
            name: format!("cachelite ({shards} shards)"),
            how: "get_or_insert_with",
            op: Box::new(move |keys| {
                let mut misses = 0;
                for &k in keys {
                    std::hint::black_box(cl.get_or_insert_with(k, || {
                        misses += 1;
                        k
                    }));
                }
                misses
            }),
        },
        Case {
            name: "cachelite /1".into(),
            how: "get_or_insert_with",
            op: Box::new(move |keys| {
                let mut misses = 0;
                for &k in keys {
                    std::hint::black_box(cl1.get_or_insert_with(k, || {
                        misses += 1;
                        k
                    }));
                }
                misses
            }),
        },
        Case {
            name: "cachelite, get + insert".into(),
            how: "get, insert on a miss",
            op: Box::new(move |keys| {
                let mut misses = 0;
                for &k in keys {
                    if cl_split.get(&k).is_none() {
                        misses += 1;
                        cl_split.insert(k, k);
                    }
                }
                misses
            }),
        },
        Case {
            name: "cachelite, foldhash".into(),
            how: "get_or_insert_with",
            op: Box::new(move |keys| {
                let mut misses = 0;
                for &k in keys {
                    std::hint::black_box(cl_fold.get_or_insert_with(k, || {
                        misses += 1;
                        k
                    }));
                }
                misses
            }),
        },
        Case {
            name: "cachelite, SipHash".into(),
            how: "get_or_insert_with",
            op: Box::new(move |keys| {
                let mut misses = 0;
                for &k in keys {
                    std::hint::black_box(cl_sip.get_or_insert_with(k, || {
                        misses += 1;
                        k
                    }));
                }
                misses
            }),
        },
        Case {
            name: "quick_cache::sync".into(),
            how: "get_or_insert_with",
            op: Box::new(move |keys| {
                let mut misses = 0;
                for &k in keys {
                    let r = qc.get_or_insert_with(&k, || {
                        misses += 1;
                        Ok::<_, std::convert::Infallible>(k)
                    });
                    std::hint::black_box(r.ok());
                }
                misses
            }),
        },
        Case {
            name: "moka::sync".into(),
            how: "get_with",
            op: Box::new(move |keys| {
                let mut misses = 0;
                for &k in keys {
                    std::hint::black_box(moka.get_with(k, || {
                        misses += 1;
                        k
                    }));
                }
                misses
            }),
        },
        Case {
            name: "mini_moka::sync".into(),
            how: "get, insert on a miss",
            op: Box::new(move |keys| {
                let mut misses = 0;
                for &k in keys {
                    if mini.get(&k).is_none() {
                        misses += 1;
                        mini.insert(k, k);
                    }
                }
                misses
            }),
        },
        Case {
            name: "lru + Mutex".into(),
            how: "get or put, one lock",
            op: Box::new(move |keys| {
                let mut misses = 0;
                for &k in keys {
                    let mut g = lru.lock();
                    if g.get(&k).is_none() {
                        misses += 1;
                        g.put(k, k);
                    }
                }
                misses
            }),
        },
        Case {
            name: "cached LruCache + Mutex".into(),
            how: "get or set, one lock",
            op: Box::new(move |keys| {
                let mut misses = 0;
                for &k in keys {
                    let mut g = cached.lock();
                    if g.cache_get(&k).is_none() {
                        misses += 1;
                        g.cache_set(k, k);
                    }
                }
                misses
            }),
        },
        Case {
            name: "Mutex<hashbrown::HashMap>".into(),
            how: "unbounded, SipHash",
            op: Box::new(move |keys| {
                let mut misses = 0;
                for &k in keys {
                    map_sip.lock().entry(k).or_insert_with(|| {
                        misses += 1;
                        k
                    });
                }
                misses
            }),
        },
        Case {
            name: "Mutex<hashbrown::HashMap>, foldhash".into(),
            how: "unbounded, foldhash",
            op: Box::new(move |keys| {
                let mut misses = 0;
                for &k in keys {
                    map_fold.lock().entry(k).or_insert_with(|| {
                        misses += 1;
                        k
                    });
                }
                misses
            }),
        },
    ]
}

/// Operations per second with `threads` threads, each on its own stream,
/// and the miss ratio they saw.
fn once(op: &Op<'_>, streams: &[Vec<u64>], threads: usize) -> (f64, f64) {
    let start = Instant::now();
    let misses: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = streams[..threads]
            .iter()
            .map(|keys| s.spawn(move || op(keys)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panics"))
            .sum()
    });
    let secs = start.elapsed().as_secs_f64();
    let ops: usize = streams[..threads].iter().map(Vec::len).sum();
    (ops as f64 / secs, misses as f64 / ops as f64)
}

/// Runs the suite.
#[must_use]
pub fn run(opts: &Options) -> Report {
    let (runs, len) = if opts.quick {
        (1, 20_000)
    } else {
        (15, 200_000)
    };
    let zipf = Zipf::new(KEYS, ZIPF_S);
    let streams: Vec<Vec<u64>> = (0..THREADS[1])
        .map(|t| zipf_keys(&zipf, len, 0xfeed + t as u64))
        .collect();
    let cases = cases();
    // best[case][threads index] = (ops/s, miss ratio)
    let mut best = vec![[(0.0_f64, 0.0_f64); THREADS.len()]; cases.len()];
    for c in &cases {
        for &t in &THREADS {
            once(&c.op, &streams, t); // warm-up: fills the cache
        }
    }
    for _ in 0..runs {
        for (c, b) in cases.iter().zip(&mut best) {
            for (ti, &t) in THREADS.iter().enumerate() {
                let (ops, miss) = once(&c.op, &streams, t);
                if ops > b[ti].0 {
                    b[ti] = (ops, miss);
                }
            }
        }
    }

    let mut report = Report::new("throughput", opts.quick);
    report.method = vec![
        format!("Zipf s = {ZIPF_S} over {KEYS} keys (scrambled u64), capacity {CAPACITY}; each thread replays its own seeded stream of {len} requests against the shared cache, doing get-or-insert with a trivial value."),
        format!("Figures are the best of {runs} runs (after one warm-up run) in millions of operations per second across all threads; cases run interleaved. The machine has {} hardware threads.", opts.threads),
        "`/1` is `.shards(1)`; unbounded `Mutex<HashMap>` rows are floors: no eviction, so they hold all 100k keys.".into(),
    ];
    let mut t = Table::new(
        "Get-or-insert throughput, Zipf 0.9, 100k keys, capacity 10k",
        &[
            "cache",
            "operation",
            "1 thread (Mops/s)",
            "2 threads (Mops/s)",
            "2T / 1T",
            "hit ratio",
            "1T × cachelite",
        ],
    );
    let base = best[0][0].0;
    for (c, b) in cases.iter().zip(&best) {
        t.row(vec![
            c.name.clone(),
            c.how.to_owned(),
            f(b[0].0 / 1e6, 2),
            f(b[1].0 / 1e6, 2),
            ratio(b[1].0 / b[0].0),
            format!("{:.1}%", (1.0 - b[0].1) * 100.0),
            ratio(b[0].0 / base),
        ]);
    }
    let by = |n: &str| {
        cases
            .iter()
            .position(|c| c.name == n)
            .map_or([(f64::NAN, 0.0); 2], |i| best[i])
    };
    let qc = by("quick_cache::sync");
    let moka = by("moka::sync");
    let cl = best[0];
    report.checks = vec![
        Check::new(
            CheckKind::Target,
            "get-or-insert, 1 thread: cachelite / quick_cache::sync",
            "≥ 1.00×",
            format!(
                "{} ({:.2} vs {:.2} Mops/s)",
                ratio(cl[0].0 / qc[0].0),
                cl[0].0 / 1e6,
                qc[0].0 / 1e6
            ),
            cl[0].0 / qc[0].0 >= 1.0,
        ),
        Check::new(
            CheckKind::Target,
            "get-or-insert, 1 thread: cachelite / moka::sync",
            "≥ 10×",
            format!(
                "{} ({:.2} vs {:.2} Mops/s)",
                ratio(cl[0].0 / moka[0].0),
                cl[0].0 / 1e6,
                moka[0].0 / 1e6
            ),
            cl[0].0 / moka[0].0 >= 10.0,
        ),
        Check::new(
            CheckKind::Target,
            "get-or-insert: cachelite 2 threads / 1 thread",
            "≥ 1.00×",
            format!(
                "{} ({:.2} vs {:.2} Mops/s)",
                ratio(cl[1].0 / cl[0].0),
                cl[1].0 / 1e6,
                cl[0].0 / 1e6
            ),
            cl[1].0 / cl[0].0 >= 1.0,
        ),
    ];
    report.tables = vec![t];
    report.data = json!({
        "keys": KEYS, "capacity": CAPACITY, "zipf_s": ZIPF_S, "requests_per_thread": len, "runs": runs,
        "ops_per_sec": cases.iter().zip(&best).map(|(c, b)| (c.name.clone(), json!({
            "1": b[0].0, "2": b[1].0, "hit_ratio_1": 1.0 - b[0].1, "hit_ratio_2": 1.0 - b[1].1,
        }))).collect::<serde_json::Map<_, _>>(),
    });
    let rows: Vec<(String, Vec<f64>)> = cases
        .iter()
        .zip(&best)
        .map(|(c, b)| (c.name.clone(), b.iter().map(|x| x.0 / 1e6).collect()))
        .collect();
    report.chart = Some(chart(&rows).into());
    report
}

/// The suite's plot: one row per case, a bar per thread count (Mops/s).
#[must_use]
pub fn chart(rows: &[(String, Vec<f64>)]) -> BarChart {
    BarChart {
        title: "Get-or-insert throughput, Zipf 0.9, 100k keys, capacity 10k (million ops/s, higher is better)".into(),
        y_label: "million ops / s".into(),
        groups: rows.iter().map(|r| r.0.clone()).collect(),
        series: THREADS
            .iter()
            .enumerate()
            .map(|(ti, t)| Series {
                name: format!("{t} thread{}", if *t > 1 { "s" } else { "" }),
                values: rows.iter().map(|r| r.1.get(ti).copied()).collect(),
            })
            .collect(),
        reference: None,
        y_max: None,
    }
}

/// The plot again from a written report (`throughput.json`): the table
/// keeps the cases' order, the data holds the figures.
///
/// # Errors
/// If the report has no throughput table or figures.
pub fn chart_from_json(report: &serde_json::Value) -> Result<BarChart, String> {
    let ops = &report["data"]["ops_per_sec"];
    let rows: Vec<(String, Vec<f64>)> = report["tables"][0]["rows"]
        .as_array()
        .ok_or("throughput.json: no table")?
        .iter()
        .filter_map(|r| {
            let name = r.get(0)?.as_str()?;
            let at = |t: &str| Some(ops[name][t].as_f64()? / 1e6);
            Some((name.to_owned(), vec![at("1")?, at("2")?]))
        })
        .collect();
    if rows.is_empty() {
        return Err("throughput.json: no rows".into());
    }
    Ok(chart(&rows))
}
