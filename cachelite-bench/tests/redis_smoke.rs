//! The redis suite in `--quick` mode, when a server is at hand: the one of
//! `CACHELITE_REDIS_URL`, or a private `redis-server`. Without either it
//! is skipped with a message (its checks would all be pending). Targets
//! are not asserted: the machine may be shared.

use cachelite_bench::{CheckKind, Options, Status, Suite, run_suite};

fn server_at_hand() -> bool {
    std::env::var("CACHELITE_REDIS_URL").is_ok_and(|u| !u.is_empty())
        || std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

#[test]
fn redis_measures_every_row_against_one_server() {
    if !server_at_hand() {
        eprintln!("skipped: no Redis server (set CACHELITE_REDIS_URL or install redis-server)");
        return;
    }
    let r = run_suite(Suite::Redis, &Options::quick());
    let ns = r.data["ns_per_op"].as_object().unwrap();
    for (name, v) in ns {
        let v = v.as_f64().unwrap();
        assert!(v.is_finite() && v > 0.0, "{name}: {v}");
    }
    // A local hit costs no round trip.
    assert!(ns["cachelite_l1_hit"].as_f64() < ns["raw_get"].as_f64());
    assert!(ns["cachelite_l1_hit_blocking"].as_f64() < ns["raw_get"].as_f64());
    let ops = r.data["ops_per_sec"].as_object().unwrap();
    assert_eq!(ops.len(), 9);
    assert_eq!(r.checks.len(), 3);
    assert!(
        r.checks
            .iter()
            .all(|c| c.kind == CheckKind::Target && c.status != Status::Pending),
        "{:#?}",
        r.checks
    );
    // The cluster rows: measured where redis-cli can form a cluster, and
    // required to be measured in CI.
    let cluster = &r.data["cluster"];
    if let Some(why) = cluster["skipped"].as_str() {
        assert!(
            std::env::var_os("CACHELITE_REQUIRE_REDIS").is_none(),
            "cluster rows not measured: {why}"
        );
        eprintln!("cluster rows skipped: {why}");
    } else {
        let ns = cluster["ns_per_op"].as_object().unwrap();
        assert_eq!(ns.len(), 4);
        for (name, v) in ns {
            let v = v.as_f64().unwrap();
            assert!(v.is_finite() && v > 0.0, "cluster {name}: {v}");
        }
        let ops = cluster["ops_per_sec"].as_object().unwrap();
        assert_eq!(ops.len(), 4);
        assert!(ops.values().all(|v| v.as_f64().unwrap() > 0.0));
    }
    assert!(
        r.tables
            .iter()
            .any(|t| t.title.starts_with("Redis Cluster"))
    );
    let dir = tempfile::tempdir().unwrap();
    let files = r.write_files(dir.path()).unwrap();
    assert_eq!(files.len(), 2);
}

#[test]
fn compression_shrinks_the_stored_json_and_encryption_adds_a_fixed_overhead() {
    if !server_at_hand() {
        eprintln!("skipped: no Redis server (set CACHELITE_REDIS_URL or install redis-server)");
        return;
    }
    let r = run_suite(Suite::Redis, &Options::quick());
    let rows = r.data["layers"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        6,
        "none, lz4, zstd; each with and without encryption"
    );
    let strlen = |i: usize| rows[i]["strlen"].as_u64().unwrap();
    let plain = strlen(0);
    assert!(plain > 10 * 1024, "{plain}");
    for (i, row) in rows.iter().enumerate() {
        for t in ["get_ns", "set_ns"] {
            let v = row[t].as_f64().unwrap();
            assert!(v.is_finite() && v > 0.0, "{row}");
        }
        if i >= 2 {
            assert!(strlen(i) < plain / 2, "{row}");
        }
        if i % 2 == 1 {
            // Header, key id, nonce and tag. Each row writes its own value,
            // whose envelope holds its own end: compressed, the two may
            // differ by a few bytes before the encryption's overhead.
            let overhead = strlen(i).abs_diff(strlen(i - 1) + 4 + 24 + 16);
            let slack = if i == 1 { 0 } else { 8 };
            assert!(overhead <= slack, "{row}: off by {overhead}");
        }
    }
}
