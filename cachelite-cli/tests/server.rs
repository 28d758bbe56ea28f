//! The HTTP server, started in-process on an ephemeral loopback port and
//! driven by a real HTTP client.

use std::thread;
use std::time::{Duration, Instant};

use cachelite_cli::JsonCache;
use cachelite_cli::server::{ServeError, ServerConfig, serve};
use serde_json::{Value, json};
use ureq::Agent;
use ureq::http::Response;

mod support;
use support::{TestServer, runtime};

/// Runs `serve` with a configuration it must refuse, and returns the error.
fn serve_error(config: ServerConfig) -> ServeError {
    runtime().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let run = serve(listener, config, std::future::pending());
        match tokio::time::timeout(Duration::from_secs(10), run).await {
            Ok(Err(e)) => e,
            Ok(Ok(())) => panic!("serve stopped without an error"),
            Err(_) => panic!("serve started with a bad configuration"),
        }
    })
}

fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent()
}

/// Status and body (JSON, or `Value::String` of the text if not JSON).
fn parts(mut resp: Response<ureq::Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn get(s: &TestServer, path: &str) -> (u16, Value) {
    parts(agent().get(s.url(path)).call().expect("GET"))
}

fn put(s: &TestServer, key: &str, body: &Value) -> (u16, Value) {
    parts(
        agent()
            .put(s.url(&format!("/cache/{key}")))
            .send_json(body)
            .expect("PUT"),
    )
}

fn put_raw(s: &TestServer, key: &str, content_type: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = agent().put(s.url(&format!("/cache/{key}")));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    parts(req.send(body).expect("PUT"))
}

fn post(s: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    parts(agent().post(s.url(path)).send_json(body).expect("POST"))
}

fn delete(s: &TestServer, key: &str) -> (u16, Value) {
    parts(
        agent()
            .delete(s.url(&format!("/cache/{key}")))
            .call()
            .expect("DELETE"),
    )
}

/// Asserts a 4xx with a JSON `{"error": "..."}` body; returns the message.
#[track_caller]
fn assert_error(resp: (u16, Value), status: u16) -> String {
    assert_eq!(resp.0, status, "body: {}", resp.1);
    resp.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("expected {{\"error\": ...}}, got {}", resp.1))
        .to_owned()
}

#[test]
fn health() {
    let s = TestServer::start(ServerConfig::default());
    assert_eq!(get(&s, "/health"), (200, json!({"status": "ok"})));
}

#[test]
fn responses_and_errors_are_json() {
    let s = TestServer::start(ServerConfig::default());
    for path in ["/health", "/keys", "/stats", "/cache/missing", "/nowhere"] {
        let resp = agent().get(s.url(path)).call().unwrap();
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(ct, "application/json", "{path}");
        let (_, body) = parts(resp);
        assert!(body.is_object(), "{path}: {body}");
    }
}

#[test]
fn put_get_replace_delete() {
    let s = TestServer::start(ServerConfig::default());
    let (status, body) = put(&s, "user:1", &json!({"value": {"name": "Ada"}}));
    assert_eq!(status, 201);
    assert_eq!(body["created"], json!(true));
    assert_eq!(
        get(&s, "/cache/user:1"),
        (
            200,
            json!({"key": "user:1", "value": {"name": "Ada"}, "ttl": null})
        )
    );
    let (status, body) = put(&s, "user:1", &json!({"value": [1, 2, 3]}));
    assert_eq!((status, &body["created"]), (200, &json!(false)));
    assert_eq!(get(&s, "/cache/user:1").1["value"], json!([1, 2, 3]));
    // Any JSON is a value, null included.
    assert_eq!(put(&s, "nothing", &json!({"value": null})).0, 201);
    assert_eq!(get(&s, "/cache/nothing").1["value"], Value::Null);

    let (status, _) = delete(&s, "user:1");
    assert_eq!(status, 204);
    assert!(assert_error(delete(&s, "user:1"), 404).contains("user:1"));
    assert!(assert_error(get(&s, "/cache/user:1"), 404).contains("not found"));
}

#[test]
fn keys_may_hold_slashes_and_escapes() {
    let s = TestServer::start(ServerConfig::default());
    assert_eq!(put(&s, "a/b/c", &json!({"value": 1})).0, 201);
    assert_eq!(put(&s, "with%20space", &json!({"value": 2})).0, 201);
    assert_eq!(get(&s, "/cache/a%2Fb%2Fc").1["value"], json!(1));
    assert_eq!(get(&s, "/cache/with%20space").1["key"], json!("with space"));
    assert_eq!(
        get(&s, "/keys").1,
        json!({"count": 2, "keys": ["a/b/c", "with space"]})
    );
}

#[test]
fn ttl_is_reported_and_expiry_is_visible() {
    let s = TestServer::start(ServerConfig::default());
    let started = Instant::now();
    let (status, body) = put(&s, "flash", &json!({"value": "x", "ttl": 0.05}));
    assert_eq!(status, 201);
    assert!(body["ttl"].as_f64().unwrap() <= 0.05);
    let (status, body) = get(&s, "/cache/flash");
    assert_eq!(status, 200);
    let ttl = body["ttl"].as_f64().expect("ttl is a number");
    assert!(ttl > 0.0 && ttl <= 0.05, "{ttl}");
    thread::sleep(Duration::from_millis(80));
    assert_error(get(&s, "/cache/flash"), 404);
    assert_eq!(get(&s, "/keys").1["count"], json!(0));
    assert!(started.elapsed() < Duration::from_millis(1_000));
}

#[test]
fn ttl_takes_unit_suffixes_as_the_cli_does() {
    let s = TestServer::start(ServerConfig::default());
    let cases: [(Value, f64); 8] = [
        (json!("500ms"), 0.5),
        (json!("30s"), 30.0),
        (json!("5m"), 300.0),
        (json!("2h"), 7_200.0),
        (json!("1d"), 86_400.0),
        (json!("90"), 90.0),
        (json!(90), 90.0),
        (json!(0.25), 0.25),
    ];
    for (i, (ttl, secs)) in cases.into_iter().enumerate() {
        let key = format!("k{i}");
        let (status, body) = put(&s, &key, &json!({"value": i, "ttl": ttl}));
        assert_eq!(status, 201, "{ttl}: {body}");
        // The time left, read back just after the insert: at most the TTL,
        // and (with a margin for a slow machine) not a smaller unit's.
        let left = body["ttl"]
            .as_f64()
            .unwrap_or_else(|| panic!("{ttl}: {body}"));
        let floor = if secs < 1.0 { 0.0 } else { secs - 5.0 };
        assert!(left <= secs && left > floor, "{ttl}: {left}");
    }
    // `null` is no TTL, as in the answers.
    assert_eq!(put(&s, "forever", &json!({"value": 1, "ttl": null})).0, 201);
    assert_eq!(get(&s, "/cache/forever").1["ttl"], Value::Null);
}

#[test]
fn bad_ttl_is_a_400_that_says_what_is_wrong() {
    let s = TestServer::start(ServerConfig::default());
    let cases = [
        (json!("5x"), "unknown unit `x`"),
        (json!("soon"), "unknown unit `soon`"),
        (json!("-1s"), "positive"),
        (json!("0ms"), "positive"),
        (json!(""), "expected a number"),
        (json!(-5), "positive"),
        (json!(0), "positive"),
        (json!(true), "a string with a unit"),
        (json!([1]), "a string with a unit"),
        (json!({"secs": 1}), "a string with a unit"),
    ];
    for (ttl, says) in cases {
        let msg = assert_error(put(&s, "k", &json!({"value": 1, "ttl": ttl})), 400);
        assert!(msg.starts_with("ttl"), "{ttl}: {msg}");
        assert!(msg.contains(says), "{ttl}: {msg}");
    }
    assert_eq!(get(&s, "/keys").1["count"], json!(0));
}

#[test]
fn default_ttl_applies_to_entries_without_one() {
    let s = TestServer::start(ServerConfig {
        default_ttl: Some(Duration::from_secs(60)),
        ..ServerConfig::default()
    });
    put(&s, "k", &json!({"value": 1}));
    let ttl = get(&s, "/cache/k").1["ttl"].as_f64().unwrap();
    assert!(ttl > 59.0 && ttl <= 60.0, "{ttl}");
}

#[test]
fn keys_listing_and_patterns() {
    let s = TestServer::start(ServerConfig::default());
    for k in ["user:2", "user:1", "post:1", "user:10"] {
        put(&s, k, &json!({"value": k}));
    }
    assert_eq!(
        get(&s, "/keys").1,
        json!({"count": 4, "keys": ["post:1", "user:1", "user:10", "user:2"]})
    );
    assert_eq!(
        get(&s, "/keys?pattern=user:*").1["keys"],
        json!(["user:1", "user:10", "user:2"])
    );
    assert_eq!(
        get(&s, "/keys?pattern=user:%3F").1["keys"],
        json!(["user:1", "user:2"])
    );
    assert_eq!(get(&s, "/keys?pattern=nomatch").1["count"], json!(0));
    let long = "*".repeat(5_000);
    assert!(assert_error(get(&s, &format!("/keys?pattern={long}")), 400).contains("glob"));
}

#[test]
fn hostile_glob_answers_quickly() {
    let s = TestServer::start(ServerConfig::default());
    let key = "a".repeat(1_000);
    put(&s, &key, &json!({"value": 1}));
    // Exponential for a backtracking matcher; linear here.
    let pattern = "a*".repeat(2_000) + "b";
    let started = Instant::now();
    assert_eq!(
        post(&s, "/invalidate", &json!({"pattern": pattern})).1,
        json!({"removed": 0})
    );
    assert_eq!(
        get(&s, &format!("/keys?pattern={pattern}")).1["count"],
        json!(0)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn invalidate_by_pattern_and_by_tags() {
    let s = TestServer::start(ServerConfig::default());
    put(
        &s,
        "user:1:profile",
        &json!({"value": 1, "tags": ["user:1"]}),
    );
    put(
        &s,
        "user:1:orders",
        &json!({"value": 2, "tags": ["user:1", "orders"]}),
    );
    put(
        &s,
        "user:2:orders",
        &json!({"value": 3, "tags": ["user:2", "orders"]}),
    );
    put(&s, "post:1", &json!({"value": 4}));

    assert_eq!(
        post(&s, "/invalidate", &json!({"tags": ["user:1"]})),
        (200, json!({"removed": 2}))
    );
    assert_eq!(
        post(&s, "/invalidate", &json!({"pattern": "user:*"})),
        (200, json!({"removed": 1}))
    );
    assert_eq!(
        post(&s, "/invalidate", &json!({"tags": ["nobody"]})),
        (200, json!({"removed": 0}))
    );
    assert_eq!(get(&s, "/keys").1["keys"], json!(["post:1"]));

    assert_error(post(&s, "/invalidate", &json!({})), 422);
    assert_error(
        post(&s, "/invalidate", &json!({"pattern": "*", "tags": ["a"]})),
        422,
    );
    assert_error(post(&s, "/invalidate", &json!({"pattern": 5})), 422);
    assert_error(
        post(&s, "/invalidate", &json!({"pattern": "x".repeat(5_000)})),
        400,
    );
    assert_eq!(get(&s, "/keys").1["count"], json!(1));
}

#[test]
fn flush_removes_everything() {
    let s = TestServer::start(ServerConfig::default());
    for i in 0..5 {
        put(&s, &format!("k{i}"), &json!({"value": i}));
    }
    let (status, body) = parts(agent().post(s.url("/flush")).send_empty().unwrap());
    assert_eq!((status, body), (200, json!({"removed": 5})));
    assert_eq!(get(&s, "/keys").1["count"], json!(0));
}

#[test]
fn stats_include_the_cache_and_memoized_functions() {
    let memo: cachelite::Cache<u64, u64> = cachelite::Cache::new(10);
    memo.get_or_insert_with(1, || 1);
    memo.get_or_insert_with(1, || 1);
    cachelite::register("server_test::memoized", memo);

    let s = TestServer::start(ServerConfig {
        max_items: Some(100),
        ..ServerConfig::default()
    });
    put(&s, "a", &json!({"value": "hello"}));
    get(&s, "/cache/a");
    get(&s, "/cache/missing");
    let (status, body) = get(&s, "/stats");
    assert_eq!(status, 200);
    let c = &body["cache"];
    assert_eq!(
        (&c["hits"], &c["misses"], &c["len"], &c["inserts"]),
        (&json!(1), &json!(1), &json!(1), &json!(1))
    );
    assert_eq!(c["hit_rate"], json!(0.5));
    assert_eq!(c["max_items"], json!(100));
    assert_eq!(c["policy"], json!("lru"));
    // The key plus the value's decoded size, which exceeds its JSON size.
    assert_eq!(
        c["bytes"],
        json!(cachelite_cli::memory_weight("a", &json!("hello")))
    );
    assert!(c["bytes"].as_u64().unwrap() > ("a".len() + "\"hello\"".len()) as u64);
    assert_eq!(c["max_bytes"], json!(64 << 20));
    assert_eq!(body["server"]["connections_rejected"], json!(0));
    assert!(body["server"]["requests"].as_u64().unwrap() >= 3);
    let m = &body["memoized"]["server_test::memoized"];
    assert_eq!((&m["hits"], &m["misses"]), (&json!(1), &json!(1)));
}

#[test]
fn metrics_are_prometheus_text() {
    let memo: cachelite::Cache<u64, u64> = cachelite::Cache::new(10);
    memo.get_or_insert_with(1, || 1);
    cachelite::register("server_test::metrics\"fn", memo);

    let s = TestServer::start(ServerConfig::default());
    put(&s, "a", &json!({"value": 1}));
    get(&s, "/cache/a");
    get(&s, "/cache/a");
    get(&s, "/cache/b");
    let mut resp = agent().get(s.url("/metrics")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = resp.body_mut().read_to_string().unwrap();
    for family in [
        "cachelite_hits_total",
        "cachelite_misses_total",
        "cachelite_inserts_total",
        "cachelite_evictions_total",
        "cachelite_expirations_total",
        "cachelite_invalidations_total",
    ] {
        assert!(text.contains(&format!("# HELP {family} ")), "{family}");
        assert!(
            text.contains(&format!("# TYPE {family} counter\n")),
            "{family}"
        );
    }
    assert!(text.contains("# TYPE cachelite_entries gauge\n"));
    assert!(text.contains("# TYPE cachelite_bytes gauge\n"));
    assert!(
        text.contains("cachelite_hits_total{cache=\"server\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("cachelite_misses_total{cache=\"server\"} 1\n"));
    assert!(text.contains("cachelite_entries{cache=\"server\"} 1\n"));
    assert!(text.contains("cachelite_misses_total{cache=\"server_test::metrics\\\"fn\"} 1\n"));
    // Every sample line is `name{labels} value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').unwrap();
        value.parse::<f64>().unwrap();
    }
}

#[test]
fn bad_bodies_are_json_errors() {
    let s = TestServer::start(ServerConfig::default());
    let json_ct = Some("application/json");
    // Malformed JSON.
    assert_error(put_raw(&s, "k", json_ct, r#"{"value": 1"#), 400);
    assert_error(put_raw(&s, "k", json_ct, ""), 400);
    // Wrong types and shapes.
    assert_error(put_raw(&s, "k", json_ct, r#"[1, 2]"#), 422);
    assert_error(put_raw(&s, "k", json_ct, r#"{"ttl": 5}"#), 422);
    assert_error(
        put_raw(&s, "k", json_ct, r#"{"value": 1, "tags": "a"}"#),
        422,
    );
    assert_error(
        put_raw(&s, "k", json_ct, r#"{"value": 1, "tags": [1]}"#),
        422,
    );
    let typo = assert_error(put_raw(&s, "k", json_ct, r#"{"value": 1, "tll": 5}"#), 422);
    assert!(typo.contains("tll"), "{typo}");
    // TTLs that are not a positive number of seconds.
    for ttl in ["-1", "0", "-0.5", "1e300"] {
        let body = format!(r#"{{"value": 1, "ttl": {ttl}}}"#);
        let msg = assert_error(put_raw(&s, "k", json_ct, &body), 400);
        assert!(msg.contains("ttl"), "{ttl}: {msg}");
    }
    // Not JSON at all.
    assert_error(put_raw(&s, "k", None, r#"{"value": 1}"#), 415);
    assert_error(put_raw(&s, "k", Some("text/plain"), r#"{"value": 1}"#), 415);
    // Nothing was stored by any of it.
    assert_eq!(get(&s, "/keys").1["count"], json!(0));
}

#[test]
fn oversized_body_is_413_json() {
    let s = TestServer::start(ServerConfig {
        max_body: 4 * 1024,
        ..ServerConfig::default()
    });
    let big = json!({"value": "x".repeat(8 * 1024)}).to_string();
    let msg = assert_error(put_raw(&s, "k", Some("application/json"), &big), 413);
    assert!(msg.contains("max-body"), "{msg}");
    let small = json!({"value": "x".repeat(1024)}).to_string();
    assert_eq!(put_raw(&s, "k", Some("application/json"), &small).0, 201);
}

#[test]
fn oversized_default_body_is_413_json() {
    let s = TestServer::start(ServerConfig::default());
    let big = json!({"value": "x".repeat(1 << 20)}).to_string();
    assert_error(put_raw(&s, "k", Some("application/json"), &big), 413);
}

#[test]
fn entry_larger_than_the_byte_budget_is_refused() {
    let s = TestServer::start(ServerConfig {
        max_bytes: Some(1_000),
        ..ServerConfig::default()
    });
    assert_error(put(&s, "big", &json!({"value": "x".repeat(2_000)})), 413);
    assert_eq!(put(&s, "small", &json!({"value": "x"})).0, 201);
}

#[test]
fn bounds_evict() {
    let s = TestServer::start(ServerConfig {
        max_items: Some(2),
        policy: cachelite::Policy::Fifo,
        ..ServerConfig::default()
    });
    for k in ["a", "b", "c"] {
        put(&s, k, &json!({"value": k}));
    }
    assert_eq!(get(&s, "/keys").1["keys"], json!(["b", "c"]));
    assert_eq!(get(&s, "/stats").1["cache"]["evictions"], json!(1));
}

#[test]
fn long_keys_are_refused() {
    let s = TestServer::start(ServerConfig {
        max_key_len: 16,
        ..ServerConfig::default()
    });
    let long = "k".repeat(17);
    assert!(assert_error(put(&s, &long, &json!({"value": 1})), 414).contains("max-key-len"));
    assert_error(get(&s, &format!("/cache/{long}")), 414);
    assert_error(delete(&s, &long), 414);
    assert_eq!(put(&s, &"k".repeat(16), &json!({"value": 1})).0, 201);
}

#[test]
fn unknown_routes_and_methods_are_json_errors() {
    let s = TestServer::start(ServerConfig::default());
    assert_error(get(&s, "/nope"), 404);
    assert_error(get(&s, "/cache/"), 404);
    assert_error(
        parts(agent().post(s.url("/health")).send_empty().unwrap()),
        405,
    );
    assert_error(parts(agent().get(s.url("/flush")).call().unwrap()), 405);
    // Invalid UTF-8 in a percent-encoded key.
    assert_error(get(&s, "/cache/%FF"), 400);
}

#[test]
fn writes_need_the_token() {
    let s = TestServer::start(ServerConfig {
        token: Some("s3cret".into()),
        ..ServerConfig::default()
    });
    let body = json!({"value": 1});
    let unauthorized = [
        None,
        Some("Bearer wrong"),
        Some("Bearer s3cre"),
        Some("Bearer s3crett"),
        Some("Basic s3cret"),
        Some("s3cret"),
    ];
    for auth in unauthorized {
        let mut req = agent().put(s.url("/cache/k"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send_json(&body).unwrap();
        assert_eq!(
            resp.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer")
        );
        assert_error(parts(resp), 401);
    }
    let authorized = |req: ureq::RequestBuilder<ureq::typestate::WithBody>| {
        req.header("authorization", "Bearer s3cret")
    };
    let resp = authorized(agent().put(s.url("/cache/k")))
        .send_json(&body)
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    // Reads stay open.
    assert_eq!(get(&s, "/cache/k").0, 200);
    assert_eq!(get(&s, "/keys").0, 200);
    assert_eq!(get(&s, "/stats").0, 200);
    // Every other write is guarded.
    assert_error(delete(&s, "k"), 401);
    assert_error(post(&s, "/invalidate", &json!({"pattern": "*"})), 401);
    assert_error(
        parts(agent().post(s.url("/flush")).send_empty().unwrap()),
        401,
    );
    assert_eq!(get(&s, "/cache/k").0, 200);
    let resp = agent()
        .delete(s.url("/cache/k"))
        .header("authorization", "Bearer s3cret")
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let resp = authorized(agent().post(s.url("/flush")))
        .send_empty()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Saving on demand writes a file: guarded too (the 409 says the token
    // was accepted and there is no snapshot file to save).
    assert_error(
        parts(agent().post(s.url("/snapshot")).send_empty().unwrap()),
        401,
    );
    let resp = authorized(agent().post(s.url("/snapshot")))
        .send_empty()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 409);
}

#[test]
fn concurrent_writers_lose_nothing() {
    let s = TestServer::start(ServerConfig::default());
    let url = s.url("");
    thread::scope(|scope| {
        for t in 0..8 {
            let url = url.clone();
            scope.spawn(move || {
                let agent = agent();
                for i in 0..50 {
                    let resp = agent
                        .put(format!("{url}/cache/t{t}:k{i}"))
                        .send_json(json!({"value": [t, i]}))
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 201);
                }
            });
        }
    });
    assert_eq!(get(&s, "/keys").1["count"], json!(400));
    for t in 0..8 {
        for i in (0..50).step_by(7) {
            assert_eq!(
                get(&s, &format!("/cache/t{t}:k{i}")).1["value"],
                json!([t, i])
            );
        }
    }
}

#[test]
fn snapshot_is_saved_on_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("snap.json");
    let s = TestServer::start(ServerConfig {
        snapshot: Some(path.clone()),
        ..ServerConfig::default()
    });
    put(
        &s,
        "kept",
        &json!({"value": {"n": 1}, "ttl": 600, "tags": ["t"]}),
    );
    put(&s, "plain", &json!({"value": "v"}));
    assert!(!path.exists(), "no interval: nothing saved before shutdown");
    s.stop().expect("clean shutdown");

    let fresh: JsonCache = cachelite::Cache::builder().build();
    assert_eq!(fresh.restore(&path).unwrap(), 2);
    assert_eq!(fresh.get("kept"), Some(json!({"n": 1})));
    let ttl = fresh.ttl("kept").unwrap();
    assert!(ttl > Duration::from_secs(590) && ttl <= Duration::from_secs(600));
    assert_eq!(fresh.invalidate_tags(&["t"]), 1);
}

#[test]
fn a_stalled_request_does_not_block_shutdown() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.json");
    let s = TestServer::start(ServerConfig {
        snapshot: Some(path.clone()),
        shutdown_grace: Duration::from_millis(100),
        ..ServerConfig::default()
    });
    put(&s, "k", &json!({"value": 1}));
    // Half a request: headers promise a body that never comes.
    let mut stalled = std::net::TcpStream::connect(s.addr).unwrap();
    stalled
        .write_all(b"PUT /cache/x HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"val")
        .unwrap();
    thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    s.stop().expect("clean shutdown");
    assert!(started.elapsed() < Duration::from_secs(5));
    let fresh: JsonCache = cachelite::Cache::builder().build();
    assert_eq!(fresh.restore(&path).unwrap(), 1);
    drop(stalled);
}

#[test]
fn snapshot_is_restored_at_start_and_saved_periodically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.json");
    let seed: JsonCache = cachelite::Cache::builder().build();
    seed.insert("seeded".into(), json!(42));
    seed.snapshot(&path).unwrap();

    let s = TestServer::start(ServerConfig {
        snapshot: Some(path.clone()),
        snapshot_interval: Some(Duration::from_millis(50)),
        ..ServerConfig::default()
    });
    assert_eq!(get(&s, "/cache/seeded").1["value"], json!(42));
    put(&s, "later", &json!({"value": true}));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let probe: JsonCache = cachelite::Cache::builder().build();
        if probe.restore(&path).is_ok() && probe.contains_key("later") {
            break;
        }
        assert!(Instant::now() < deadline, "periodic save never happened");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the `cachelite` binary on the store `path`; returns its stdout as
/// JSON.
fn cli_json(path: &std::path::Path, args: &[&str]) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cachelite"))
        .arg("--store")
        .arg(path)
        .arg("--json")
        .args(args)
        .output()
        .expect("run cachelite");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{args:?}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

fn save_now(s: &TestServer) -> (u16, Value) {
    parts(agent().post(s.url("/snapshot")).send_empty().expect("POST"))
}

#[test]
fn post_snapshot_saves_now_and_the_cli_reads_it_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.json");
    let s = TestServer::start(ServerConfig {
        snapshot: Some(path.clone()),
        snapshot_interval: None,
        ..ServerConfig::default()
    });
    put(&s, "a", &json!({"value": 1, "ttl": "1h"}));
    put(&s, "b", &json!({"value": {"n": 2}, "tags": ["t"]}));
    assert!(!path.exists(), "no interval: nothing saved yet");

    let path_text = path.display().to_string();
    assert_eq!(
        save_now(&s),
        (200, json!({"path": path_text, "entries": 2}))
    );
    assert_eq!(
        cli_json(&path, &["keys"]),
        json!({"count": 2, "keys": ["a", "b"]})
    );
    let ttl = cli_json(&path, &["ttl", "a"])["ttl"].as_f64().unwrap();
    assert!(ttl > 3_500.0 && ttl <= 3_600.0, "{ttl}");

    // Later writes reach the file at the next save, not before.
    put(&s, "c", &json!({"value": 3}));
    assert_eq!(cli_json(&path, &["keys"])["count"], json!(2));
    assert_eq!(save_now(&s).1["entries"], json!(3));
    assert_eq!(
        cli_json(&path, &["keys"]),
        json!({"count": 3, "keys": ["a", "b", "c"]})
    );
    s.stop().expect("clean shutdown");
}

#[test]
fn post_snapshot_without_a_snapshot_file_is_409() {
    let s = TestServer::start(ServerConfig::default());
    let msg = assert_error(save_now(&s), 409);
    assert!(msg.contains("--snapshot"), "{msg}");
}

#[test]
fn failed_post_snapshot_is_a_500_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    // The snapshot's directory cannot be created: a file stands in its way.
    std::fs::write(dir.path().join("blocker"), "").unwrap();
    let path = dir.path().join("blocker").join("snap.json");
    let s = TestServer::start(ServerConfig {
        snapshot: Some(path.clone()),
        ..ServerConfig::default()
    });
    put(&s, "k", &json!({"value": 1}));
    let msg = assert_error(save_now(&s), 500);
    assert!(
        msg.contains("cannot save snapshot") && msg.contains("snap.json"),
        "{msg}"
    );
    // The server keeps serving.
    assert_eq!(get(&s, "/cache/k").1["value"], json!(1));
    assert!(matches!(s.stop(), Err(ServeError::Save(..))));
}

/// The built binary, stopped by SIGTERM with only idle connections open:
/// it must exit cleanly and save its snapshot well inside its 10-second
/// grace period for requests in flight, which must not be spent waiting on
/// connections that carry no request.
#[cfg(unix)]
#[test]
fn sigterm_stops_the_binary_and_saves_its_snapshot() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachelite"))
        .args(["serve", "--port", "0", "--token", "t"])
        .args(["--active-expiry", "1s", "--snapshot-interval", "1h"])
        .arg("--snapshot")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cachelite serve");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();

    let resp = agent()
        .put(format!("http://{addr}/cache/kept"))
        .header("authorization", "Bearer t")
        .send_json(json!({"value": "v", "tags": ["t"]}))
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    // Idle connections, as clients with a pool leave them: one that has
    // been answered and stays open, one that has sent nothing yet.
    let mut answered = TcpStream::connect(&addr).unwrap();
    answered
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 256];
    let n = answered.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let silent = TcpStream::connect(&addr).unwrap();

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cachelite serve was still running 5 s after SIGTERM");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("saved snapshot"), "{stderr}");
    let fresh: JsonCache = cachelite::Cache::builder().build();
    assert_eq!(fresh.restore(&path).unwrap(), 1);
    assert_eq!(fresh.get("kept"), Some(json!("v")));
    drop((answered, silent));
}

#[test]
fn corrupt_snapshot_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.json");
    std::fs::write(&path, "not a snapshot").unwrap();
    let err = serve_error(ServerConfig {
        snapshot: Some(path),
        ..ServerConfig::default()
    });
    assert!(matches!(err, ServeError::Restore(..)), "{err}");
    assert!(err.to_string().contains("snap.json"), "{err}");
}

#[test]
fn snapshot_needs_a_known_extension() {
    let err = serve_error(ServerConfig {
        snapshot: Some("snap.txt".into()),
        ..ServerConfig::default()
    });
    assert!(matches!(err, ServeError::SnapshotPath(_)), "{err}");
    assert!(!std::path::Path::new("snap.txt").exists());
}

#[test]
fn invalid_configuration_is_an_error() {
    let err = serve_error(ServerConfig {
        max_items: Some(0),
        ..ServerConfig::default()
    });
    assert!(matches!(err, ServeError::Config(_)), "{err}");
}

#[test]
fn a_limit_out_of_range_is_an_error() {
    for config in [
        ServerConfig {
            max_connections: 0,
            ..ServerConfig::default()
        },
        ServerConfig {
            max_connections: usize::MAX,
            ..ServerConfig::default()
        },
        ServerConfig {
            max_header_bytes: 0,
            ..ServerConfig::default()
        },
    ] {
        let err = serve_error(config);
        assert!(matches!(err, ServeError::Limit(_)), "{err}");
        assert!(
            err.to_string().starts_with("invalid server limit: "),
            "{err}"
        );
    }
}
