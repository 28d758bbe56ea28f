use cachelite::{BoxFuture, memoize};

fn spawner(_refresh: BoxFuture) {}

#[memoize(ttl = 60, stale_ttl = 10, spawn = spawner)]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
