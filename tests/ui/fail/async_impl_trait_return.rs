use cachelite::memoize;
use std::fmt::Display;

#[memoize]
async fn label(id: u64) -> impl Display {
    id
}

fn main() {
    let _ = label(1);
}
