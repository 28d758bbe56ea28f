use cachelite::memoize;
use cachelite::redis::RedisStore;

#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
// Serialize alone: invalidation messages name keys in their serde form,
// which must read back as the key.
struct Point {
    x: i32,
    y: i32,
}

#[memoize(store = RedisStore::builder("redis://127.0.0.1/").namespace("dist"))]
fn distance(p: Point) -> u32 {
    p.x.unsigned_abs() + p.y.unsigned_abs()
}

fn main() {
    let _ = distance(Point { x: 1, y: 2 });
}
