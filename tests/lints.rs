//! Code using `#[memoize]` compiles clean under `#![deny(warnings,
//! clippy::pedantic)]`: the expansion adds no warning to the user's code.
//! (CI runs clippy on this file; `dead_code` on an unused memoized fn is
//! checked by `ui/fail/dead_code.rs`.)

#![deny(warnings, clippy::pedantic)]

use std::future::Future;
use std::time::Duration;

use cachelite::memoize;

/// Public, documented, memoized fns of every shape.
pub mod api {
    use super::{Duration, Future, memoize};

    /// A user.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct User {
        /// The id.
        pub id: u64,
        /// Whether the user may log in.
        pub active: bool,
    }

    /// Why a lookup failed.
    #[derive(Debug, PartialEq, Eq)]
    pub struct NotFound;

    /// Fibonacci.
    #[must_use]
    #[memoize]
    pub fn fib(n: u64) -> u64 {
        if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
    }

    /// A user by id.
    ///
    /// # Errors
    /// When there is no such user.
    #[memoize(ttl = 60, policy = "lfu", capacity = 1_000, condition = |u: &User| u.active)]
    pub fn user(id: u64) -> Result<User, NotFound> {
        if id == 0 {
            Err(NotFound)
        } else {
            Ok(User { id, active: true })
        }
    }

    /// A user by email.
    #[must_use]
    #[memoize(ttl = 0.5, cache_none, jitter = 0.1)]
    pub fn find(email: &str, domains: &[String]) -> Option<u64> {
        domains
            .iter()
            .position(|d| email.ends_with(d.as_str()))
            .map(|i| i as u64)
    }

    /// A profile, by id, from a handle that is not part of the key.
    ///
    /// # Errors
    /// When there is no such user.
    #[memoize(
        key = format!("user:{id}"),
        tags = [format!("user:{id}"), "users".to_string()],
        ttl = Duration::from_secs(300),
        stale_ttl = 30,
        name = "lints::profile"
    )]
    pub async fn profile(id: u64, db: &Db) -> Result<String, NotFound> {
        db.names
            .get(usize::try_from(id).map_err(|_| NotFound)?)
            .cloned()
            .ok_or(NotFound)
    }

    /// A value computed by a future.
    #[memoize(max_bytes = 1 << 20, singleflight = false)]
    pub fn later(x: u32) -> impl Future<Output = String> + Send {
        async move { x.to_string() }
    }

    /// A data source.
    pub struct Db {
        /// The names, by id.
        pub names: Vec<String>,
    }

    impl Db {
        /// A name, by id (the process has one `Db`).
        #[must_use]
        #[memoize(unbounded, shared_across_instances)]
        pub fn name(&self, id: usize) -> Option<String> {
            self.names.get(id).cloned()
        }

        /// Names by prefix, keyed by the receiver's identity too.
        #[must_use]
        #[memoize(key: (usize, String) = (self.names.len(), prefix.to_owned()))]
        pub fn count(&self, prefix: &str) -> usize {
            self.names.iter().filter(|n| n.starts_with(prefix)).count()
        }
    }
}

#[test]
fn every_shape_compiles_clean_and_works() {
    use api::{Db, User};
    assert_eq!(api::fib(50), 12_586_269_025);
    assert_eq!(
        api::user(1),
        Ok(User {
            id: 1,
            active: true
        })
    );
    assert_eq!(api::find("a@x.org", &["x.org".to_owned()]), Some(0));
    let db = Db {
        names: vec!["ann".into(), "bob".into()],
    };
    assert_eq!(
        futures::executor::block_on(api::profile(1, &db)).as_deref(),
        Ok("bob")
    );
    assert_eq!(futures::executor::block_on(api::later(3)), "3");
    assert_eq!(db.name(0).as_deref(), Some("ann"));
    assert_eq!(db.count("a"), 1);
    assert!(api::fib_cache_invalidate(50));
    api::user_cache_clear();
    assert_eq!(api::find_cache_info().stats.len, 1);
    assert_eq!(Db::name_cache().len(), 1);
    assert!(Db::count_cache_info().stats.misses >= 1);
    assert!(db.count_cache_invalidate("a"));
    assert_eq!(api::profile_cache().invalidate_tags(&["users"]), 1);
    assert!(
        cachelite::registry()
            .iter()
            .any(|(n, _)| *n == "lints::profile")
    );
}
