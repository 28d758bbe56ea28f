//! Singleflight: concurrent callers for one key compute once.
//!
//! `cargo run --release --example singleflight`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cachelite::Cache;

fn main() {
    let cache: Cache<&'static str, String> = Cache::new(100);
    let computations = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let cache = cache.clone();
            let computations = computations.clone();
            std::thread::spawn(move || {
                cache.get_or_insert_with("report", || {
                    computations.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100)); // a slow query
                    "quarterly numbers".to_string()
                })
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), "quarterly numbers");
    }
    println!(
        "8 threads asked for the report; it was computed {} time(s)",
        computations.load(Ordering::SeqCst)
    );

    // Errors are returned, never cached: the next caller tries again.
    let r: Result<String, &str> = cache.try_get_or_insert_with("flaky", || Err("backend down"));
    println!("first try: {r:?}");
    let r: Result<String, &str> = cache.try_get_or_insert_with("flaky", || Ok("recovered".into()));
    println!("second try: {r:?}");

    // The same mechanism serves async tasks, on any executor.
    let v = futures::executor::block_on(
        cache.get_or_insert_with_async("async", async { "from a future".to_string() }),
    );
    println!("async: {v}");
}
