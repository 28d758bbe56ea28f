use cachelite::memoize;
use std::fmt::Display;

#[memoize]
fn label(id: u64) -> impl Display {
    id
}

fn main() {
    label(1);
}
