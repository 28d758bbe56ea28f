//! Test harness for the SQL stores: the servers named by
//! `CACHELITE_POSTGRES_URL` and `CACHELITE_MYSQL_URL`.
//!
//! An unset variable skips the test with a message, unless
//! `CACHELITE_REQUIRE_SQL=1`, which turns the skip (and an unreachable
//! server) into a failure. Each test uses a namespace of its own and
//! drops its tables afterwards, even when it fails.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt;

/// Generous enough for a loaded CI machine.
pub const PATIENT: Duration = Duration::from_secs(5);

pub fn require() -> bool {
    std::env::var("CACHELITE_REQUIRE_SQL").is_ok_and(|v| v == "1")
}

/// The URL in `var`, or `None` after a message (a failure when required).
pub fn url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                !require(),
                "{var} is unset, and CACHELITE_REQUIRE_SQL=1: name the test server"
            );
            eprintln!("skipping: {var} is unset (set CACHELITE_REQUIRE_SQL=1 to fail instead)");
            None
        }
    }
}

/// A server that did not answer: a failure when required, else a skip.
pub fn unreachable(what: &str, e: &dyn std::fmt::Display) {
    assert!(
        !require(),
        "{what} is unreachable ({e}), and CACHELITE_REQUIRE_SQL=1"
    );
    eprintln!("skipping: {what} is unreachable: {e}");
}

/// A namespace no other test (or run) uses; with a dot and capitals, so
/// that every test also covers the escaping of namespaces.
pub fn namespace(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "T.{test}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    )
}

/// Runs `body`, then `cleanup` whatever happened, then passes a panic on.
pub async fn with_cleanup<F, C>(body: F, cleanup: C)
where
    F: Future<Output = ()>,
    C: Future<Output = ()>,
{
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    cleanup.await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Polls `check` every 10 ms until it holds, for at most `secs` seconds.
pub async fn until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
