use cachelite::memoize;

#[memoize(ttl = "5 minutes")]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
