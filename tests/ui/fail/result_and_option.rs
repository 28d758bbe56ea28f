use cachelite::memoize;

type Lookup = Result<u64, String>;

#[memoize(result, option)]
fn user(id: u64) -> Lookup {
    Ok(id)
}

fn main() {
    let _ = user(1);
}
