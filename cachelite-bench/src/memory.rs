//! Memory per entry, two ways.
//!
//! - Heap bytes beyond the key and the value, measured by the counting
//!   allocator after `n` and after `3n` inserts of distinct keys into a
//!   cache of capacity `n`.
//! - Resident memory: the growth of the process's resident set (`VmRSS`)
//!   while one cache is filled with `n` entries and then churned through
//!   `3n` inserts in all, each case in a fresh process (the binary re-runs
//!   itself as `cachelite-bench rss <cache> <n>`). Allocated capacity that
//!   is never touched is not resident, and what the allocator keeps after
//!   frees is: this is what a user's process pays.

use std::path::Path;
use std::process::Command;

use cached::Cached as _;
use cachelite::{Cache, Policy};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Options;
use crate::alloc::{counting, live_bytes};
use crate::plot::{BarChart, Chart, Series};
use crate::report::{Check, CheckKind, Report, Table, f, ratio};
use crate::workload::scramble;

/// Bytes of one key plus one value (`u64`, `u64`).
const PAYLOAD: f64 = 16.0;

/// Entries held and live bytes after `n`, then after `3n` inserts.
#[derive(Clone, Copy, Debug)]
pub struct Footprint {
    /// Entries the cache reports after `n` inserts.
    pub len_n: usize,
    /// Live heap bytes after `n` inserts.
    pub bytes_n: isize,
    /// Entries after `3n` inserts.
    pub len_3n: usize,
    /// Live heap bytes after `3n` inserts.
    pub bytes_3n: isize,
}

impl Footprint {
    fn overhead(bytes: isize, len: usize) -> f64 {
        bytes as f64 / len.max(1) as f64 - PAYLOAD
    }

    /// Bytes per entry beyond key + value after `n` inserts.
    #[must_use]
    pub fn overhead_n(&self) -> f64 {
        Self::overhead(self.bytes_n, self.len_n)
    }

    /// Bytes per entry beyond key + value at steady state (`3n` inserts).
    #[must_use]
    pub fn overhead_3n(&self) -> f64 {
        Self::overhead(self.bytes_3n, self.len_3n)
    }
}

/// Measures one cache: `build(n)`, then `insert` distinct keys; `len`
/// may settle pending work (moka) before counting entries.
pub fn footprint<C>(
    n: usize,
    build: impl FnOnce(usize) -> C,
    insert: impl Fn(&mut C, u64),
    len: impl Fn(&mut C) -> usize,
) -> Footprint {
    let guard = counting();
    let before = live_bytes();
    let mut c = build(n);
    for i in 0..n as u64 {
        insert(&mut c, scramble(i));
    }
    let len_n = len(&mut c);
    let bytes_n = live_bytes() - before;
    for i in n as u64..3 * n as u64 {
        insert(&mut c, scramble(i));
    }
    let len_3n = len(&mut c);
    let bytes_3n = live_bytes() - before;
    drop(c);
    drop(guard);
    Footprint {
        len_n,
        bytes_n,
        len_3n,
        bytes_3n,
    }
}

type Fold = foldhash::fast::RandomState;
type Sip = std::hash::RandomState;

/// Every cache measured: name and footprint.
#[must_use]
pub fn measure_all(n: usize) -> Vec<(String, Footprint)> {
    let shards = Cache::<u64, u64>::new(n).shard_count();
    vec![
        (
            format!("cachelite ({shards} shards)"),
            footprint(
                n,
                Cache::<u64, u64>::new,
                |c, k| _ = c.insert(k, k),
                |c| c.len(),
            ),
        ),
        (
            "cachelite /1".into(),
            footprint(
                n,
                |n| Cache::<u64, u64>::builder().max_items(n).shards(1).build(),
                |c, k| _ = c.insert(k, k),
                |c| c.len(),
            ),
        ),
        (
            "quick_cache::sync".into(),
            footprint(
                n,
                quick_cache::sync::Cache::<u64, u64>::new,
                |c, k| c.insert(k, k),
                |c| c.len(),
            ),
        ),
        (
            "quick_cache::unsync".into(),
            footprint(
                n,
                quick_cache::unsync::Cache::<u64, u64>::new,
                |c, k| c.insert(k, k),
                |c| c.len(),
            ),
        ),
        (
            "moka::sync".into(),
            footprint(
                n,
                |n| moka::sync::Cache::<u64, u64>::new(n as u64),
                |c, k| c.insert(k, k),
                |c| {
                    c.run_pending_tasks();
                    c.entry_count() as usize
                },
            ),
        ),
        (
            "mini_moka::sync".into(),
            footprint(
                n,
                |n| mini_moka::sync::Cache::<u64, u64>::new(n as u64),
                |c, k| c.insert(k, k),
                |c| c.entry_count() as usize,
            ),
        ),
        (
            "lru".into(),
            footprint(
                n,
                |n| lru::LruCache::<u64, u64>::new(n.try_into().expect("nonzero")),
                |c, k| _ = c.put(k, k),
                |c| c.len(),
            ),
        ),
        (
            "cached LruCache".into(),
            footprint(
                n,
                cached::LruCache::<u64, u64>::new,
                |c, k| _ = c.cache_set(k, k),
                |c| c.cache_size(),
            ),
        ),
        (
            "hashbrown::HashMap (unbounded), SipHash".into(),
            footprint(
                n,
                |_| hashbrown::HashMap::<u64, u64, Sip>::default(),
                |c, k| _ = c.insert(k, k),
                |c| c.len(),
            ),
        ),
        (
            "hashbrown::HashMap (unbounded), foldhash".into(),
            footprint(
                n,
                |_| hashbrown::HashMap::<u64, u64, Fold>::default(),
                |c, k| _ = c.insert(k, k),
                |c| c.len(),
            ),
        ),
    ]
}

/// The caches whose resident memory is measured, as `rss` names them.
pub const RSS_CACHES: &[&str] = &[
    RSS_CACHELITE,
    "cachelite TinyLFU",
    "cachelite adaptive",
    RSS_QUICK_CACHE,
    "moka::sync",
];
const RSS_CACHELITE: &str = "cachelite";
const RSS_QUICK_CACHE: &str = "quick_cache::sync";

/// Resident-set sizes of one process around one cache.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Resident {
    /// Capacity and first fill.
    pub n: usize,
    /// `VmRSS` before the cache is built, KiB.
    pub base_kib: u64,
    /// `VmRSS` after `n` inserts, KiB.
    pub kib_n: u64,
    /// Entries held after `n` inserts.
    pub len_n: usize,
    /// `VmRSS` after `3n` inserts, KiB.
    pub kib_3n: u64,
    /// Entries held after `3n` inserts.
    pub len_3n: usize,
}

impl Resident {
    fn per_entry(&self, kib: u64, len: usize) -> f64 {
        kib.saturating_sub(self.base_kib) as f64 * 1024.0 / len.max(1) as f64
    }

    /// Resident bytes per entry (key and value included) once filled.
    #[must_use]
    pub fn per_entry_n(&self) -> f64 {
        self.per_entry(self.kib_n, self.len_n)
    }

    /// Resident bytes per entry after `3n` inserts (steady state).
    #[must_use]
    pub fn per_entry_3n(&self) -> f64 {
        self.per_entry(self.kib_3n, self.len_3n)
    }
}

/// This process's resident set, KiB (Linux: `VmRSS` in `/proc/self/status`).
///
/// # Errors
/// Where the system does not report it.
pub fn vm_rss_kib() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("/proc/self/status: {e} (resident memory is read on Linux only)"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS line in /proc/self/status".to_owned())
}

fn resident<C>(
    n: usize,
    build: impl FnOnce(usize) -> C,
    insert: impl Fn(&C, u64),
    len: impl Fn(&C) -> usize,
) -> Result<Resident, String> {
    let base_kib = vm_rss_kib()?;
    let c = build(n);
    for i in 0..n as u64 {
        insert(&c, scramble(i));
    }
    let len_n = len(&c);
    let kib_n = vm_rss_kib()?;
    for i in n as u64..3 * n as u64 {
        insert(&c, scramble(i));
    }
    let len_3n = len(&c);
    let kib_3n = vm_rss_kib()?;
    std::hint::black_box(&c);
    Ok(Resident {
        n,
        base_kib,
        kib_n,
        len_n,
        kib_3n,
        len_3n,
    })
}

/// Fills cache `name` (one of [`RSS_CACHES`]) in this process and reads the
/// resident set around it: what `cachelite-bench rss <cache> <n>` prints.
///
/// # Errors
/// For an unknown cache or where the resident set cannot be read.
pub fn resident_in_this_process(name: &str, n: usize) -> Result<Resident, String> {
    if n == 0 {
        return Err("the cache needs at least one entry".into());
    }
    match name {
        RSS_CACHELITE => resident(
            n,
            Cache::<u64, u64>::new,
            |c, k| _ = c.insert(k, k),
            Cache::len,
        ),
        "cachelite TinyLFU" => resident(
            n,
            |n| {
                Cache::<u64, u64>::builder()
                    .max_items(n)
                    .policy(Policy::TinyLfu)
                    .build()
            },
            |c, k| _ = c.insert(k, k),
            Cache::len,
        ),
        "cachelite adaptive" => resident(
            n,
            |n| {
                Cache::<u64, u64>::builder()
                    .max_items(n)
                    .policy(Policy::Adaptive)
                    .build()
            },
            |c, k| _ = c.insert(k, k),
            Cache::len,
        ),
        RSS_QUICK_CACHE => resident(
            n,
            quick_cache::sync::Cache::<u64, u64>::new,
            |c, k| c.insert(k, k),
            quick_cache::sync::Cache::len,
        ),
        "moka::sync" => resident(
            n,
            |n| moka::sync::Cache::<u64, u64>::new(n as u64),
            |c, k| c.insert(k, k),
            |c| {
                c.run_pending_tasks();
                c.entry_count() as usize
            },
        ),
        other => Err(format!(
            "unknown cache `{other}`; valid: {}",
            RSS_CACHES.join(", ")
        )),
    }
}

/// Runs `exe rss <cache> <n>` in a fresh process and reads its answer.
///
/// # Errors
/// If the child fails or prints no measurement.
pub fn resident_in_child(exe: &Path, cache: &str, n: usize) -> Result<Resident, String> {
    let out = Command::new(exe)
        .args(["rss", cache, &n.to_string()])
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "`rss {cache} {n}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_str(stdout.trim())
        .map_err(|e| format!("`rss {cache} {n}` printed {stdout:?}: {e}"))
}

/// Runs the suite.
#[must_use]
pub fn run(opts: &Options) -> Report {
    let n = if opts.quick { 10_000 } else { 100_000 };
    let rows = measure_all(n);
    let mut report = Report::new("memory", opts.quick);
    report.method = vec![
        format!("A counting global allocator (wrapping `System`) records live heap bytes while each cache is built with capacity n = {n} and fed distinct u64 keys (u64 values): first n, then 3n in all (steady state, evicting)."),
        "Overhead per entry = live bytes / entries the cache reports − 16 (the key and the value). moka is settled with `run_pending_tasks` before counting; mini-moka reports its own (possibly lagging) count.".into(),
        "The unbounded `HashMap` rows are floors: they keep all 3n keys.".into(),
    ];
    let mut t = Table::new(
        format!("Heap bytes per entry beyond key + value (n = {n})"),
        &[
            "cache",
            "entries @n",
            "bytes/entry extra @n",
            "entries @3n",
            "bytes/entry extra @3n",
            "total MiB @3n",
            "@3n × cachelite",
        ],
    );
    let base = rows[0].1.overhead_3n();
    for (name, fp) in &rows {
        t.row(vec![
            name.clone(),
            fp.len_n.to_string(),
            f(fp.overhead_n(), 2),
            fp.len_3n.to_string(),
            f(fp.overhead_3n(), 2),
            f(fp.bytes_3n as f64 / (1 << 20) as f64, 2),
            ratio(fp.overhead_3n() / base),
        ]);
    }
    let by = |n: &str| {
        rows.iter()
            .find(|r| r.0 == n)
            .map_or(f64::NAN, |r| r.1.overhead_3n())
    };
    let qc = by("quick_cache::sync");
    let moka = by("moka::sync");
    report.checks = vec![
        Check::new(
            CheckKind::Target,
            "memory per entry at steady state: cachelite ≤ quick_cache::sync",
            "≤ 1.00×",
            format!("{} ({base:.2} vs {qc:.2} B)", ratio(base / qc)),
            base <= qc,
        ),
        Check::new(
            CheckKind::Target,
            "memory per entry at steady state: cachelite / moka::sync",
            "≤ 0.50×",
            format!("{} ({base:.2} vs {moka:.2} B)", ratio(base / moka)),
            base / moka <= 0.5,
        ),
    ];
    report.tables = vec![t];

    // Resident memory, one fresh process per case.
    let rss_sizes: &[usize] = if opts.quick {
        &[20_000]
    } else {
        &[100_000, 1_000_000]
    };
    let resident: Result<Vec<(&str, Resident)>, String> = match &opts.exe {
        None => Err("no cachelite-bench binary to re-run (Options::exe)".into()),
        Some(exe) => rss_sizes
            .iter()
            .flat_map(|&n| RSS_CACHES.iter().map(move |&c| (c, n)))
            .map(|(c, n)| resident_in_child(exe, c, n).map(|r| (c, r)))
            .collect(),
    };
    report.method.push(format!(
        "Resident memory: each cache alone in a fresh process (`cachelite-bench rss <cache> <n>`), built with capacity n ∈ {{{}}} and fed distinct u64 keys (u64 values), n and then 3n in all; bytes per entry = growth of `VmRSS` (/proc/self/status) since before the cache was built ÷ entries held. Key and value are included. moka is settled with `run_pending_tasks` first.",
        rss_sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    ));
    let mut rss_checks = Vec::new();
    let mut rss_json = serde_json::Map::new();
    match &resident {
        Ok(rows) => {
            let mut rt = Table::new(
                "Resident memory per entry, key and value included (RSS growth ÷ entries)",
                &[
                    "cache",
                    "n",
                    "bytes/entry filled (n inserts)",
                    "bytes/entry after 3n inserts",
                    "entries @n / @3n",
                    "RSS growth MiB @3n",
                    "filled ÷ quick_cache",
                    "@3n ÷ quick_cache",
                ],
            );
            for &n in rss_sizes {
                let at = |c: &str| rows.iter().find(|r| r.0 == c && r.1.n == n).map(|r| r.1);
                let qc = at(RSS_QUICK_CACHE);
                for (c, r) in rows.iter().filter(|r| r.1.n == n) {
                    rt.row(vec![
                        (*c).to_owned(),
                        n.to_string(),
                        f(r.per_entry_n(), 1),
                        f(r.per_entry_3n(), 1),
                        format!("{} / {}", r.len_n, r.len_3n),
                        f(r.kib_3n.saturating_sub(r.base_kib) as f64 / 1024.0, 1),
                        qc.map_or("—".into(), |q| ratio(r.per_entry_n() / q.per_entry_n())),
                        qc.map_or("—".into(), |q| ratio(r.per_entry_3n() / q.per_entry_3n())),
                    ]);
                    rss_json.insert(
                        format!("{c} @{n}"),
                        json!({
                            "cache": c, "n": n, "raw": r,
                            "per_entry_n": r.per_entry_n(), "per_entry_3n": r.per_entry_3n(),
                        }),
                    );
                }
                if let (Some(cl), Some(qc)) = (at(RSS_CACHELITE), qc) {
                    for (state, a, b) in [
                        ("filled", cl.per_entry_n(), qc.per_entry_n()),
                        ("after 3× churn", cl.per_entry_3n(), qc.per_entry_3n()),
                    ] {
                        rss_checks.push(Check::new(
                            CheckKind::Target,
                            format!("resident memory per entry, n = {n}, {state}: cachelite ≤ quick_cache::sync"),
                            "≤ 1.00×",
                            format!("{} ({a:.1} vs {b:.1} B)", ratio(a / b)),
                            a <= b,
                        ));
                    }
                }
            }
            report.tables.push(rt);
        }
        Err(why) => {
            for &n in rss_sizes {
                for state in ["filled", "after 3× churn"] {
                    rss_checks.push(Check::pending(
                        CheckKind::Target,
                        format!("resident memory per entry, n = {n}, {state}: cachelite ≤ quick_cache::sync"),
                        "≤ 1.00×",
                        why.clone(),
                    ));
                }
            }
        }
    }
    report.checks.extend(rss_checks);
    report.data = json!({
        "n": n,
        "caches": rows.iter().map(|(name, fp)| (name.clone(), json!({
            "len_n": fp.len_n, "bytes_n": fp.bytes_n, "len_3n": fp.len_3n, "bytes_3n": fp.bytes_3n,
            "overhead_n": fp.overhead_n(), "overhead_3n": fp.overhead_3n(),
        }))).collect::<serde_json::Map<_, _>>(),
        "resident": rss_json,
    });
    let heap = BarChart {
        title: format!("Heap bytes per entry beyond key + value (n = {n}, lower is better)"),
        y_label: "bytes per entry".into(),
        groups: rows.iter().map(|r| r.0.clone()).collect(),
        series: vec![
            Series {
                name: "after n inserts".into(),
                values: rows.iter().map(|r| Some(r.1.overhead_n())).collect(),
            },
            Series {
                name: "after 3n inserts".into(),
                values: rows.iter().map(|r| Some(r.1.overhead_3n())).collect(),
            },
        ],
        reference: None,
        y_max: None,
    };
    let mut charts = vec![heap];
    if let Ok(rows) = &resident {
        let groups: Vec<String> = rss_sizes
            .iter()
            .flat_map(|&n| RSS_CACHES.iter().map(move |c| format!("{c}, n = {n}")))
            .collect();
        let value = |g: &str, pick: fn(&Resident) -> f64| {
            rows.iter()
                .find(|(c, r)| format!("{c}, n = {}", r.n) == g)
                .map(|(_, r)| pick(r))
        };
        charts.push(BarChart {
            title:
                "Resident memory per entry, key and value included (RSS growth, lower is better)"
                    .into(),
            y_label: "resident bytes per entry".into(),
            series: vec![
                Series {
                    name: "filled: n inserts".into(),
                    values: groups
                        .iter()
                        .map(|g| value(g, Resident::per_entry_n))
                        .collect(),
                },
                Series {
                    name: "after 3n inserts".into(),
                    values: groups
                        .iter()
                        .map(|g| value(g, Resident::per_entry_3n))
                        .collect(),
                },
            ],
            groups,
            reference: None,
            y_max: None,
        });
    }
    report.chart = Some(Chart::Stacked(charts));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_set_grows_with_a_filled_cache() {
        let r = resident_in_this_process("cachelite", 50_000).unwrap();
        assert!(r.len_n > 45_000 && r.len_3n <= 50_000, "{r:?}");
        // 50,000 entries of 16 bytes each cannot fit in less than 800 KB.
        assert!(r.kib_n - r.base_kib >= 781, "{r:?}");
        assert!(resident_in_this_process("no such cache", 10).is_err());
    }
}
