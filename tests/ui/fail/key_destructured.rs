use cachelite::memoize;

#[memoize(key = x)]
fn norm((x, y): (i64, i64)) -> i64 {
    x.abs() + y.abs()
}

fn main() {
    norm((1, 2));
}
