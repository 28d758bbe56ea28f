use cachelite::{ManualClock, memoize};
use std::sync::LazyLock;

static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

#[memoize(clock = CLOCK.clone())]
fn user(id: u64) -> u64 {
    id
}

fn main() {
    user(1);
}
