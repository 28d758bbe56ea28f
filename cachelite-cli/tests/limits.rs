//! The server's limits, each reached on purpose over a raw socket: the
//! answer (or the closed connection) and its count in `/metrics`.
//!
//! Deadlines here are short (a few hundred milliseconds) so that the tests
//! are quick; what is asserted is what happens once a deadline has passed,
//! never how long it took.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use cachelite_cli::server::ServerConfig;
use serde_json::{Value, json};

mod support;
use support::TestServer;

/// Raw-socket requests to the server under test.
trait Raw {
    fn connect(&self) -> TcpStream;
    fn request(&self, raw: &str) -> (u16, String);
    fn metric(&self, name: &str) -> u64;
}

impl Raw for TestServer {
    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        // A generous bound on every read: a test that would otherwise hang
        // fails instead.
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    /// One request on a fresh connection: status and body.
    fn request(&self, raw: &str) -> (u16, String) {
        let mut s = self.connect();
        s.write_all(raw.as_bytes()).unwrap();
        read_response(&mut s)
    }

    /// A counter or gauge from `/metrics`.
    fn metric(&self, name: &str) -> u64 {
        let (status, text) =
            self.request("GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        assert_eq!(status, 200, "{text}");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
    }
}

/// Reads one response: the status and the body its content-length gives.
fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).expect("read response");
        assert!(n > 0, "connection closed before a response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).expect("read body");
        assert!(n > 0, "connection closed in the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    (
        status,
        String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string(),
    )
}

/// Whether the server has closed `s`: reads until end of file or a reset.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn error_of(body: &str) -> String {
    let doc: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    doc["error"].as_str().expect("error message").to_owned()
}

#[test]
fn the_defaults_bound_everything() {
    let c = ServerConfig::default();
    assert_eq!(c.max_items, Some(100_000));
    assert_eq!(c.max_bytes, Some(64 << 20));
    assert_eq!(c.max_connections, 1024);
    assert_eq!(c.request_timeout, Duration::from_secs(30));
    assert_eq!(c.header_timeout, Duration::from_secs(10));
    assert_eq!(c.idle_timeout, Duration::from_secs(30));
    assert_eq!(c.max_header_bytes, 16 << 10);
    let cache = c.build_cache().unwrap();
    assert_eq!(cache.max_items(), Some(100_000));
    assert_eq!(cache.max_bytes(), Some(64 << 20));
}

#[test]
fn connections_over_the_cap_get_503_and_are_counted() {
    let s = TestServer::start(ServerConfig {
        max_connections: 3,
        ..ServerConfig::default()
    });
    let held: Vec<TcpStream> = (0..3).map(|_| s.connect()).collect();
    // Accepted in order: the fourth finds every slot taken.
    let (status, body) = s.request("GET /health HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body).contains("--max-connections"));
    drop(held);
    // The slots free up as the server sees the held connections close.
    let mut answered = None;
    for _ in 0..200 {
        let (status, _) = s.request("GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        if status == 200 {
            answered = Some(status);
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(answered, Some(200), "the server never freed its slots");
    let rejected = s.metric("cachelite_server_connections_rejected_total");
    assert!(rejected >= 1, "{rejected}");
}

#[test]
fn a_silent_connection_is_closed_after_the_header_timeout() {
    let s = TestServer::start(ServerConfig {
        header_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    let mut silent = s.connect();
    assert!(closed_by_server(&mut silent));
    assert_eq!(s.metric("cachelite_server_header_timeouts_total"), 1);
}

#[test]
fn a_header_sent_a_line_at_a_time_is_cut_off() {
    let s = TestServer::start(ServerConfig {
        header_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    });
    let mut slow = s.connect();
    slow.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
    // Keep sending header lines, never the blank line that ends the head,
    // until the server hangs up; a server without the limit would keep
    // reading them for ever, and this loop would run out.
    let mut cut = false;
    for i in 0..400 {
        if slow
            .write_all(format!("x-slow-{i}: 1\r\n").as_bytes())
            .is_err()
        {
            cut = true;
            break;
        }
        slow.set_read_timeout(Some(Duration::from_millis(25)))
            .unwrap();
        let mut b = [0u8; 64];
        match slow.read(&mut b) {
            Ok(0) => {
                cut = true;
                break;
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                cut = true;
                break;
            }
            _ => {}
        }
    }
    assert!(cut, "a client trickling header lines was never cut off");
    assert_eq!(s.metric("cachelite_server_header_timeouts_total"), 1);
}

#[test]
fn an_idle_kept_alive_connection_is_closed() {
    let s = TestServer::start(ServerConfig {
        idle_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    let mut c = s.connect();
    c.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut c).0, 200);
    // The same connection serves a second request before going idle.
    c.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut c).0, 200);
    assert!(closed_by_server(&mut c));
    assert_eq!(s.metric("cachelite_server_idle_closed_total"), 1);
}

#[test]
fn an_oversized_request_head_is_431() {
    let s = TestServer::start(ServerConfig {
        max_header_bytes: 1024,
        ..ServerConfig::default()
    });
    let big = "v".repeat(4096);
    let (status, _) = s.request(&format!(
        "GET /health HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n"
    ));
    assert_eq!(status, 431);
    let (status, _) = s.request("GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_eq!(status, 200);
    assert_eq!(s.metric("cachelite_server_headers_too_large_total"), 1);
}

#[test]
fn a_body_that_never_arrives_is_408() {
    let s = TestServer::start(ServerConfig {
        request_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    });
    let mut c = s.connect();
    c.write_all(
        b"PUT /cache/k HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"value\":",
    )
    .unwrap();
    let (status, body) = read_response(&mut c);
    assert_eq!(status, 408, "{body}");
    assert!(error_of(&body).contains("--request-timeout"));
    // The half-read request leaves the connection unusable: it is closed.
    assert!(closed_by_server(&mut c));
    assert_eq!(s.metric("cachelite_server_request_timeouts_total"), 1);
}

#[test]
fn an_oversized_body_is_413_and_counted() {
    let s = TestServer::start(ServerConfig {
        max_body: 1024,
        ..ServerConfig::default()
    });
    let body = json!({ "value": "x".repeat(2000) }).to_string();
    let (status, text) = s.request(&format!(
        "PUT /cache/k HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert_eq!(status, 413, "{text}");
    assert_eq!(s.metric("cachelite_server_bodies_too_large_total"), 1);
    assert!(s.metric("cachelite_server_requests_total") >= 1);
}

/// A JSON array of small numbers is about 2 bytes a number as text and 32
/// in memory: the byte bound weighs the memory, so such a value cannot hold
/// 16 times the bound.
#[test]
fn the_byte_bound_weighs_decoded_values_not_their_text() {
    let s = TestServer::start(ServerConfig {
        max_bytes: Some(256 << 10),
        ..ServerConfig::default()
    });
    // 60 KiB of text, about 1 MiB decoded.
    let body = json!({ "value": vec![0; 30_000] }).to_string();
    assert!(body.len() < 64 << 10);
    let (status, text) = s.request(&format!(
        "PUT /cache/k HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert_eq!(status, 413, "{text}");
    assert!(s.metric("cachelite_bytes{cache=\"server\"}") <= 256 << 10);
}

/// A flood of large values, as in the report that the server grew without
/// bound: the cache's weight stays under its byte bound.
#[test]
fn a_flood_of_large_values_stays_under_the_byte_bound() {
    let bound: u64 = 1 << 20;
    let s = TestServer::start(ServerConfig {
        max_bytes: Some(bound),
        ..ServerConfig::default()
    });
    let value = "x".repeat(100_000);
    let mut c = s.connect();
    for i in 0..60 {
        let body = json!({ "value": value }).to_string();
        c.write_all(
            format!(
                "PUT /cache/big{i} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(read_response(&mut c).0, 201);
    }
    let bytes = s.metric("cachelite_bytes{cache=\"server\"}");
    assert!(bytes <= bound, "{bytes} > {bound}");
    assert!(s.metric("cachelite_evictions_total{cache=\"server\"}") >= 50);
}
