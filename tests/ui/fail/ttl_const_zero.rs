use cachelite::memoize;

const TTL: u64 = 0;

#[memoize(ttl = TTL)]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
