use cachelite::memoize;

struct Db;

impl Db {
    fn shard(&self, id: u64) -> u64 {
        id % 4
    }
}

#[memoize(key = db.shard(id))]
fn user(id: u64, db: &Db) -> u64 {
    db.shard(id) * 10 + id
}

fn main() {
    user(1, &Db);
}
