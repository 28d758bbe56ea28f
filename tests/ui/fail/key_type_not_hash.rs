use cachelite::memoize;

#[memoize(key: f64 = weight)]
fn score(weight: f64) -> u64 {
    weight as u64
}

fn main() {
    score(1.0);
}
