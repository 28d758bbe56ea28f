use cachelite::memoize;
use cachelite::redis::RedisStore;

#[derive(Clone)]
struct Profile {
    name: String,
}

#[memoize(store = RedisStore::builder("redis://127.0.0.1/").namespace("profiles"))]
fn profile(id: u64) -> Profile {
    Profile {
        name: id.to_string(),
    }
}

fn main() {
    let _ = profile(1).name;
}
