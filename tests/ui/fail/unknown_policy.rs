use cachelite::memoize;

#[memoize(policy = "mru")]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
