use cachelite::memoize;

#[memoize(cache_none = true)]
fn user(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {
    user(1);
}
