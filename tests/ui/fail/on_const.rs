use cachelite::memoize;

#[memoize]
const LIMIT: u64 = 10;

fn main() {
    let _ = LIMIT;
}
