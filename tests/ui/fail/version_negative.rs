use cachelite::memoize;

#[memoize(version = -1)]
fn price(id: u32) -> u32 {
    id
}

fn main() {
    price(1);
}
