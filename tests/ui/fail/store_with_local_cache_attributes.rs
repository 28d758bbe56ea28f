use cachelite::memoize;

#[memoize(store = USERS_REDIS, capacity = 100, policy = "lfu", stale_ttl = 5, ttl = 60)]
fn user(id: u64) -> String {
    id.to_string()
}

fn main() {
    let _ = user(1);
}
