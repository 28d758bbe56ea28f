use cachelite::memoize;

#[memoize]
unsafe fn user(id: u64) -> u64 {
    id
}

fn main() {
    let _ = unsafe { user(1) };
}
