use cachelite::memoize;

struct Math;

impl Math {
    #[memoize]
    fn square(x: u64) -> u64 {
        x * x
    }
}

fn main() {
    let _ = Math::square(2);
}
