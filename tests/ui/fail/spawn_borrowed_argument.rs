use cachelite::{BoxFuture, memoize};

fn spawner(_refresh: BoxFuture) {}

#[memoize(ttl = 60, stale_ttl = 10, spawn = spawner)]
async fn user(name: &str) -> usize {
    name.len()
}

fn main() {}
