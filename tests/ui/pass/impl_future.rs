//! Fns returning `impl Future`, `Send` when their body's future is.

use cachelite::memoize;
use std::future::Future;

#[memoize(ttl = 5)]
fn later(x: u32) -> impl Future<Output = Result<u32, String>> + Send {
    async move { Ok(x) }
}

fn assert_send<T: Send>(_: &T) {}

fn main() {
    let f = later(1);
    assert_send(&f);
    let _ = futures::executor::block_on(f);
}
