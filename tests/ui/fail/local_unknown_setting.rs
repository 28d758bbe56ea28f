use cachelite::memoize;

#[memoize(store = USERS_REDIS, local(capacity = 100, policy = "lfu"))]
fn user(id: u64) -> String {
    id.to_string()
}

fn main() {
    let _ = user(1);
}
