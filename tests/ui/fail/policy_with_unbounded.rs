use cachelite::memoize;

#[memoize(unbounded, policy = "lfu")]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
