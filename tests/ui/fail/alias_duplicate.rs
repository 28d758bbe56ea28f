use cachelite::memoize;

#[memoize(capacity = 10, max_items = 20)]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
