//! An associated fn whose signature and body never mention `Self`.

use cachelite::memoize;

struct Math;

impl Math {
    #[memoize]
    fn square(x: u64) -> u64 {
        x * x
    }
}

fn main() {
    assert_eq!(Math::square(3), 9);
    assert_eq!(Math::square_cache_info().stats.len, 1);
    assert!(Math::square_cache_invalidate(3));
}
