use cachelite::memoize;

#[memoize(name = users::by_id)]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
