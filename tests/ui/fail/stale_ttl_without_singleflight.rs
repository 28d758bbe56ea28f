use cachelite::memoize;

#[memoize(ttl = 60, stale_ttl = 30, singleflight = false)]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
