use cachelite::{BoxFuture, memoize};

fn spawner(_refresh: BoxFuture) {}

#[memoize(ttl = 60, spawn = spawner)]
async fn user(id: u64) -> u64 {
    id
}

fn main() {}
