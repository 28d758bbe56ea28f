//! Invalidation by tag and by Redis-style glob.
//!
//! `cargo run --release --example invalidation`

use cachelite::Cache;

fn main() {
    let cache: Cache<String, String> = Cache::new(1_000);
    for user in 1..=3 {
        cache.insert_with_tags(
            format!("user:{user}:profile"),
            format!("profile of {user}"),
            [format!("user:{user}"), "profiles".to_string()],
        );
        cache.insert_with_tags(
            format!("user:{user}:avatar"),
            format!("avatar of {user}"),
            [format!("user:{user}")],
        );
    }
    cache.insert("post:1".into(), "hello".into());
    println!("{} entries", cache.len());

    let n = cache.invalidate_tags(&["user:2"]);
    println!("invalidate tag user:2 -> {n} removed");

    let mut avatars = cache.keys_matching("user:*:avatar");
    avatars.sort();
    println!("keys matching user:*:avatar: {avatars:?}");

    let n = cache.invalidate_glob("user:[13]:*");
    println!("invalidate glob user:[13]:* -> {n} removed");
    println!("left: {:?}", cache.keys());
}
