//! The shared tier of `cachelite serve --redis`: the served cache as a
//! two-tier cache, a local `cachelite::Cache` (L1, bounded by the server's
//! limits) in front of one Redis namespace (L2) that every server started
//! on it shares.
//!
//! - **Coherence.** Writes and invalidations go to Redis and are published
//!   on the namespace's channel; every server drops its local copies at
//!   once. A server whose subscription is down holds nothing locally and
//!   reads from Redis (see [`cachelite_redis::TieredCache`]).
//! - **Redis down.** Reads fail open: a key Redis cannot be asked for is a
//!   miss (404), counted under `errors`. Writes and invalidations answer
//!   503 with the reason and store nothing: a write kept only in one
//!   server's memory would make the servers disagree. Every call is
//!   bounded by the store's small timeouts (50 ms to connect, 20 ms per
//!   reply by default) and a circuit breaker, so no request hangs.
//! - **No snapshot.** Redis is the durable copy; `--snapshot` is refused
//!   with `--redis`.
//!
//! ```no_run
//! use cachelite_cli::server::{ServerConfig, serve};
//! use cachelite_cli::shared::RedisConfig;
//! use cachelite_redis::RedisStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ServerConfig {
//!     redis: Some(RedisConfig::new(
//!         RedisStore::builder("redis://127.0.0.1:6379/").namespace("api"),
//!     )),
//!     ..ServerConfig::default()
//! };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! serve(listener, config, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use cachelite::Glob;
use cachelite_redis::{RedisStoreBuilder, Store, TieredCache, TieredStats};
use serde_json::{Value, json};

/// The served cache with `--redis`: keys are the HTTP API's key strings,
/// values its JSON values.
pub type SharedCache = TieredCache<str, Value>;

/// The shared tier's settings.
///
/// ```
/// use std::time::Duration;
/// use cachelite_cli::shared::RedisConfig;
/// let c = RedisConfig::new(cachelite_redis::RedisStore::builder("redis://127.0.0.1/"))
///     .local_ttl(Duration::from_secs(5));
/// assert_eq!(c.local_ttl, Some(Duration::from_secs(5)));
/// ```
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// The store: URL, namespace, version, codec, timeouts.
    pub store: RedisStoreBuilder,
    /// The longest a server keeps a local copy (default: as long as the
    /// entry lives in Redis). Bounds how stale a copy can get if an
    /// invalidation message is lost.
    pub local_ttl: Option<Duration>,
}

impl RedisConfig {
    /// The store's settings, with no bound on local copies but the entry's
    /// own TTL.
    ///
    /// ```
    /// let c = cachelite_cli::shared::RedisConfig::new(
    ///     cachelite_redis::RedisStore::builder("redis://127.0.0.1/"),
    /// );
    /// assert!(c.local_ttl.is_none());
    /// ```
    #[must_use]
    pub fn new(store: RedisStoreBuilder) -> Self {
        Self {
            store,
            local_ttl: None,
        }
    }

    /// Bounds local copies to `ttl`.
    ///
    /// ```
    /// let c = cachelite_cli::shared::RedisConfig::new(
    ///     cachelite_redis::RedisStore::builder("redis://127.0.0.1/"),
    /// )
    /// .local_ttl(std::time::Duration::from_millis(500));
    /// assert!(c.local_ttl.is_some());
    /// ```
    #[must_use]
    pub fn local_ttl(mut self, ttl: Duration) -> Self {
        self.local_ttl = Some(ttl);
        self
    }
}

/// The part of a Redis key after the namespace's prefix: what globs match
/// and what the store's raw calls take.
fn rendered(cache: &SharedCache, key: &str) -> Option<String> {
    let store = cache.store();
    let full = store.redis_key(key).ok()?;
    let prefix = store.redis_key("").ok()?;
    full.strip_prefix(prefix.as_str()).map(str::to_owned)
}

/// Whether Redis holds an entry for `key`, without counting a read; an
/// unreachable Redis reads as no.
pub(crate) async fn exists(cache: &SharedCache, key: &str) -> bool {
    let Some(r) = rendered(cache, key) else {
        return false;
    };
    matches!(Store::get(cache.store(), &r).await, Ok(Some(_)))
}

/// How long connecting for a listing, or one `SCAN` step, may take: an
/// admin's listing may walk a large namespace, but no step of it waits on
/// a Redis that does not answer.
const LIST_STEP_TIMEOUT: Duration = Duration::from_secs(1);

/// The keys Redis holds in this namespace that match `glob`, by `SCAN`
/// (never `KEYS`), within `budget`.
pub(crate) async fn keys(
    cache: &SharedCache,
    glob: Option<&Glob>,
    budget: Duration,
) -> Result<Vec<String>, String> {
    let prefix = cache.store().redis_key("").map_err(|e| e.to_string())?;
    let scan = async {
        let client = cache.store().client();
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(LIST_STEP_TIMEOUT))
            .set_response_timeout(Some(LIST_STEP_TIMEOUT));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| format!("Redis error: {e}"))?;
        // The namespace holds no glob metacharacter, so the prefix is
        // literal; tag sets and counters (`...#tag:`) do not match it.
        let pattern = format!("{prefix}*");
        let mut cursor: u64 = 0;
        let mut out = Vec::new();
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("Redis error: {e}"))?;
            for raw in batch {
                let Some(key) = raw
                    .strip_prefix(prefix.as_bytes())
                    .and_then(|r| std::str::from_utf8(r).ok())
                    .and_then(unrender)
                else {
                    continue;
                };
                if glob.is_none_or(|g| g.is_match(&key)) {
                    out.push(key);
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(out)
    };
    match tokio::time::timeout(budget, scan).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "Redis did not list the keys within {} s",
            crate::secs(budget)
        )),
    }
}

/// A string key from its rendering: a leading `#` or `%` is stored
/// percent-escaped, and a rendering starting with `#` is a key of another
/// type (not written by this server).
fn unrender(r: &str) -> Option<String> {
    if let Some(rest) = r.strip_prefix("%23") {
        Some(format!("#{rest}"))
    } else if let Some(rest) = r.strip_prefix("%25") {
        Some(format!("%{rest}"))
    } else if r.starts_with('#') {
        None
    } else {
        Some(r.to_owned())
    }
}

/// The tiers' counters, for `/stats`.
pub(crate) fn tiers_json(cache: &SharedCache) -> Value {
    let s = cache.stats();
    let store = cache.store();
    json!({
        "l1_hits": s.l1_hits,
        "l2_hits": s.l2_hits,
        "misses": s.misses,
        "errors": s.errors,
        "skipped": s.skipped,
        "disconnects": s.disconnects,
        "local_active": s.local_active,
        "breaker_open": store.is_breaker_open(),
        "namespace": store.namespace(),
        "version": store.version(),
    })
}

/// A tier metric: name, type, help and how to read it.
pub(crate) type TierFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&TieredStats) -> u64,
);

/// The tiers' families in `/metrics`.
pub(crate) const TIER_FAMILIES: [TierFamily; 7] = [
    (
        "cachelite_tier_l1_hits_total",
        "counter",
        "Reads served by this server's local tier.",
        |s| s.l1_hits,
    ),
    (
        "cachelite_tier_l2_hits_total",
        "counter",
        "Reads served by Redis.",
        |s| s.l2_hits,
    ),
    (
        "cachelite_tier_misses_total",
        "counter",
        "Reads that found nothing in either tier (Redis failures included).",
        |s| s.misses,
    ),
    (
        "cachelite_tier_errors_total",
        "counter",
        "Failed Redis calls, and values or messages that did not decode.",
        |s| s.errors,
    ),
    (
        "cachelite_tier_skipped_total",
        "counter",
        "Redis calls not attempted because the circuit breaker was open.",
        |s| s.skipped,
    ),
    (
        "cachelite_tier_disconnects_total",
        "counter",
        "Times the invalidation subscription was lost (each cleared the local tier).",
        |s| s.disconnects,
    ),
    (
        "cachelite_tier_local_active",
        "gauge",
        "1 while the local tier is in use (the invalidation subscription is live), else 0.",
        |s| u64::from(s.local_active),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renderings_read_back_as_the_keys_the_server_wrote() {
        assert_eq!(unrender("user:1").as_deref(), Some("user:1"));
        assert_eq!(unrender("%23tag").as_deref(), Some("#tag"));
        assert_eq!(unrender("%25x").as_deref(), Some("%x"));
        assert_eq!(unrender("#42"), None);
        assert_eq!(unrender("").as_deref(), Some(""));
    }

    #[test]
    fn every_tier_family_is_named_for_prometheus() {
        let s = TieredStats::default();
        for (name, kind, help, read) in TIER_FAMILIES {
            assert!(name.starts_with("cachelite_tier_"), "{name}");
            assert_eq!(name.ends_with("_total"), kind == "counter", "{name}");
            assert!(!help.is_empty());
            assert_eq!(read(&s), 0);
        }
    }
}
