//! Crash safety of the files the binary writes: a server killed (SIGKILL)
//! while it saves snapshots in a loop, CLI writers killed mid-write, and a
//! save that runs out of space. Each time, the file on disk is the previous
//! complete version or the new one, and restores cleanly.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use cachelite_cli::JsonCache;
use serde_json::{Value, json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cachelite"))
}

/// A store or snapshot file of `n` entries with values of `size` bytes,
/// large enough that writing it takes a while.
fn write_big(path: &Path, n: usize, size: usize) {
    let cache: JsonCache = cachelite::Cache::builder().build();
    for i in 0..n {
        cache.insert(format!("bulk:{i}"), json!("v".repeat(size)));
    }
    cache.snapshot(path).unwrap();
}

/// Restores `path` into a fresh cache: the entry count and the value of
/// `gen`, if any.
fn restore(path: &Path) -> (usize, Option<Value>) {
    let cache: JsonCache = cachelite::Cache::builder().build();
    let n = cache
        .restore(path)
        .unwrap_or_else(|e| panic!("{} does not restore: {e}", path.display()));
    (n, cache.peek("gen"))
}

fn gen_of(v: Option<Value>) -> i64 {
    v.and_then(|v| v.as_i64()).unwrap_or(-1)
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// Kills `child` with SIGKILL: at a random moment of its first 50 ms, or,
/// when `targeted`, as soon as its temporary file appears, that is in the
/// middle of writing a save (or a moment later, if the write is quick).
fn kill_mid_write(
    child: &mut Child,
    dir: &Path,
    targeted: bool,
    rng: &mut fastrand::Rng,
) -> std::process::ExitStatus {
    if targeted {
        // Temporary files are named `.NAME.PID.RANDOM.tmp`.
        let mine = format!(".{}.", child.id());
        for _ in 0..50_000 {
            if temp_files(dir).iter().any(|n| n.contains(&mine))
                || child.try_wait().unwrap().is_some()
            {
                break;
            }
            thread::sleep(Duration::from_micros(100));
        }
    } else {
        thread::sleep(Duration::from_millis(rng.u64(0..50)));
    }
    let _ = child.kill();
    child.wait().unwrap()
}

/// A tiny HTTP/1.1 exchange on a fresh connection; the status.
fn http(addr: &str, raw: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    assert!(n >= 12, "{:?}", String::from_utf8_lossy(&buf[..n]));
    String::from_utf8_lossy(&buf[9..12]).parse().unwrap()
}

fn start_server(path: &Path) -> (Child, String) {
    let mut child = bin()
        .args(["serve", "--port", "0", "--snapshot-interval", "5ms"])
        .arg("--snapshot")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
    (child, addr)
}

#[test]
fn a_server_killed_while_saving_leaves_the_old_or_the_new_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    // MessagePack writes a long string as it is, so most of a save is
    // spent writing the file, where a kill does the most harm.
    let path = dir.path().join("snap.msgpack");
    let bulk = 8;
    write_big(&path, bulk, 1_000_000);
    let mut left_temp_files = 0;
    let mut rng = fastrand::Rng::with_seed(7);
    let mut persisted = -1;
    for generation in 0..12 {
        // The server restores the file at start (a damaged file would stop
        // it here), then saves every 5 ms.
        let (mut child, addr) = start_server(&path);
        let body = json!({ "value": generation }).to_string();
        let status = http(
            &addr,
            &format!(
                "PUT /cache/gen HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        assert!(status == 200 || status == 201, "{status}");
        kill_mid_write(&mut child, dir.path(), generation % 2 == 0, &mut rng);

        let (n, found) = restore(&path);
        let found = gen_of(found);
        assert!(
            found == persisted || (persisted..=generation).contains(&found),
            "generation {generation}: the file holds gen {found}, last seen {persisted}"
        );
        assert_eq!(n, bulk + usize::from(found >= 0), "a partial snapshot");
        persisted = found;
        left_temp_files += usize::from(!temp_files(dir.path()).is_empty());
    }
    println!("after {left_temp_files} of 12 kills a temporary file was on disk");
    // The next clean save clears the temporary files the kills left.
    let (mut child, addr) = start_server(&path);
    assert_eq!(
        http(
            &addr,
            "POST /snapshot HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        ),
        200
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(temp_files(dir.path()), Vec::<String>::new());
}

#[test]
fn cli_writers_killed_mid_write_leave_the_old_or_the_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.msgpack");
    let bulk = 8;
    write_big(&path, bulk, 1_000_000);
    let mut left_temp_files = 0;
    let mut rng = fastrand::Rng::with_seed(11);
    let mut written = 0;
    for i in 0..12 {
        let mut child = bin()
            .arg("--store")
            .arg(&path)
            .args(["set", &format!("new{i}"), "value"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let status = kill_mid_write(&mut child, dir.path(), i % 2 == 0, &mut rng);
        let (n, _) = restore(&path);
        let cache: JsonCache = cachelite::Cache::builder().build();
        cache.restore(&path).unwrap();
        let has_new = cache.contains_key(format!("new{i}").as_str());
        if status.success() {
            assert!(has_new, "set new{i} succeeded but is missing");
        }
        written += usize::from(has_new);
        assert_eq!(
            n,
            bulk + written,
            "a partial store after killing writer {i}"
        );
        left_temp_files += usize::from(!temp_files(dir.path()).is_empty());
    }
    println!("after {left_temp_files} of 12 kills a temporary file was on disk");
    // A later writer works and clears what the killed ones left behind.
    let out = bin()
        .arg("--store")
        .arg(&path)
        .args(["set", "after", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(restore(&path).0, bulk + written + 1);
    assert_eq!(temp_files(dir.path()), Vec::<String>::new());
}

/// The file-size limit stands in for a full disk: writes past it fail with
/// `EFBIG` (the shell ignores `SIGXFSZ`, as a process that handles the
/// error would).
#[test]
fn a_save_that_runs_out_of_space_is_an_error_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    write_big(&path, 10, 100);
    let before = std::fs::read(&path).unwrap();
    // 100 KiB of value (one argument can hold 128 KiB): past the limit of
    // 64 blocks, 32 or 64 KiB depending on the shell's block size.
    let big = "x".repeat(100 * 1024);
    let script = "trap '' XFSZ; ulimit -f 64; exec \"$0\" --store \"$1\" set big \"$2\"";
    let out = Command::new("sh")
        .args(["-c", script, env!("CARGO_BIN_EXE_cachelite")])
        .arg(&path)
        .arg(&big)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write store file"), "{stderr}");
    assert!(stderr.contains("store.json"), "{stderr}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the old file changed"
    );
    assert_eq!(temp_files(dir.path()), Vec::<String>::new());
    assert_eq!(restore(&path).0, 10);

    // The server's save: a 500 that says why, and the old file intact.
    let snap = dir.path().join("snap.json");
    write_big(&snap, 10, 100);
    let before = std::fs::read(&snap).unwrap();
    let script = "trap '' XFSZ; ulimit -f 64; exec \"$0\" serve --port 0 --snapshot \"$1\" --snapshot-interval 1h";
    let mut child = Command::new("sh")
        .args(["-c", script, env!("CARGO_BIN_EXE_cachelite")])
        .arg(&snap)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let body = json!({ "value": big }).to_string();
    let mut put = TcpStream::connect(&addr).unwrap();
    put.write_all(
        format!(
            "PUT /cache/big HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut resp = String::new();
    put.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let mut save = TcpStream::connect(&addr).unwrap();
    save.write_all(b"POST /snapshot HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    save.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 500"), "{resp}");
    assert!(resp.contains("cannot save snapshot"), "{resp}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        std::fs::read(&snap).unwrap(),
        before,
        "the old snapshot changed"
    );
    assert_eq!(temp_files(dir.path()), Vec::<String>::new());
}
