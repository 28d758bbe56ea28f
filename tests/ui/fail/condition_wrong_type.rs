use cachelite::memoize;

#[memoize(condition = |name: &String| !name.is_empty())]
fn user(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {
    let _ = user(1);
}
