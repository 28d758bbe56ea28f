//! Test harness: a real Redis server, either the one named by
//! `CACHELITE_REDIS_URL` or one started here on a free loopback port.
//!
//! Without `redis-server` on the PATH the tests skip with a message, unless
//! `CACHELITE_REQUIRE_REDIS=1`, which turns the skip into a failure.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cachelite_redis::TieredCache;

pub mod suite;
pub mod topology;

/// A redis-server process this test started; killed and waited on drop.
pub struct Server {
    child: Option<Child>,
    args: Vec<String>,
    pub url: String,
    probe: Probe,
}

enum Probe {
    Tcp(u16),
    Unix(PathBuf),
}

fn require() -> bool {
    std::env::var("CACHELITE_REQUIRE_REDIS").is_ok_and(|v| v == "1")
}

fn skip(why: &str) {
    assert!(
        !require(),
        "{why}, and CACHELITE_REQUIRE_REDIS=1: install redis-server or set CACHELITE_REDIS_URL"
    );
    eprintln!("skipping: {why} (set CACHELITE_REQUIRE_REDIS=1 to fail instead)");
}

fn have_redis_server() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().unwrap().port()
}

impl Server {
    /// A private server on a free port, or `None` (after a message) when
    /// redis-server is missing.
    pub fn start() -> Option<Server> {
        if !have_redis_server() {
            skip("redis-server is not installed");
            return None;
        }
        // A port can be taken between the probe and the bind: retry.
        for _ in 0..5 {
            let port = free_port();
            let args = vec![
                "--port".to_string(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--save".into(),
                String::new(),
                "--appendonly".into(),
                "no".into(),
            ];
            let mut s = Server {
                child: None,
                args,
                url: format!("redis://127.0.0.1:{port}/"),
                probe: Probe::Tcp(port),
            };
            if s.launch() {
                return Some(s);
            }
        }
        panic!("could not start redis-server on a free port");
    }

    /// A private server listening only on a Unix socket.
    pub fn start_unix() -> Option<Server> {
        if !have_redis_server() {
            skip("redis-server is not installed");
            return None;
        }
        let path = std::env::temp_dir().join(format!(
            "cachelite-redis-{}-{}.sock",
            std::process::id(),
            fastrand::u32(..)
        ));
        let args = vec![
            "--port".to_string(),
            "0".into(),
            "--unixsocket".into(),
            path.display().to_string(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
        ];
        let mut s = Server {
            child: None,
            args,
            url: format!("redis+unix://{}", path.display()),
            probe: Probe::Unix(path),
        };
        assert!(s.launch(), "redis-server did not start on a Unix socket");
        Some(s)
    }

    fn launch(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(&self.args)
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
                return false; // exited: the port was taken
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    fn answers(&self) -> bool {
        fn ping(mut s: impl Read + Write) -> bool {
            let mut buf = [0u8; 7];
            s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
        }
        match &self.probe {
            Probe::Tcp(port) => TcpStream::connect(("127.0.0.1", *port)).is_ok_and(ping),
            Probe::Unix(path) => std::os::unix::net::UnixStream::connect(path).is_ok_and(ping),
        }
    }

    /// Kills this server (only the process started here) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.launch() {
            assert!(Instant::now() < deadline, "redis-server did not restart");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if let Probe::Unix(p) = &self.probe {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Where a non-destructive test talks to Redis: the shared server of
/// `CACHELITE_REDIS_URL`, else a private one.
pub struct Target {
    pub url: String,
    _server: Option<Server>,
}

pub fn target() -> Option<Target> {
    if let Ok(url) = std::env::var("CACHELITE_REDIS_URL")
        && !url.is_empty()
    {
        return Some(Target { url, _server: None });
    }
    let s = Server::start()?;
    Some(Target {
        url: s.url.clone(),
        _server: Some(s),
    })
}

/// A namespace no other test (or earlier run) uses.
pub fn namespace(test: &str) -> String {
    format!("t-{test}-{:08x}", fastrand::u32(..))
}

/// A plain connection for checks behind the cache's back.
pub fn raw(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(10)))
        .expect("raw connection")
}

/// Polls `cond` until it holds; fails the test after `secs` seconds.
pub async fn until(secs: u64, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if cond().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The scenario every transport runs: `a` computes a value once, `b` reads
/// it from Redis without computing, then keeps a local copy of it.
pub async fn two_clients_share_a_value(a: &TieredCache<str, String>, b: &TieredCache<str, String>) {
    let computed = AtomicUsize::new(0);
    let v = a
        .get_or_insert_with("greeting", || {
            computed.fetch_add(1, Ordering::SeqCst);
            "hello".to_string()
        })
        .await;
    assert_eq!(v, "hello");
    let again = b
        .get_or_insert_with("greeting", || unreachable!("b reads a's value"))
        .await;
    assert_eq!(again, "hello");
    assert_eq!(computed.load(Ordering::SeqCst), 1);
    assert_eq!(b.stats().l2_hits, 1);
    // b's first fill of its local tier is skipped if a message for the key
    // arrives while b reads: it may announce the very value b is reading.
    until(10, "b keeps a local copy", async || {
        b.get("greeting").await.is_some() && b.local().contains_key("greeting")
    })
    .await;
}
