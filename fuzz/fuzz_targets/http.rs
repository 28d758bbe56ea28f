//! The HTTP API driven in-process through `tower::ServiceExt::oneshot`,
//! with arbitrary methods, paths, headers and bodies: never a 5xx, never a
//! panic, and every error is a JSON `{"error": ...}` document.
//!
//! An input is a few requests separated by a `\n===\n` line, each written
//! as `METHOD TARGET`, header lines `name: value`, an empty line and the
//! body, so seeds stay readable.
#![no_main]

use axum::body::Body;
use axum::http::{Method, Request};
use cachelite_cli::server::{AppState, ServerConfig, router};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower::ServiceExt;

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let config = ServerConfig {
        max_items: Some(16),
        max_bytes: Some(4096),
        max_body: 2048,
        max_key_len: 64,
        token: (mode & 1 == 1).then(|| "secret".to_owned()),
        ..ServerConfig::default()
    };
    let cache = config.build_cache().unwrap();
    let app = router(AppState::new(cache, &config));
    RT.with(|rt| {
        rt.block_on(async {
            for chunk in split(rest, b"\n===\n").take(16) {
                let Some(req) = request(chunk) else {
                    continue;
                };
                let head = req.method() == Method::HEAD;
                let what = format!("{} {}", req.method(), req.uri());
                let resp = app.clone().oneshot(req).await.unwrap();
                let status = resp.status();
                assert!(!status.is_server_error(), "{what} answered {status}");
                let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                    .await
                    .unwrap();
                if status.is_client_error() && !head {
                    let doc: Value = serde_json::from_slice(&body)
                        .unwrap_or_else(|e| panic!("{what} {status}: body is not JSON: {e}"));
                    assert!(doc["error"].is_string(), "{what} {status}: {doc}");
                }
            }
        });
    });
});

fn split<'a>(data: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                rest = Some(&r[i + sep.len()..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn request(chunk: &[u8]) -> Option<Request<Body>> {
    let (head, body) = match chunk.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&chunk[..i], &chunk[i + 2..]),
        None => (chunk, &b""[..]),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let first = lines.next()?;
    let sp = first.iter().position(|&b| b == b' ')?;
    let method = Method::from_bytes(&first[..sp]).ok()?;
    let target = std::str::from_utf8(&first[sp + 1..]).ok()?;
    let mut b = Request::builder().method(method).uri(target);
    for line in lines {
        let colon = line.iter().position(|&b| b == b':')?;
        let value = line[colon + 1..]
            .strip_prefix(b" ")
            .unwrap_or(&line[colon + 1..]);
        b = b.header(&line[..colon], value);
    }
    b.body(Body::from(body.to_vec())).ok()
}
