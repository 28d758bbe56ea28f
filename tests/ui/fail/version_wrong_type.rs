use cachelite::memoize;

const VERSION: i32 = 2;

#[memoize(version = VERSION)]
fn price(id: u32) -> u32 {
    id
}

fn main() {
    price(1);
}
