#![deny(dead_code)]

use cachelite::memoize;

/// Never called: `dead_code` still says so, and only about the fn itself.
#[memoize(ttl = 60)]
fn unused(id: u64) -> u64 {
    id
}

fn main() {}
