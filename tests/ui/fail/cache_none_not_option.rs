use cachelite::memoize;

#[memoize(cache_none)]
fn user(id: u64) -> Vec<u64> {
    vec![id]
}

fn main() {
    user(1);
}
