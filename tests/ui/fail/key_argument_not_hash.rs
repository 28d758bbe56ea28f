use cachelite::memoize;

struct Db;

#[memoize(key = weight)]
fn score(weight: f64, db: &Db) -> u64 {
    let _ = db;
    weight as u64
}

fn main() {
    score(1.0, &Db);
}
