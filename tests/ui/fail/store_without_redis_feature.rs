// `store = ..` without the facade's `redis` feature (this crate does not
// enable it): one error that says how to, and the fn and its accessors
// still resolve.
use cachelite::memoize;

#[memoize(ttl = 60, store = USERS_REDIS, local(capacity = 1_000, ttl = 5))]
fn user(id: u64) -> String {
    id.to_string()
}

fn main() {
    let _ = user(1);
    user_cache_clear();
}
