use cachelite::memoize;

#[memoize(ttl = 60, local(capacity = 100))]
fn user(id: u64) -> String {
    id.to_string()
}

fn main() {
    let _ = user(1);
}
