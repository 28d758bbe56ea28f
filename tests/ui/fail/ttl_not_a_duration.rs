use cachelite::memoize;

const TTL: &str = "60";

#[memoize(ttl = TTL)]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
