use cachelite::memoize;

#[memoize(tll = 60)]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
