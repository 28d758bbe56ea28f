//! `#[memoize]` on `async fn`s: the future borrows its arguments as the
//! original would, concurrent tasks share one computation, and a `key`
//! leaves a database handle out of the cache key.
//!
//! `cargo run --example memoize_async`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cachelite::memoize;

/// A stand-in for a connection pool: not `Hash`, and not part of any key.
struct Db {
    queries: AtomicUsize,
}

#[derive(Clone, Debug)]
struct Profile {
    id: u64,
    name: String,
}

#[derive(Debug)]
enum DbError {
    NotFound(u64),
}

impl Db {
    async fn fetch_name(&self, id: u64) -> Option<String> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
        (id < 100).then(|| format!("user-{id}"))
    }
}

/// Keyed by `id` alone; tagged so that one user or all users can be dropped.
#[memoize(
    key = format!("user:{id}"),
    tags = [format!("user:{id}"), "users".to_string()],
    ttl = 300
)]
async fn profile(id: u64, db: &Db) -> Result<Profile, DbError> {
    let name = db.fetch_name(id).await.ok_or(DbError::NotFound(id))?;
    Ok(Profile { id, name })
}

#[tokio::main]
async fn main() {
    let db = Db {
        queries: AtomicUsize::new(0),
    };

    println!("== first call, then a hit");
    for _ in 0..2 {
        let start = Instant::now();
        let p = profile(7, &db).await;
        println!("profile(7) = {p:?} in {:?}", start.elapsed());
    }

    println!("\n== 100 concurrent tasks, one query");
    let db = std::sync::Arc::new(db);
    let before = db.queries.load(Ordering::Relaxed);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { profile(42, &db).await.map(|p| p.id) })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if matches!(t.await, Ok(Ok(42))) {
            ok += 1;
        }
    }
    println!(
        "{ok} tasks got profile 42 from {} database query",
        db.queries.load(Ordering::Relaxed) - before
    );

    println!("\n== errors are not cached");
    for _ in 0..2 {
        match profile(1000, &db).await {
            Ok(p) => println!("profile(1000) = {} ({})", p.name, p.id),
            Err(DbError::NotFound(id)) => println!("profile(1000): user {id} not found"),
        }
    }
    println!(
        "database queries so far: {}",
        db.queries.load(Ordering::Relaxed)
    );

    println!("\n== invalidation by key, tag and glob");
    println!(
        "profile_cache_invalidate(7) = {}",
        profile_cache_invalidate(7)
    );
    for id in [7, 8] {
        if let Ok(p) = profile(id, &db).await {
            println!("reloaded {} ({})", p.name, p.id);
        }
    }
    let mut keys = profile_cache().keys();
    keys.sort();
    println!("keys: {keys:?}");
    println!(
        "invalidate_glob(\"user:4*\") = {}",
        profile_cache().invalidate_glob("user:4*")
    );
    println!(
        "invalidate_tags(&[\"user:8\"]) = {}",
        profile_cache().invalidate_tags(&["user:8"])
    );
    println!(
        "invalidate_tags(&[\"users\"]) = {}",
        profile_cache().invalidate_tags(&["users"])
    );
    let info = profile_cache_info();
    println!(
        "now {} entries; {} hits, {} misses",
        info.stats.len, info.stats.hits, info.stats.misses
    );
}
