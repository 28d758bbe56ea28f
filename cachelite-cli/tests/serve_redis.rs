//! Two `cachelite serve --redis` processes on one Redis server, started
//! here on a free loopback port: what one server writes or invalidates,
//! the other reads at once, its local copies included; with Redis killed
//! both keep answering, and once it is back they share again.
//!
//! Without `redis-server` on the PATH the Redis tests skip with a message,
//! unless `CACHELITE_REQUIRE_REDIS=1`, which turns the skip into a failure.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ureq::Agent;

fn require() -> bool {
    std::env::var("CACHELITE_REQUIRE_REDIS").is_ok_and(|v| v == "1")
}

fn have_redis_server() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A redis-server this test started on a free port; killed on drop.
struct Redis {
    child: Option<Child>,
    port: u16,
}

impl Redis {
    fn start() -> Option<Redis> {
        if !have_redis_server() {
            assert!(
                !require(),
                "redis-server is not installed, and CACHELITE_REQUIRE_REDIS=1"
            );
            eprintln!(
                "skipping: redis-server is not installed (set CACHELITE_REQUIRE_REDIS=1 to fail instead)"
            );
            return None;
        }
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut r = Redis { child: None, port };
            if r.launch() {
                return Some(r);
            }
        }
        panic!("could not start redis-server on a free port");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn launch(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.answers() {
                return true;
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return false; // the port was taken
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Kills only the process started here.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty.
    fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.launch() {
            assert!(Instant::now() < deadline, "redis-server did not restart");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `cachelite serve` process; killed on drop.
struct Server {
    child: Child,
    addr: String,
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cachelite"));
    // Only the flags of each test configure the servers.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CACHELITE_") {
            c.env_remove(k);
        }
    }
    c
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = bin()
            .args(["serve", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cachelite serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Server { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        let url = self.url(path);
        let resp = match (method, body) {
            ("GET", _) => agent.get(&url).call(),
            ("DELETE", _) => agent.delete(&url).call(),
            ("PUT", Some(b)) => agent.put(&url).send_json(b),
            ("POST", Some(b)) => agent.post(&url).send_json(b),
            ("POST", None) => agent.post(&url).send_empty(),
            _ => unreachable!("{method}"),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    fn get(&self, key: &str) -> (u16, Value) {
        self.call("GET", &format!("/cache/{key}"), None)
    }

    fn put(&self, key: &str, body: &Value) -> (u16, Value) {
        self.call("PUT", &format!("/cache/{key}"), Some(body))
    }

    fn tiers(&self) -> Value {
        let (status, stats) = self.call("GET", "/stats", None);
        assert_eq!(status, 200, "{stats}");
        stats["tiers"].clone()
    }

    fn metric(&self, name: &str) -> u64 {
        let (status, text) = self.call("GET", "/metrics", None);
        assert_eq!(status, 200);
        let text = text.as_str().expect("metrics are text");
        let prefix = format!("{name}{{cache=\"server\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
            .parse()
            .unwrap()
    }

    /// Waits until the server's invalidation subscription is live, so that
    /// it keeps local copies.
    fn wait_local_active(&self) {
        poll("the local tier to come up", || {
            self.tiers()["local_active"] == json!(true)
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `ok` every 10 ms for up to 5 s; a message delivery or a reconnect
/// takes milliseconds, so a timeout is a failure.
fn poll(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn namespace() -> String {
    format!("serve-{}-{}", std::process::id(), fastrand::u32(..))
}

/// Two servers sharing `redis` in a fresh namespace.
fn pair(redis: &Redis) -> (Server, Server) {
    let ns = namespace();
    let url = redis.url();
    let args = ["--redis", url.as_str(), "--namespace", ns.as_str()];
    let (a, b) = (Server::start(&args), Server::start(&args));
    a.wait_local_active();
    b.wait_local_active();
    (a, b)
}

/// Reads `key` through `s` until it is held locally: the second read is a
/// local hit.
fn hold_locally(s: &Server, key: &str, value: &Value) {
    let before = s.tiers()["l1_hits"].as_u64().unwrap();
    poll("a local hit", || {
        let (status, body) = s.get(key);
        assert_eq!((status, &body["value"]), (200, value), "{body}");
        s.tiers()["l1_hits"].as_u64().unwrap() > before
    });
}

#[test]
fn what_one_server_writes_the_other_reads() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = pair(&redis);

    let (status, body) = a.put("user:1", &json!({"value": {"name": "Ada"}, "ttl": 60}));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["created"], json!(true));
    let (status, body) = b.get("user:1");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], json!({"name": "Ada"}));
    let ttl = body["ttl"].as_f64().expect("the entry's TTL");
    assert!(ttl > 50.0 && ttl <= 60.0, "{ttl}");

    // A server that holds the value locally sees the other's overwrite.
    hold_locally(&b, "user:1", &json!({"name": "Ada"}));
    let (status, body) = a.put("user:1", &json!({"value": {"name": "Grace"}}));
    assert_eq!(status, 200, "replaced: {body}");
    assert_eq!(body["created"], json!(false));
    poll("the overwrite to reach b", || {
        b.get("user:1").1["value"] == json!({"name": "Grace"})
    });

    // Keys written through b are listed by a.
    b.put("user:2", &json!({"value": 2}));
    b.put("%23hash", &json!({"value": 3}));
    let (status, body) = a.call("GET", "/keys", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["keys"], json!(["#hash", "user:1", "user:2"]));
    let (_, body) = a.call("GET", "/keys?pattern=user:*", None);
    assert_eq!(body["keys"], json!(["user:1", "user:2"]));

    let tiers = b.tiers();
    assert!(tiers["l2_hits"].as_u64().unwrap() >= 1, "{tiers}");
    assert!(tiers["l1_hits"].as_u64().unwrap() >= 1, "{tiers}");
    assert_eq!(tiers["errors"], json!(0), "{tiers}");
    assert!(b.metric("cachelite_tier_l1_hits_total") >= 1);
    assert_eq!(b.metric("cachelite_tier_local_active"), 1);
}

#[test]
fn invalidations_through_one_server_reach_the_others_local_copies() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = pair(&redis);

    // DELETE
    a.put("k", &json!({"value": "v"}));
    hold_locally(&b, "k", &json!("v"));
    assert_eq!(a.call("DELETE", "/cache/k", None).0, 204);
    poll("the delete to reach b", || b.get("k").0 == 404);
    assert_eq!(b.call("DELETE", "/cache/k", None).0, 404);

    // Tags
    a.put("post:1", &json!({"value": 1, "tags": ["user:7"]}));
    a.put("post:2", &json!({"value": 2, "tags": ["user:8"]}));
    hold_locally(&b, "post:1", &json!(1));
    hold_locally(&b, "post:2", &json!(2));
    let (status, body) = a.call("POST", "/invalidate", Some(&json!({"tags": ["user:7"]})));
    assert_eq!((status, &body["removed"]), (200, &json!(1)), "{body}");
    poll("the tag invalidation to reach b", || {
        b.get("post:1").0 == 404
    });
    assert_eq!(b.get("post:2").1["value"], json!(2), "other tags stay");

    // Globs
    a.put("session:1", &json!({"value": "s1"}));
    a.put("session:2", &json!({"value": "s2"}));
    hold_locally(&b, "session:1", &json!("s1"));
    hold_locally(&b, "session:2", &json!("s2"));
    let (status, body) = a.call(
        "POST",
        "/invalidate",
        Some(&json!({"pattern": "session:*"})),
    );
    assert_eq!((status, &body["removed"]), (200, &json!(2)), "{body}");
    poll("the glob invalidation to reach b", || {
        b.get("session:1").0 == 404 && b.get("session:2").0 == 404
    });
    assert_eq!(b.get("post:2").0, 200, "keys outside the glob stay");
    let long = "*".repeat(5_000);
    let (status, body) = a.call("POST", "/invalidate", Some(&json!({"pattern": long})));
    assert_eq!(status, 400, "an over-long glob: {body}");

    // Flush
    hold_locally(&b, "post:2", &json!(2));
    assert_eq!(a.call("POST", "/flush", None).0, 200);
    poll("the flush to reach b", || b.get("post:2").0 == 404);
}

#[test]
fn with_redis_down_the_servers_answer_and_count_errors_then_share_again() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (a, b) = pair(&redis);
    a.put("k", &json!({"value": "before"}));
    hold_locally(&b, "k", &json!("before"));

    redis.stop();
    // The local tier is dropped as soon as the subscription is lost: no
    // server serves a copy it can no longer keep coherent.
    poll("b to notice", || b.tiers()["local_active"] == json!(false));
    for s in [&a, &b] {
        let started = Instant::now();
        let (status, body) = s.get("k");
        assert_eq!(status, 404, "a read fails open as a miss: {body}");
        let (status, body) = s.put("k2", &json!({"value": 1}));
        assert_eq!(status, 503, "{body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains("the shared store is unavailable"),
            "{message}"
        );
        assert_eq!(s.call("DELETE", "/cache/k", None).0, 503);
        let (status, _) = s.call("POST", "/invalidate", Some(&json!({"tags": ["t"]})));
        assert_eq!(status, 503);
        assert_eq!(s.call("GET", "/keys", None).0, 503);
        assert_eq!(s.call("GET", "/health", None).0, 200);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "Redis down must cost no more than its small timeouts: {:?}",
            started.elapsed()
        );
        assert!(s.metric("cachelite_tier_errors_total") > 0);
        assert!(s.tiers()["errors"].as_u64().unwrap() > 0);
    }

    redis.restart();
    a.wait_local_active();
    b.wait_local_active();
    poll("a write through a to be taken", || {
        // 200 if an attempt that timed out had reached Redis after all.
        matches!(a.put("k", &json!({"value": "after"})).0, 200 | 201)
    });
    poll("b to read it", || b.get("k").1["value"] == json!("after"));
    hold_locally(&b, "k", &json!("after"));
    assert_eq!(a.call("DELETE", "/cache/k", None).0, 204);
    poll("the delete to reach b", || b.get("k").0 == 404);
}

#[test]
fn snapshot_with_redis_is_a_usage_error() {
    let out = bin()
        .args(["serve", "--port", "0", "--redis", "redis://127.0.0.1:1/"])
        .args(["--snapshot", "s.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--snapshot cannot be used with --redis"),
        "{err}"
    );
}

#[test]
fn redis_settings_come_from_the_environment_and_typos_are_errors() {
    let out = bin()
        .args(["serve", "--port", "0", "--redis"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CACHELITE_REDIS_URL"), "{err}");

    let out = bin()
        .args(["serve", "--port", "0", "--redis"])
        .env("CACHELITE_REDIS_URL", "redis://127.0.0.1:1/")
        .env("CACHELITE_REDIS_NAMESPAC", "typo")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown variable CACHELITE_REDIS_NAMESPAC"),
        "{err}"
    );

    let out = bin()
        .args(["serve", "--port", "0", "--redis", "redis://127.0.0.1:1/"])
        .env("CACHELITE_REDIS_KEY", "s3cret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CACHELITE_REDIS_KEY"), "{err}");
    assert!(!err.contains("s3cret"), "the key leaked: {err}");
}

#[test]
fn a_server_configured_by_the_environment_shares_with_one_configured_by_flags() {
    let Some(redis) = Redis::start() else { return };
    let ns = namespace();
    let url = redis.url();
    let a = Server::start(&["--redis", url.as_str(), "--namespace", ns.as_str()]);
    // The second takes its URL and namespace from the environment.
    let mut child = bin()
        .args(["serve", "--port", "0", "--redis"])
        .env("CACHELITE_REDIS_URL", &url)
        .env("CACHELITE_REDIS_NAMESPACE", &ns)
        .env("CACHELITE_REDIS_CODEC", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let b = Server {
        addr: line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_owned(),
        child,
    };
    b.put("from-b", &json!({"value": [1, 2]}));
    assert_eq!(a.get("from-b").1["value"], json!([1, 2]));
}

#[test]
fn a_server_whose_redis_never_answers_still_serves() {
    // Nothing listens on port 1: every Redis call is refused at once.
    let s = Server::start(&["--redis", "redis://127.0.0.1:1/", "--namespace", "down"]);
    let started = Instant::now();
    assert_eq!(s.get("k").0, 404, "a miss");
    let (status, body) = s.put("k", &json!({"value": 1}));
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("the value was not stored"),
        "{body}"
    );
    assert_eq!(s.get("k").0, 404, "nothing was kept locally");
    let (status, body) = s.call("POST", "/snapshot", None);
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Redis"), "{body}");
    assert_eq!(s.call("GET", "/health", None).0, 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let tiers = s.tiers();
    assert_eq!(tiers["local_active"], json!(false), "{tiers}");
    assert!(tiers["errors"].as_u64().unwrap() + tiers["skipped"].as_u64().unwrap() > 0);
    assert_eq!(s.metric("cachelite_tier_local_active"), 0);
}

#[test]
fn the_library_refuses_a_snapshot_with_redis() {
    use cachelite_cli::server::{ServeError, ServerConfig, serve};
    use cachelite_cli::shared::RedisConfig;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = ServerConfig {
            snapshot: Some("s.json".into()),
            redis: Some(RedisConfig::new(cachelite_redis::RedisStore::builder(
                "redis://127.0.0.1:1/",
            ))),
            ..ServerConfig::default()
        };
        let run = serve(listener, config, std::future::pending());
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("serve must refuse at once")
            .unwrap_err()
    });
    assert!(matches!(err, ServeError::SnapshotWithRedis), "{err}");
    assert!(
        err.to_string()
            .contains("--snapshot cannot be used with --redis")
    );
}
