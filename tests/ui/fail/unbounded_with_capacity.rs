use cachelite::memoize;

#[memoize(capacity = 100, unbounded)]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
