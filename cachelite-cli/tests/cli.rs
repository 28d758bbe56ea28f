//! The `cachelite` binary, run on a temporary store.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::{Value, json};

/// A temporary directory with a store path inside it.
struct Store {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Store {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.json");
        Self { _dir: dir, path }
    }

    /// `cachelite --store <path> <args>`.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("cachelite").unwrap();
        c.env_remove("CACHELITE_STORE")
            .env_remove("CACHELITE_TOKEN")
            .arg("--store")
            .arg(&self.path)
            .args(args);
        c
    }

    /// Runs and returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// Runs, expects exit 0, returns stdout.
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: stdout {out:?} stderr {err:?}");
        out
    }

    /// Runs with `--json`, expects exit 0, parses stdout.
    #[track_caller]
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }
}

#[test]
fn set_then_get_prints_plain_values() {
    let s = Store::new();
    assert_eq!(s.ok(&["set", "name", "Ada Lovelace"]), "");
    assert_eq!(s.ok(&["get", "name"]), "Ada Lovelace\n");
    s.ok(&["set", "user:1", r#"{"name": "Ada", "langs": ["en"]}"#]);
    assert_eq!(
        s.ok(&["get", "user:1"]),
        "{\"langs\":[\"en\"],\"name\":\"Ada\"}\n"
    );
    s.ok(&["set", "n", "42"]);
    assert_eq!(s.ok(&["get", "n"]), "42\n");
    s.ok(&["set", "neg", "-5"]);
    assert_eq!(s.ok(&["get", "neg"]), "-5\n");
}

#[test]
fn value_is_json_when_it_parses_and_a_string_otherwise() {
    let s = Store::new();
    s.ok(&["set", "num", "42"]);
    s.ok(&["set", "quoted", r#""42""#]);
    s.ok(&["set", "word", "hello"]);
    s.ok(&["set", "broken", r#"{"a": 1"#]);
    s.ok(&["set", "list", "[1, 2]"]);
    s.ok(&["set", "t", "true"]);
    assert_eq!(s.json(&["get", "num"])["value"], json!(42));
    assert_eq!(s.json(&["get", "quoted"])["value"], json!("42"));
    assert_eq!(s.json(&["get", "word"])["value"], json!("hello"));
    assert_eq!(s.json(&["get", "broken"])["value"], json!(r#"{"a": 1"#));
    assert_eq!(s.json(&["get", "list"])["value"], json!([1, 2]));
    assert_eq!(s.json(&["get", "t"])["value"], json!(true));
    // A JSON string prints as its raw text.
    assert_eq!(s.ok(&["get", "quoted"]), "42\n");
}

#[test]
fn missing_keys_exit_1() {
    let s = Store::new();
    let (code, out, err) = s.run(&["get", "nope"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "cachelite: key not found: nope\n");
    let (code, out, _) = s.run(&["--json", "get", "nope"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, json!({"error": "key not found", "key": "nope"}));
    assert_eq!(s.run(&["del", "nope"]).0, 1);
    assert_eq!(s.run(&["ttl", "nope"]).0, 1);
}

#[test]
fn reading_a_store_that_does_not_exist_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("store.json");
    let mut c = Command::cargo_bin("cachelite").unwrap();
    c.arg("--store").arg(&path).args(["get", "k"]);
    c.assert().code(1);
    let mut c = Command::cargo_bin("cachelite").unwrap();
    c.arg("--store").arg(&path).arg("keys");
    c.assert().success();
    assert!(!dir.path().join("sub").exists());
}

#[test]
fn del_removes() {
    let s = Store::new();
    s.ok(&["set", "k", "v"]);
    assert_eq!(s.ok(&["del", "k"]), "");
    assert_eq!(s.run(&["get", "k"]).0, 1);
    s.ok(&["set", "k", "v"]);
    assert_eq!(s.json(&["del", "k"]), json!({"key": "k", "deleted": true}));
}

#[test]
fn ttl_prints_seconds_left_or_none() {
    let s = Store::new();
    s.ok(&["set", "session", "abc", "--ttl", "100"]);
    s.ok(&["set", "forever", "x"]);
    let left: f64 = s.ok(&["ttl", "session"]).trim().parse().unwrap();
    assert!(left > 90.0 && left <= 100.0, "{left}");
    assert_eq!(s.ok(&["ttl", "forever"]), "none\n");
    assert_eq!(
        s.json(&["ttl", "forever"]),
        json!({"key": "forever", "ttl": null})
    );
    s.ok(&["set", "short", "x", "--ttl", "5m"]);
    let v = s.json(&["ttl", "short"])["ttl"].as_f64().unwrap();
    assert!(v > 290.0 && v <= 300.0, "{v}");
}

#[test]
fn ttl_persists_across_invocations_and_expires() {
    let s = Store::new();
    s.ok(&["set", "flash", "x", "--ttl", "1"]);
    s.ok(&["set", "stays", "y"]);
    let started = Instant::now();
    let left = s.json(&["get", "flash"])["ttl"].as_f64().unwrap();
    assert!(left > 0.0 && left <= 1.0);
    thread::sleep(Duration::from_millis(1_100).saturating_sub(started.elapsed()));
    assert_eq!(s.run(&["get", "flash"]).0, 1);
    assert_eq!(s.ok(&["get", "stays"]), "y\n");
    // A later write leaves the expired entry out of the file.
    s.ok(&["set", "other", "z"]);
    let text = std::fs::read_to_string(&s.path).unwrap();
    assert!(!text.contains("flash"));
}

#[test]
fn keys_are_a_table_and_json() {
    let s = Store::new();
    s.ok(&["set", "user:2", "bob"]);
    s.ok(&["set", "user:1", r#"{"name":"Ada"}"#, "--ttl", "1h"]);
    s.ok(&["set", "post:1", "hello"]);
    let table = s.ok(&["keys"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(lines[0].starts_with("KEY") && lines[0].contains("TTL") && lines[0].contains("VALUE"));
    assert!(lines[1].starts_with("post:1"));
    assert!(
        lines[2].starts_with("user:1") && lines[2].contains("59m"),
        "{table}"
    );
    assert!(lines[3].starts_with("user:2") && lines[3].contains("\"bob\""));
    assert_eq!(lines[4], "(3 keys)");
    assert_eq!(
        s.json(&["keys", "user:*"]),
        json!({"count": 2, "keys": ["user:1", "user:2"]})
    );
    assert_eq!(s.json(&["keys", "nothing*"])["count"], json!(0));
    let long = "*".repeat(5_000);
    let (code, _, err) = s.run(&["keys", &long]);
    assert_eq!(code, 2);
    assert!(err.contains("glob pattern"), "{err}");
}

#[test]
fn keys_table_escapes_control_characters() {
    let s = Store::new();
    s.ok(&["set", "evil\nkey\x1b[31m", "x"]);
    let table = s.ok(&["keys"]);
    assert_eq!(table.lines().count(), 3, "{table:?}");
    assert!(!table.contains('\x1b'));
}

#[test]
fn invalidate_by_pattern_and_by_tag() {
    let s = Store::new();
    s.ok(&["set", "user:1:profile", "a", "--tag", "user:1"]);
    s.ok(&[
        "set",
        "user:1:orders",
        "b",
        "--tag",
        "user:1",
        "--tag",
        "orders",
    ]);
    s.ok(&["set", "user:2:orders", "c", "--tag", "orders"]);
    s.ok(&["set", "post:1", "d"]);
    assert_eq!(s.ok(&["invalidate", "--tag", "user:1"]), "2\n");
    assert_eq!(s.json(&["invalidate", "*:orders"]), json!({"removed": 1}));
    assert_eq!(s.ok(&["invalidate", "nothing*"]), "0\n");
    assert_eq!(s.json(&["keys"])["keys"], json!(["post:1"]));
    // Exactly one of PATTERN and --tag.
    assert_eq!(s.run(&["invalidate"]).0, 2);
    assert_eq!(s.run(&["invalidate", "x*", "--tag", "t"]).0, 2);
}

#[test]
fn stats_table_and_json() {
    let s = Store::new();
    s.ok(&["set", "a", "1"]);
    s.ok(&["set", "b", "hello", "--ttl", "60"]);
    s.ok(&["get", "a"]);
    s.ok(&["get", "a"]);
    s.ok(&["get", "b"]);
    assert_eq!(s.run(&["get", "zzz"]).0, 1);
    s.ok(&["del", "a"]);
    let table = s.ok(&["stats"]);
    assert!(table.starts_with("STAT"), "{table}");
    for row in [
        "entries      1",
        "with ttl     1",
        "hits         3",
        "misses       1",
        "hit rate     75.0%",
        "sets         2",
        "deletes      1",
    ] {
        assert!(table.contains(row), "missing {row:?} in\n{table}");
    }
    let v = s.json(&["stats"]);
    assert_eq!(v["entries"], json!(1));
    assert_eq!(v["hits"], json!(3));
    assert_eq!(v["misses"], json!(1));
    assert_eq!(v["hit_rate"], json!(0.75));
    assert_eq!(v["bytes"], json!("b".len() + "\"hello\"".len()));
    assert!(v["file_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn flush_removes_everything() {
    let s = Store::new();
    for k in ["a", "b", "c"] {
        s.ok(&["set", k, "v"]);
    }
    assert_eq!(s.ok(&["flush"]), "3\n");
    assert_eq!(s.json(&["keys"])["count"], json!(0));
    assert_eq!(s.json(&["flush"]), json!({"removed": 0}));
}

#[test]
fn json_output_of_set_and_get() {
    let s = Store::new();
    assert_eq!(
        s.json(&["set", "k", "[1]", "--ttl", "10"])["created"],
        json!(true)
    );
    assert_eq!(
        s.json(&["set", "k", "[2]"]),
        json!({"key": "k", "created": false, "ttl": null})
    );
    assert_eq!(
        s.json(&["get", "k"]),
        json!({"key": "k", "value": [2], "ttl": null})
    );
}

#[test]
fn corrupt_store_is_a_one_line_error() {
    let s = Store::new();
    std::fs::write(&s.path, "{\"this is\": \"not a snapshot\"}\n\n").unwrap();
    for args in [&["get", "k"][..], &["set", "k", "v"], &["keys"], &["stats"]] {
        let (code, out, err) = s.run(args);
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(out, "");
        assert_eq!(err.lines().count(), 1, "{err:?}");
        assert!(err.starts_with("cachelite: "), "{err}");
        assert!(err.contains("store.json"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // The damaged file is left as it was.
    assert!(
        std::fs::read_to_string(&s.path)
            .unwrap()
            .contains("not a snapshot")
    );
    let (code, out, _) = s.run(&["--json", "get", "k"]);
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["error"].as_str().unwrap().contains("store.json"));
}

#[test]
fn truncated_store_is_a_one_line_error() {
    let s = Store::new();
    s.ok(&["set", "k", "a longer value to cut"]);
    let bytes = std::fs::read(&s.path).unwrap();
    std::fs::write(&s.path, &bytes[..bytes.len() - 5]).unwrap();
    let (code, _, err) = s.run(&["get", "k"]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1);
    assert!(
        err.contains("store.json") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn store_needs_a_known_extension() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::cargo_bin("cachelite").unwrap();
    c.arg("--store")
        .arg(dir.path().join("store.txt"))
        .args(["set", "k", "v"]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".json"));
}

#[test]
fn msgpack_store_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.msgpack");
    let run = |args: &[&str]| {
        let mut c = Command::cargo_bin("cachelite").unwrap();
        c.arg("--store").arg(&path).args(args);
        c.output().unwrap()
    };
    assert!(run(&["set", "k", r#"{"a": [1, 2]}"#]).status.success());
    assert_eq!(run(&["get", "k"]).stdout, b"{\"a\":[1,2]}\n");
}

#[test]
fn store_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.json");
    let mut c = Command::cargo_bin("cachelite").unwrap();
    c.env("CACHELITE_STORE", &path).args(["set", "k", "v"]);
    c.assert().success();
    assert!(path.exists());
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let s = Store::new();
    for args in [
        &[][..],
        &["frobnicate"],
        &["get"],
        &["set", "k"],
        &["set", "k", "v", "--ttl", "-1"],
        &["set", "k", "v", "--ttl", "0"],
        &["set", "k", "v", "--ttl", "soon"],
        &["set", "k", "v", "--ttl", "NaN"],
        &["serve", "--policy", "arc"],
        &["serve", "--port", "70000"],
        &["serve", "--max-items", "0"],
    ] {
        let (code, _, err) = s.run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (_, _, err) = s.run(&["serve", "--policy", "arc"]);
    assert!(err.contains(&cachelite::Policy::valid_names()), "{err}");
    let (code, out, _) = s.run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage"));
    let (code, out, _) = s.run(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("cachelite "));
    assert_eq!(s.run(&["set", "--help"]).0, 0);
}

#[test]
fn concurrent_writers_lose_nothing() {
    let s = Store::new();
    let bin = env!("CARGO_BIN_EXE_cachelite");
    let children: Vec<_> = (0..16)
        .map(|i| {
            StdCommand::new(bin)
                .arg("--store")
                .arg(&s.path)
                .args(["set", &format!("key{i}"), &format!("{i}")])
                .env_remove("CACHELITE_STORE")
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let keys = s.json(&["keys"]);
    assert_eq!(keys["count"], json!(16), "{keys}");
    for i in 0..16 {
        assert_eq!(s.ok(&["get", &format!("key{i}")]), format!("{i}\n"));
    }
    assert_eq!(s.json(&["stats"])["sets"], json!(16));
}

#[test]
fn demo_runs_quickly_and_compares_the_policies() {
    let started = Instant::now();
    let mut c = Command::cargo_bin("cachelite").unwrap();
    let out = c
        .arg("demo")
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for policy in cachelite::Policy::ALL.iter().map(|p| p.name()) {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{policy} ")))
            .unwrap_or_else(|| panic!("no line for {policy} in\n{text}"));
        assert!(line.contains('%'), "{line}");
    }
    assert!(text.contains("computed 1 time"), "{text}");
    assert!(text.contains("gone"), "{text}");

    let mut c = Command::cargo_bin("cachelite").unwrap();
    let out = c.args(["demo", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rates = v["policies"]["hit_rates"].as_object().unwrap();
    assert_eq!(rates.len(), cachelite::Policy::ALL.len());
    assert!(
        rates
            .values()
            .all(|r| (0.0..=1.0).contains(&r.as_f64().unwrap()))
    );
    assert_eq!(v["ttl"]["present_after"], json!(false));
}

/// A `cachelite serve --port 0` child; killed on drop if still running.
struct ServeProcess(std::process::Child);

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_serve(args: &[&str], token: Option<&str>) -> (ServeProcess, String) {
    let mut cmd = StdCommand::new(env!("CARGO_BIN_EXE_cachelite"));
    cmd.args(["serve", "--port", "0"])
        .args(args)
        .env_remove("CACHELITE_STORE")
        .env_remove("CACHELITE_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = token {
        cmd.env("CACHELITE_TOKEN", t);
    }
    let mut child = ServeProcess(cmd.spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_ne!(addr, "127.0.0.1:0");
    (child, format!("http://{addr}"))
}

fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent()
}

#[test]
fn serve_on_port_0_prints_its_address() {
    let (_child, base) = spawn_serve(&[], None);
    let mut resp = http_agent().get(format!("{base}/health")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(body, json!({"status": "ok"}));
}

#[cfg(unix)]
#[test]
fn serve_saves_its_snapshot_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap.json");
    let (mut child, base) = spawn_serve(&["--snapshot", snap.to_str().unwrap()], Some("t0ken"));
    let agent = http_agent();
    let resp = agent
        .put(format!("{base}/cache/greeting"))
        .header("authorization", "Bearer t0ken")
        .send_json(json!({"value": "hello", "ttl": 600}))
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let resp = agent
        .put(format!("{base}/cache/other"))
        .send_json(json!({"value": 1}))
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    let pid = child.0.id().to_string();
    assert!(
        StdCommand::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_timeout(&mut child.0, Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(0));

    let mut c = Command::cargo_bin("cachelite").unwrap();
    c.arg("--store").arg(&snap).args(["get", "greeting"]);
    c.assert().success().stdout("hello\n");
    assert_eq!(ttl_of(&snap, "greeting").map(|t| t > 590.0), Some(true));
}

#[cfg(unix)]
fn ttl_of(store: &Path, key: &str) -> Option<f64> {
    let mut c = Command::cargo_bin("cachelite").unwrap();
    let out = c
        .arg("--store")
        .arg(store)
        .args(["ttl", key])
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

#[cfg(unix)]
fn wait_timeout(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn usage_errors_under_json_are_json_on_stdout() {
    let s = Store::new();
    for args in [
        &["--json", "get"][..],
        &["--json", "set", "k", "v", "--ttl", "abc"][..],
        &["--json", "frobnicate"][..],
    ] {
        let (code, out, _) = s.run(args);
        assert_eq!(code, 2, "{args:?}");
        let v: Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        let msg = v["error"].as_str().unwrap();
        assert!(
            !msg.is_empty() && !msg.starts_with("error:"),
            "{args:?}: {msg}"
        );
    }
}

/// Counters read from a `.stats` file may hold anything: at their maximum,
/// every command still works and the counts stay at the maximum instead of
/// overflowing.
#[test]
fn counters_at_their_maximum_do_not_overflow() {
    let s = Store::new();
    s.ok(&["set", "k", "v", "--tag", "t"]);
    let stats = {
        let mut p = s.path.clone().into_os_string();
        p.push(".stats");
        PathBuf::from(p)
    };
    let max = u64::MAX;
    std::fs::write(
        &stats,
        json!({"hits": max, "misses": max, "sets": max, "deletes": max, "invalidations": max})
            .to_string(),
    )
    .unwrap();
    s.ok(&["set", "k2", "v"]);
    s.ok(&["get", "k"]);
    assert_eq!(s.run(&["get", "missing"]).0, 1);
    s.ok(&["del", "k2"]);
    s.ok(&["invalidate", "--tag", "t"]);
    s.ok(&["flush"]);
    let doc = s.json(&["stats"]);
    assert_eq!(doc["sets"], json!(max), "{doc}");
    assert_eq!(doc["hits"], json!(max), "{doc}");
    assert_eq!(doc["hit_rate"], json!(0.5), "{doc}");
}
