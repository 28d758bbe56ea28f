use cachelite::memoize;

type Count = u64;

#[memoize(result)]
fn user(id: u64) -> Count {
    id
}

fn main() {
    user(1);
}
