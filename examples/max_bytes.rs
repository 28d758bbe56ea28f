//! Bounding a cache by deep size in bytes, with `#[derive(DeepSize)]`.
//!
//! `cargo run --release --example max_bytes`

use cachelite::{Cache, DeepSize};

#[derive(Clone, Debug, DeepSize)]
struct Document {
    title: String,
    body: String,
    tags: Vec<String>,
}

fn doc(i: usize, body_len: usize) -> Document {
    Document {
        title: format!("doc {i}"),
        body: "x".repeat(body_len),
        tags: vec!["a".into(), "b".into()],
    }
}

fn main() {
    let cache: Cache<u32, Document> = Cache::builder().max_bytes(64 * 1024).build();
    let d = doc(0, 1_000);
    println!("one document owns {} bytes deep", d.deep_size_of());
    for i in 0..200 {
        cache.insert(i, doc(i as usize, 1_000));
    }
    let s = cache.stats();
    println!(
        "after 200 inserts: {} entries, {} bytes (budget 65536), {} evictions",
        s.len, s.bytes, s.evictions
    );
    // One entry larger than the whole budget is refused instead of flushing the cache.
    let stored = cache.insert(999, doc(999, 100_000));
    println!(
        "a 100 kB document stored? {stored}; entries still cached: {}",
        cache.len()
    );
}
