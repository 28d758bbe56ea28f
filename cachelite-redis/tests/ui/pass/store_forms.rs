//! The forms `store = ..` takes (a `static` store or builder, an
//! expression), over sync, async and `impl Future` fns and a method, and
//! the accessors of each.

use std::future::Future;
use std::sync::LazyLock;

use cachelite::memoize;
use cachelite::redis::{BlockingTieredCache, RedisStore, RedisStoreBuilder, TieredCache, TieredStats};

static REDIS: LazyLock<RedisStoreBuilder> =
    LazyLock::new(|| RedisStore::builder("redis://127.0.0.1:6379/"));
static USERS: LazyLock<RedisStore> =
    LazyLock::new(|| RedisStore::open("redis://127.0.0.1:6379/", "users").unwrap());

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct User {
    id: u64,
    name: String,
}

#[memoize(ttl = 60, jitter = 5, store = USERS, local(capacity = 1_000, ttl = 5), tags = [format!("user:{id}")])]
fn user(id: u64) -> Option<User> {
    Some(User { id, name: String::new() })
}

#[memoize(ttl = "10m", store = REDIS.clone().namespace("names"), cache_none)]
async fn name(id: u64) -> Option<String> {
    Some(id.to_string())
}

#[memoize(store = RedisStore::open("redis://127.0.0.1/", "sq"), key = format!("sq:{n}"), condition = |v: &u64| *v > 1)]
fn square(n: u64, _verbose: bool) -> Result<u64, String> {
    Ok(n * n)
}

#[memoize(store = REDIS.clone().namespace("later"))]
fn later(n: u8) -> impl Future<Output = u8> {
    async move { n }
}

struct Repo {
    id: u32,
}

impl Repo {
    #[memoize(store = REDIS.clone().namespace("repo"), key: (u32, u64) = (self.id, n))]
    fn lookup(&self, n: u64) -> String {
        format!("{}:{n}", self.id)
    }
}

#[allow(dead_code)]
async fn accessors() -> Result<(), cachelite::redis::Error> {
    let _: &BlockingTieredCache<u64, User, _> = user_cache();
    let _: usize = user_cache_clear()?;
    let _: TieredStats = user_cache_info();
    let _: bool = user_cache_invalidate(1)?;
    let _ = user(1);

    let _: &TieredCache<u64, Option<String>, _> = name_cache();
    let _: usize = name_cache_clear().await?;
    let _: bool = name_cache_invalidate(1).await?;
    let _ = name(1).await;

    let _ = square(2, true);
    let _: bool = square_cache_invalidate(2)?;
    let _ = later(1).await;
    let repo = Repo { id: 7 };
    let _ = repo.lookup(1);
    let _: bool = Repo::lookup_cache_invalidate(&repo, 1)?;
    Ok(())
}

fn main() {}

/// The accessors of a public fn over Redis pass pedantic lints.
#[deny(warnings, clippy::pedantic)]
pub mod strict {
    use cachelite::memoize;
    use cachelite::redis::RedisStore;

    /// A documented fn.
    #[memoize(store = RedisStore::builder("redis://127.0.0.1/").namespace("strict"))]
    #[must_use]
    pub fn double(n: u64) -> u64 {
        n * 2
    }
}
