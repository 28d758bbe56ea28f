use cachelite::memoize;

#[memoize]
extern "C" fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
