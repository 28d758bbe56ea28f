use cachelite::memoize;

#[memoize(key = "user".to_string())]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
