use cachelite::memoize;

#[memoize(stale_ttl = 30)]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
