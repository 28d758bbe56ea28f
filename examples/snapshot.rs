//! Snapshots: save a cache to disk and restore it in a fresh one, keeping
//! TTLs, tags and the policy's order.
//!
//! `cargo run --release --example snapshot`

use std::time::Duration;

use cachelite::{Cache, Policy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("cachelite-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("sessions.json");

    let cache: Cache<String, String> = Cache::builder().max_items(3).policy(Policy::Lru).build();
    cache.insert_with_ttl("alice".into(), "token-a".into(), Duration::from_secs(300));
    cache.insert_with_tags("bob".into(), "token-b".into(), ["admins"]);
    cache.insert("carol".into(), "token-c".into());
    cache.get("alice"); // alice becomes the most recently used
    let written = cache.snapshot(&path)?;
    println!("wrote {written} entries to {}", path.display());
    println!(
        "{}",
        std::fs::read_to_string(&path)?
            .lines()
            .next()
            .unwrap_or_default()
    );

    // A smaller cache keeps what the policy ranks highest: the most recent.
    let fresh: Cache<String, String> = Cache::builder().max_items(2).build();
    let restored = fresh.restore(&path)?;
    let mut keys = fresh.keys();
    keys.sort();
    println!("restored {restored} into a 2-entry cache: kept {keys:?}");
    println!(
        "alice's TTL survived: {:?}",
        fresh.ttl("alice").map(|d| d.as_secs())
    );

    // A damaged file is refused whole, and the cache is left as it was.
    let mut bytes = std::fs::read(&path)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&path, bytes)?;
    match fresh.restore(&path) {
        Ok(n) => println!("unexpectedly restored {n}"),
        Err(e) => println!("corrupt snapshot refused: {e}"),
    }
    println!("cache untouched: {} entries", fresh.len());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
