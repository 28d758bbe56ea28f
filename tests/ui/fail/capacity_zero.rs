use cachelite::memoize;

#[memoize(capacity = 0)]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
