use cachelite::memoize;

#[memoize(store = "redis://127.0.0.1/")]
fn square(n: u64) -> u64 {
    n * n
}

fn main() {
    let _ = square(2);
}
