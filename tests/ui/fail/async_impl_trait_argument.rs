use cachelite::memoize;
use std::fmt::Display;

#[memoize]
async fn label(id: impl Display) -> String {
    id.to_string()
}

fn main() {
    let _ = label(1);
}
