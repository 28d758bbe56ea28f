use cachelite::memoize;

// `cached`'s and functools' names for a time to live and a size bound.
#[memoize(time = 60, maxsize = 128)]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
