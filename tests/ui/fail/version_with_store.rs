use cachelite::memoize;

#[memoize(store = USERS_REDIS, version = 2)]
fn user(id: u64) -> String {
    id.to_string()
}

fn main() {
    let _ = user(1);
}
