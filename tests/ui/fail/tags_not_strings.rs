use cachelite::memoize;

#[memoize(tags = [1, 2])]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
