//! Every suite in `--quick` mode, in-process, with its checks asserted.
//!
//! The memory suite runs alone (its allocation counter sees every thread);
//! the others may share the machine, as their targets are not asserted
//! here. Files go to a temp dir.

use std::sync::RwLock;

use cachelite_bench::{CheckKind, Options, Report, Status, Suite, hit_ratio, run_suite};

static ALONE: RwLock<()> = RwLock::new(());

fn run(suite: Suite) -> Report {
    let _guard = if suite == Suite::Memory {
        (None, Some(ALONE.write().unwrap_or_else(|e| e.into_inner())))
    } else {
        (Some(ALONE.read().unwrap_or_else(|e| e.into_inner())), None)
    };
    let opts = Options {
        // The memory suite re-runs the binary for its resident-set rows.
        exe: Some(env!("CARGO_BIN_EXE_cachelite-bench").into()),
        ..Options::quick()
    };
    run_suite(suite, &opts)
}

/// Writes the report's files to a temp dir and checks they are sound.
fn writes_json_and_svg(report: &Report) {
    let dir = tempfile::tempdir().unwrap();
    let files = report.write_files(dir.path()).unwrap();
    let stem = report.suite.replace('-', "_");
    let json = dir.path().join(format!("{stem}.json"));
    let svg = dir.path().join(format!("{stem}.svg"));
    assert_eq!(files, [json.clone(), svg.clone()]);
    let parsed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(parsed["suite"], report.suite.as_str());
    let first = std::fs::read_to_string(&svg).unwrap();
    assert!(first.contains("<text"));
    // Plots that can be redrawn from the JSON alone come out with the same
    // words and numbers.
    let redrawn = cachelite_bench::replot(dir.path()).unwrap();
    if stem != "memory" {
        assert_eq!(redrawn, std::slice::from_ref(&svg));
        let again = std::fs::read_to_string(&svg).unwrap();
        assert_eq!(texts(&again), texts(&first), "{stem}");
    } else {
        assert!(redrawn.is_empty(), "{redrawn:?}");
    }
}

/// The text elements of an SVG, in order.
fn texts(svg: &str) -> Vec<&str> {
    svg.split("</text>")
        .filter_map(|chunk| chunk.rsplit_once('>').map(|(_, t)| t))
        .filter(|t| !t.trim().is_empty())
        .collect()
}

fn finite(x: &serde_json::Value) -> f64 {
    let v = x.as_f64().unwrap_or_else(|| panic!("not a number: {x}"));
    assert!(v.is_finite() && v > 0.0, "{v}");
    v
}

#[test]
fn hit_ratio_checks_pass_on_quick_workloads() {
    let r = run(Suite::HitRatio);
    let named = |s: &str| r.checks.iter().filter(|c| c.name.contains(s)).count();
    // Every cache is bounded by OPT; every IRM row has its theory checks.
    assert_eq!(
        named("never exceeds OPT"),
        2 * cachelite::Policy::ALL.len() + 5
    );
    assert_eq!(named("within 0.5 points of theory"), 18);
    assert_eq!(named("between Che's LRU and perfect LFU"), 6);
    let failed: Vec<_> = r.failed_checks().collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(r.checks.iter().all(|c| c.status == Status::Pass));
    writes_json_and_svg(&r);
}

#[test]
fn lru_reproduces_the_arc_papers_oltp_figures() {
    let _shared = ALONE.read().unwrap_or_else(|e| e.into_inner());
    let dir = Options::quick().traces_dir;
    // The traces live beside the repository (shared/traces), not in it: a
    // checkout without them skips this check, CI (which has them) demands it.
    if !dir.join("arc_OLTP.txt.gz").exists()
        && std::env::var_os("CACHELITE_REQUIRE_TRACES").is_none()
    {
        eprintln!(
            "skipped: no OLTP trace in {}; set CACHELITE_TRACES to the traces folder",
            dir.display()
        );
        return;
    }
    let checks = hit_ratio::oltp_lru_checks(&dir).unwrap_or_else(|e| {
        panic!("the OLTP trace is needed here: {e}");
    });
    let measured: Vec<&str> = checks.iter().map(|c| c.measured.as_str()).collect();
    assert_eq!(measured, ["32.83%", "42.47%"]);
    assert!(
        checks
            .iter()
            .all(|c| c.status == Status::Pass && c.kind == CheckKind::Correctness)
    );
}

#[test]
fn latency_measures_every_case_and_states_every_target() {
    let r = run(Suite::Latency);
    let ns = r.data["ns_per_op"].as_object().unwrap();
    for case in cachelite_bench::latency::GET_CASES {
        finite(&ns[*case]);
    }
    // A hit on a 1k-key table is neither free nor slower than a syscall.
    assert!(finite(&ns["cachelite"]) < 10_000.0);
    let targets = r
        .checks
        .iter()
        .filter(|c| c.kind == CheckKind::Target)
        .count();
    assert_eq!(targets, 5);
    // Only the #[memoize] rows may be pending, and only until it expands.
    for c in &r.checks {
        if c.status == Status::Pending {
            assert!(c.name.contains("#[memoize]"), "{c:?}");
        }
    }
    writes_json_and_svg(&r);
}

#[test]
fn throughput_measures_one_and_two_threads() {
    let r = run(Suite::Throughput);
    let ops = r.data["ops_per_sec"].as_object().unwrap();
    assert!(ops.len() >= 9);
    for (name, v) in ops {
        finite(&v["1"]);
        finite(&v["2"]);
        let hit = v["hit_ratio_1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&hit), "{name}: {hit}");
    }
    // The bounded caches see a Zipf hit ratio well above zero.
    let cl = ops
        .iter()
        .find(|(k, _)| k.starts_with("cachelite ("))
        .unwrap()
        .1;
    assert!(cl["hit_ratio_1"].as_f64().unwrap() > 0.3);
    assert_eq!(r.checks.len(), 3);
    assert!(r.checks.iter().all(|c| c.status != Status::Pending));
    writes_json_and_svg(&r);
}

#[test]
fn memory_counts_bytes_per_entry() {
    let r = run(Suite::Memory);
    let n = r.data["n"].as_u64().unwrap();
    let caches = r.data["caches"].as_object().unwrap();
    // One shard holds exactly its capacity once full; with several, the
    // fullest shard starts evicting a little before the whole cache is full.
    let one = &caches["cachelite /1"];
    assert_eq!(one["len_n"].as_u64(), Some(n));
    assert_eq!(one["len_3n"].as_u64(), Some(n));
    let sharded = caches
        .iter()
        .find(|(k, _)| k.starts_with("cachelite ("))
        .unwrap()
        .1;
    let held = sharded["len_3n"].as_u64().unwrap();
    assert!(held <= n && held > n * 9 / 10, "{held}");
    for (name, c) in caches {
        let extra = c["overhead_3n"].as_f64().unwrap();
        // Every structure needs some bytes per entry beyond key and value,
        // and none needs a kilobyte.
        assert!(extra > 0.0 && extra < 1024.0, "{name}: {extra}");
    }
    // The unbounded floor keeps every key.
    let floor = &caches["hashbrown::HashMap (unbounded), foldhash"];
    assert_eq!(floor["len_3n"].as_u64(), Some(3 * n));
    // Resident memory: a row per cache from a child process each, with a
    // sound reading (each entry holds at least its key and value).
    let resident = r.data["resident"].as_object().unwrap();
    assert_eq!(
        resident.len(),
        cachelite_bench::memory::RSS_CACHES.len(),
        "{resident:#?}"
    );
    for c in cachelite_bench::memory::RSS_CACHES {
        let row = resident
            .values()
            .find(|v| v["cache"] == *c)
            .unwrap_or_else(|| panic!("no resident row for {c}"));
        for state in ["per_entry_n", "per_entry_3n"] {
            let b = finite(&row[state]);
            assert!((16.0..4096.0).contains(&b), "{c} {state}: {b}");
        }
    }
    assert_eq!(r.checks.len(), 2 + 2);
    assert!(r.checks.iter().all(|c| c.status != Status::Pending));
    writes_json_and_svg(&r);
    // The headline compares with every peer, from whichever suites ran.
    let head = cachelite_bench::headline(&[r]);
    for peer in ["quick_cache", "moka", "mini-moka", "lru", "cached"] {
        assert!(head.contains(peer), "{peer} missing from:\n{head}");
    }
    assert!(head.contains('×'), "{head}");
}

#[test]
fn scaling_reports_every_policy_at_both_sizes() {
    let r = run(Suite::Scaling);
    let rows = r.data["rows"].as_object().unwrap();
    assert_eq!(rows.len(), cachelite::Policy::ALL.len());
    for (name, row) in rows {
        for op in ["get", "insert"] {
            let v = row[op].as_array().unwrap();
            assert_eq!(v.len(), 2, "{name}");
            v.iter().for_each(|x| _ = finite(x));
        }
    }
    writes_json_and_svg(&r);
}

#[test]
fn concurrency_measures_every_cache_on_every_workload() {
    use cachelite_bench::concurrency::{CACHED, CACHES, Workload};
    let r = run(Suite::Concurrency);
    let threads: Vec<u64> = r.data["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect();
    assert_eq!(threads[0], 1);
    assert!(threads.len() <= 2, "{threads:?}");
    let workloads = r.data["workloads"].as_object().unwrap();
    assert_eq!(workloads.len(), Workload::ALL.len());
    for w in Workload::ALL {
        let caches = workloads[w.name()]["caches"].as_object().unwrap();
        for &c in CACHES {
            // `#[cached]` is a memoizer: it takes part in the memoize row only.
            if c == CACHED && *w != Workload::Memoize {
                assert!(!caches.contains_key(c), "{}: {c}", w.name());
                continue;
            }
            let ops = caches
                .get(c)
                .unwrap_or_else(|| panic!("{}: no row for {c}", w.name()))["ops_per_sec"]
                .as_object()
                .unwrap();
            assert_eq!(ops.len(), threads.len(), "{}: {c}", w.name());
            ops.values().for_each(|v| _ = finite(v));
        }
    }
    // Every row is in the table, and every target is stated with a result
    // (one machine thread gives one thread count: then no-collapse waits).
    let table = &r.tables[1];
    assert_eq!(
        table.rows.len(),
        Workload::ALL.len() * (CACHES.len() - 1) + 1
    );
    let targets: Vec<_> = r.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(r.checks.len(), 2 + Workload::ALL.len() + 3, "{targets:#?}");
    for c in &r.checks {
        assert_eq!(c.kind, CheckKind::Target);
        if c.status == Status::Pending {
            assert!(
                c.name.starts_with("no collapse") && threads.len() == 1,
                "{c:?}"
            );
        }
    }
    writes_json_and_svg(&r);
}
