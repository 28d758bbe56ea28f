use cachelite::memoize;

#[memoize(condition = true)]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
