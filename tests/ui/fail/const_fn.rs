use cachelite::memoize;

#[memoize]
const fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
