//! Every attribute at once, on sync and async fns.

use cachelite::{DeepSize, ManualClock, memoize};
use std::sync::LazyLock;
use std::time::Duration;

static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

#[derive(Clone, DeepSize)]
struct User {
    name: String,
    active: bool,
}

struct Db;

#[memoize(
    ttl = 60,
    policy = "lfu",
    capacity = 1_000,
    key = format!("user:{id}"),
    tags = [format!("user:{id}"), "users".to_string()],
    condition = |u: &User| u.active,
    jitter = 0.5,
    stale_ttl = Duration::from_secs(30),
    singleflight = true,
    name = "users::by_id",
    clock = CLOCK.clone(),
)]
fn user(id: u64, _db: &Db) -> Result<User, String> {
    Ok(User {
        name: id.to_string(),
        active: true,
    })
}

#[memoize(max_bytes = 1 << 20, cache_none)]
fn find(email: &str) -> Option<User> {
    Some(User {
        name: email.to_owned(),
        active: false,
    })
}

#[memoize(unbounded, cache_err)]
async fn check(id: u64) -> Result<u64, String> {
    Ok(id)
}

type Lookup = Result<u64, String>;

#[memoize(result, max_items = 5, singleflight = false)]
fn lookup(id: u64) -> Lookup {
    Ok(id)
}

fn main() {
    let _ = user(1, &Db).map(|u| u.name);
    let _ = find("a").map(|u| u.name);
    let _ = futures::executor::block_on(check(1));
    let _ = lookup(1);
    user_cache().invalidate_glob("user:*");
    user_cache().invalidate_tags(&["users"]);
    find_cache_clear();
    let _ = check_cache_info().hit_rate();
    let _ = lookup_cache_invalidate(1);
}
