//! `store = ..` over a `MemoryStore`: a `static`, a call, a reference; the
//! store's type comes from the expression, and the accessors give it back
//! as an `impl Store`.

use std::sync::LazyLock;

use cachelite::memoize;
use cachelite::redis::{MemoryStore, Store, TieredStats};

static MEMORY: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

fn users() -> MemoryStore {
    MEMORY.with_namespace("users")
}

#[memoize(store = MEMORY, local(capacity = 100))]
fn square(n: u64) -> u64 {
    n * n
}

#[memoize(ttl = 60, store = users(), local(capacity = 10, ttl = 5))]
async fn name(id: u64) -> String {
    id.to_string()
}

#[memoize(store = &*MEMORY)]
fn double(n: u64) -> u64 {
    n * 2
}

#[allow(dead_code)]
async fn accessors() -> Result<(), cachelite::redis::Error> {
    let _: u64 = square(2);
    let _: &str = square_cache().as_async().store().namespace();
    let _: usize = square_cache_clear()?;
    let _: TieredStats = square_cache_info();
    let _: bool = square_cache_invalidate(2)?;
    let _: Option<u64> = square_cache().get(&2);

    let _: String = name(1).await;
    let _: Option<String> = name_cache().get(&1).await;
    let _: usize = name_cache_clear().await?;
    let _: bool = name_cache_invalidate(1).await?;
    let _ = double(1);
    Ok(())
}

fn main() {}
