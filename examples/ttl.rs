//! Time to live: per-entry TTLs, lazy expiry on read, the active sweeper,
//! and a manual clock for deterministic tests.
//!
//! `cargo run --release --example ttl`

use std::time::Duration;

use cachelite::{Cache, ManualClock};

fn main() {
    // Deterministic time: nothing sleeps.
    let clock = ManualClock::new();
    let sessions: Cache<String, u32> = Cache::builder()
        .max_items(1_000)
        .default_ttl(Duration::from_secs(30))
        .clock(clock.clone())
        .build();
    sessions.insert("alice".into(), 1);
    sessions.insert_with_ttl("bob".into(), 2, Duration::from_secs(5));
    println!("bob's ttl: {:?}", sessions.ttl("bob"));
    clock.advance(Duration::from_secs(10));
    println!(
        "after 10s: alice = {:?}, bob = {:?}",
        sessions.get("alice"),
        sessions.get("bob")
    );
    sessions.persist("alice");
    clock.advance(Duration::from_secs(60));
    println!("after persist + 60s: alice = {:?}", sessions.get("alice"));

    // Real time with an active sweeper: expired entries go away even if
    // nobody reads them.
    let cache: Cache<u32, u32> = Cache::builder()
        .active_expiry(Duration::from_millis(10))
        .build();
    for i in 0..1_000 {
        cache.insert_with_ttl(i, i, Duration::from_millis(20));
    }
    println!("\nwith the sweeper: {} entries", cache.len());
    std::thread::sleep(Duration::from_millis(150));
    println!(
        "150 ms later, unread: {} entries ({} expirations)",
        cache.len(),
        cache.stats().expirations
    );
}
