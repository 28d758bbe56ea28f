//! Durations with units, policies in any case or as paths, constant and
//! computed durations, boxed futures, and methods sharing their results.

use cachelite::{Policy, memoize};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

const TTL: u64 = 30;
const SHORT: Duration = Duration::from_millis(250);

fn configured() -> u64 {
    45
}

#[memoize(ttl = "5m", stale_ttl = "500ms", jitter = "1s", policy = "LRU")]
fn a(x: u64) -> u64 {
    x
}

#[memoize(ttl = "1d", policy = Policy::Lfu)]
fn b(x: u64) -> u64 {
    x
}

#[memoize(ttl = TTL * 2, policy = cachelite::Policy::TinyLfu)]
fn c(x: u64) -> u64 {
    x
}

#[memoize(ttl = SHORT)]
fn d(x: u64) -> u64 {
    x
}

// Not a constant: checked when the cache is built, never at compile time.
#[memoize(ttl = configured())]
fn e(x: u64) -> u64 {
    x
}

#[memoize]
fn boxed(x: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    if x == 0 {
        Box::pin(async { 0 })
    } else {
        Box::pin(async move { x + 1 })
    }
}

struct Units {
    factor: u64,
}

impl Units {
    #[memoize(shared_across_instances)]
    fn convert(&self, x: u64) -> u64 {
        let _ = self.factor;
        x
    }
}

fn main() {
    let _ = (a(1), b(1), c(1), d(1), e(1));
    assert_eq!(a_cache_info().config.default_ttl, Some(Duration::from_secs(300)));
    assert_eq!(b_cache_info().config.policy, Policy::Lfu);
    assert_eq!(c_cache_info().config.policy, Policy::TinyLfu);
    assert_eq!(futures::executor::block_on(boxed(1)), 2);
    assert_eq!(Units { factor: 2 }.convert(3), 3);
}
