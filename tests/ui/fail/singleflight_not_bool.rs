use cachelite::memoize;

#[memoize(singleflight = "yes")]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
