//! The remote tier in MySQL or MariaDB (feature `mysql`).
//!
//! One namespace and version is a set of InnoDB tables, created on first
//! use:
//!
//! | table                          | columns                                                      |
//! |--------------------------------|--------------------------------------------------------------|
//! | `cachelite_{ns}_v{n}`          | `k VARBINARY(2048)` (primary key), `v LONGBLOB`, `expires_at BIGINT` |
//! | `cachelite_{ns}_v{n}_tags`     | `tag VARBINARY(512)`, `k` (primary key both; deleted with the entry) |
//! | `cachelite_{ns}_v{n}_counters` | `k`, `n BIGINT`, `expires_at BIGINT`                          |
//! | `cachelite_{ns}_v{n}_leases`   | `k`, `token`, `expires_at BIGINT`                             |
//! | `cachelite_{ns}_v{n}_changes`  | `id BIGINT` (primary key), `origin`, `msg LONGBLOB`, `created_ms` |
//! | `cachelite_{ns}_v{n}_meta`     | one row: `seq BIGINT`, the last change's id                  |
//!
//! `{ns}` is the namespace encoded as a plain identifier (`[a-z0-9]` as
//! they are, anything else escaped; a long one cut and hashed), so a
//! namespace never reaches SQL text raw. `expires_at` is in milliseconds
//! since the Unix epoch on the database's clock (sessions run in UTC),
//! computed by the database from the TTL; `NULL` never expires.
//!
//! - An expired row reads as absent and is deleted when read; a sweep on
//!   the caller's tokio runtime deletes the rest, and trims the changes
//!   log, every `sweep_interval` (default 60 s), until the last clone of
//!   the store is dropped.
//! - A store-if-absent deletes an expired row and then inserts with `ON
//!   DUPLICATE KEY UPDATE k = k` (no change: not stored); a counter is an
//!   upsert that adds, its TTL set when it is created.
//! - A glob is matched by cachelite's own glob matcher on the keys that
//!   the glob's literal prefix selects (`LIKE` with the prefix escaped),
//!   within the namespace's table only.
//!
//! # Invalidation across processes
//!
//! MySQL has no notifications, so every announcing write appends its
//! invalidation message to the changes log in its own transaction: it
//! bumps the namespace's sequence (`UPDATE .. SET seq =
//! LAST_INSERT_ID(seq + 1)`, which also orders the announcing writes of a
//! namespace, so ids become visible in order) and inserts the message
//! under that id. [`MySqlStore::subscribe`] polls the log every
//! `poll_interval` (default 100 ms) for ids after the last one it saw. A
//! failed poll is a disconnection (no local tier); a gap (the log trimmed
//! past the last id seen) is one too, so the local tier is cleared.
//!
//! Calls use a pool of `pool_size` connections (default 8). TLS is not
//! supported.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cachelite_redis::Error> {
//! use std::time::Duration;
//! use cachelite_redis::{MySqlStore, TieredCache};
//!
//! let store = MySqlStore::builder("mysql://cache@db.internal:3306/app")
//!     .namespace("profiles")
//!     .poll_interval(Duration::from_millis(50))
//!     .build()?;
//! let profiles: TieredCache<u64, String, MySqlStore> = TieredCache::builder(store)
//!     .local_ttl(Duration::from_secs(5))
//!     .ttl(Duration::from_secs(300))
//!     .build()?;
//! let name = profiles.get_or_insert_with(&42, || "Ada".to_string()).await;
//! profiles.invalidate_tags(&["team:7"]).await?;
//! # let _ = name; Ok(()) }
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{
    Conn, IsolationLevel, Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, Transaction,
    TxOpts, Value,
};
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::channel::{Message, Op};
use crate::codec::Codec;
use crate::layers::{Compression, Keyring};
use crate::sql::{
    self, BATCH, Core, SWEEP_BATCH, Settings, Tables, bump, check_key, check_tags, ttl_ms,
};
use crate::{Error, StoreStats};
use crate::{Event, Feed, Outcome, Put, Store};

/// The database's clock in milliseconds since the Unix epoch (sessions
/// run in UTC, so `UNIX_TIMESTAMP` reads no local time). Expiries are set
/// one millisecond past `NOW + ttl`: `NOW` is truncated to the
/// millisecond, and a row must not end before the entry's end in its
/// envelope (computed from a clock estimate before the statement ran).
const NOW: &str = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

/// How long a pooled connection may stay unused before it is closed.
const IDLE_CONNECTION_TTL: Duration = Duration::from_secs(60);

/// Settings for a [`MySqlStore`]; made by [`MySqlStore::builder`].
///
/// ```
/// use std::time::Duration;
/// let store = cachelite_redis::MySqlStore::builder("mysql://root@127.0.0.1:3306/test")
///     .namespace("users")
///     .version(2)
///     .response_timeout(Duration::from_millis(100))
///     .poll_interval(Duration::from_millis(50))
///     .build()?;
/// assert_eq!(store.table(), "cachelite_users_v2");
/// # Ok::<(), cachelite_redis::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MySqlStoreBuilder {
    settings: Settings,
    poll_interval: Duration,
    retention: Duration,
}

impl MySqlStoreBuilder {
    sql::shared_setters!(MySqlStore, "mysql://root@127.0.0.1/test");

    /// The schema version (default 1); a new version uses new tables.
    pub fn version(mut self, version: u32) -> Self {
        self.settings.version = version;
        self
    }

    /// How long one call may take (default 100 ms; a write is a
    /// transaction of a few statements).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.settings.response_timeout = timeout;
        self
    }

    /// The most connections in the pool (default 8).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.settings.pool_size = size;
        self
    }

    /// How often expired rows are swept and the changes log trimmed
    /// (default 60 s).
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.settings.sweep_interval = interval;
        self
    }

    /// How often a feed polls the changes log (default 100 ms): the
    /// longest a local copy outlives a write made elsewhere.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long changes stay in the log (default 60 s). A feed that has
    /// not polled for longer sees a gap and clears its local tier.
    pub fn changes_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Checks the settings and parses the URL. No connection is made here.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid namespace, a zero timeout, interval,
    /// threshold or pool size, or a URL mysql_async does not accept.
    pub fn build(self) -> Result<MySqlStore, Error> {
        let core = self.settings.core(&[self.poll_interval, self.retention])?;
        let opts = Opts::from_url(&self.settings.url)
            .map_err(|e| Error::Config(format!("invalid MySQL URL: {e}")))?;
        let constraints = PoolConstraints::new(0, self.settings.pool_size)
            .ok_or_else(|| Error::Config("invalid pool size".into()))?;
        // The session settings hold for every use of a connection: they
        // run on each new connection, and a connection going back to the
        // pool is not reset (every statement here ends its transaction, so
        // there is no other session state to clear, and a reset would cost
        // a round trip per call and undo these settings). Connections go
        // back to the pool and stay open until unused for a minute: with
        // no such TTL, mysql_async keeps only the minimum (none) idle and
        // closes every other connection returned, so each call would
        // connect, log in and prepare its statement anew.
        let opts: Opts = OptsBuilder::from_opts(opts)
            .setup(vec![
                "SET time_zone = '+00:00'",
                // No gap locks: writers of one namespace do not block (or
                // deadlock on) each other's neighbouring keys.
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            ])
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(constraints)
                    .with_inactive_connection_ttl(IDLE_CONNECTION_TTL)
                    .with_reset_connection(false),
            )
            .into();
        Ok(MySqlStore {
            inner: Arc::new(Inner {
                pool: Mutex::new(None),
                opts,
                schema_ready: OnceCell::new(),
                poll_interval: self.poll_interval,
                retention_ms: ttl_ms(self.retention),
                core,
            }),
        })
    }
}

/// One namespace of a MySQL or MariaDB database, used as the remote tier:
/// entries (bytes) under rendered keys, with millisecond TTLs on the
/// database's clock, tags, globs, counters, leases, and a changes log that
/// announces every write and invalidation. See [the module
/// documentation](crate::mysql).
///
/// Cheap to clone (clones share the pool and counters). Calls must run
/// inside a tokio runtime; each is bounded by the timeouts and guarded by
/// a circuit breaker.
///
/// ```no_run
/// # async fn demo() -> Result<(), cachelite_redis::Error> {
/// use cachelite_redis::{Put, Store};
/// let store = cachelite_redis::MySqlStore::open("mysql://root@127.0.0.1:3306/test", "demo")?;
/// // The store's own operations work on rendered keys and encoded
/// // entries: a `TieredCache` over it is the typed interface.
/// store.put("k", b"v".to_vec(), None, &["t".to_string()], Put::IfAbsent).await?;
/// assert_eq!(store.invalidate_tags(&["t".to_string()], store.origin()).await?, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MySqlStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Made on first use, inside the caller's runtime.
    pool: Mutex<Option<Pool>>,
    opts: Opts,
    schema_ready: OnceCell<()>,
    poll_interval: Duration,
    retention_ms: i64,
    core: Core,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.get_mut().take() {
            // Closes idle connections in the background, when a runtime
            // is still there to run it.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = pool.disconnect().await;
                });
            }
        }
    }
}

/// Runs a transaction's future again, up to three times, when InnoDB
/// chose it as a deadlock's victim (and rolled it back).
macro_rules! retry_deadlocks {
    ($tx:expr) => {{
        let mut attempts = 0;
        loop {
            match $tx.await {
                Err(mysql_async::Error::Server(e))
                    if e.code == ER_LOCK_DEADLOCK && attempts < 3 =>
                {
                    attempts += 1;
                }
                r => break r,
            }
        }
    }};
}

/// MySQL's error code for a transaction rolled back to break a deadlock.
const ER_LOCK_DEADLOCK: u16 = 1213;

fn is_transport(e: &Error) -> bool {
    match e {
        Error::Store(e) => e
            .downcast_ref::<mysql_async::Error>()
            .is_some_and(|e| !matches!(e, mysql_async::Error::Server(_))),
        Error::Timeout => true,
        _ => false,
    }
}

/// `?, ?, ?` for `n` values.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn positional(values: impl IntoIterator<Item = Value>) -> Params {
    Params::Positional(values.into_iter().collect())
}

fn bytes(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

fn tx_opts() -> TxOpts {
    let mut o = TxOpts::default();
    // No gap locks: concurrent writers of one namespace do not deadlock
    // on each other's neighbours.
    o.with_isolation_level(IsolationLevel::ReadCommitted);
    o
}

impl MySqlStore {
    /// A builder for a store at `url`:
    /// `mysql://user:password@host:port/database`.
    pub fn builder(url: impl Into<String>) -> MySqlStoreBuilder {
        MySqlStoreBuilder {
            settings: Settings::new(url.into(), 8),
            poll_interval: Duration::from_millis(100),
            retention: Duration::from_secs(60),
        }
    }

    sql::shared_accessors!(MySqlStore, "mysql://root@127.0.0.1/test");

    /// The entries' table; the others have `_tags`, `_counters`,
    /// `_leases`, `_changes` and `_meta` appended.
    ///
    /// ```
    /// # let store = cachelite_redis::MySqlStore::open("mysql://root@127.0.0.1/test", "My.app")?;
    /// assert_eq!(store.table(), "cachelite__4dy_2eapp_v1");
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[must_use]
    pub fn table(&self) -> &str {
        &self.inner.core.tables.entries
    }

    // ---- connections ----

    fn pool(&self) -> Result<Pool, Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime);
        }
        let mut slot = self.inner.pool.lock();
        Ok(slot
            .get_or_insert_with(|| Pool::new(self.inner.opts.clone()))
            .clone())
    }

    async fn schema(&self, pool: &Pool) -> Result<(), Error> {
        self.inner
            .schema_ready
            .get_or_try_init(|| async {
                let mut conn = pool.get_conn().await?;
                for stmt in schema_sql(&self.inner.core.tables) {
                    conn.query_drop(stmt).await?;
                }
                self.start_sweeper();
                Ok::<(), Error>(())
            })
            .await
            .map(drop)
    }

    /// Runs `run` on a pooled connection under the breaker and a deadline
    /// (a response timeout, plus a connect timeout for a new connection).
    async fn call<T, F, Fut>(&self, run: F) -> Result<T, Error>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = Result<T, mysql_async::Error>>,
    {
        let core = &self.inner.core;
        let pool = match self.pool() {
            Ok(p) => p,
            Err(e) => {
                bump(&core.counters.errors);
                return Err(e);
            }
        };
        core.guarded(is_transport, async {
            self.schema(&pool).await?;
            let conn = pool.get_conn().await?;
            tokio::time::timeout(core.response_timeout, run(conn))
                .await
                .map_err(|_| Error::Timeout)?
                .map_err(Error::from)
        })
        .await
    }

    fn start_sweeper(&self) {
        // Failures are counted; the next round tries again.
        let sweep = |inner| async move {
            let _ = MySqlStore { inner }.sweep().await;
        };
        self.inner
            .core
            .start_sweeper(Arc::downgrade(&self.inner), sweep);
    }

    /// Deletes every expired entry, counter and lease, and the changes
    /// older than the retention, now (the periodic sweep does this every
    /// `sweep_interval`); returns how many rows went.
    ///
    /// # Errors
    /// When the database cannot be reached.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::MySqlStore) -> Result<(), cachelite_redis::Error> {
    /// let swept = store.sweep().await?;
    /// # Ok(()) }
    /// ```
    pub async fn sweep(&self) -> Result<u64, Error> {
        let t = &self.inner.core.tables;
        let batch = SWEEP_BATCH.unsigned_abs();
        let statements = [
            format!(
                "DELETE FROM {} WHERE expires_at <= {NOW} LIMIT {batch}",
                t.entries
            ),
            format!(
                "DELETE FROM {} WHERE expires_at <= {NOW} LIMIT {batch}",
                t.counters
            ),
            format!(
                "DELETE FROM {} WHERE expires_at <= {NOW} LIMIT {batch}",
                t.leases
            ),
            format!(
                "DELETE FROM {} WHERE created_ms < {NOW} - {} LIMIT {batch}",
                t.changes, self.inner.retention_ms
            ),
        ];
        let mut total = 0;
        for stmt in statements {
            loop {
                let s = stmt.clone();
                let n = self
                    .call(|mut c| async move {
                        c.query_drop(s).await?;
                        Ok(c.affected_rows())
                    })
                    .await?;
                total += n;
                if n < batch {
                    break;
                }
            }
        }
        Ok(total)
    }

    // ---- the store's operations, on rendered keys and entry bytes ----

    async fn purge(&self, key: &str) {
        let sql = format!(
            "DELETE FROM {} WHERE k = ? AND expires_at <= {NOW}",
            self.inner.core.tables.entries
        );
        let k = bytes(key);
        // Failures are counted; the sweep deletes it later.
        let _ = self
            .call(|mut c| async move { c.exec_drop(sql, (k,)).await })
            .await;
    }

    async fn announce_alone(&self, op: Op, origin: u64) -> Result<(), Error> {
        let t = self.inner.core.tables.clone();
        self.call(|mut c| async move {
            retry_deadlocks!(async {
                let mut tx = c.start_transaction(tx_opts()).await?;
                announce(&t, &mut tx, op.clone(), origin).await?;
                tx.commit().await
            })
        })
        .await
    }

    async fn delete_matching(&self, glob: &cachelite_runtime::Glob) -> Result<usize, Error> {
        let e = self.inner.core.tables.entries.clone();
        let like = sql::like_prefix(glob);
        let mut after: Vec<u8> = Vec::new();
        let mut deleted = 0;
        loop {
            let sql =
                format!("SELECT k FROM {e} WHERE k LIKE ? AND k > ? ORDER BY k LIMIT {BATCH}");
            let (l, a) = (bytes(&like), Value::Bytes(after.clone()));
            let keys: Vec<Vec<u8>> = self
                .call(|mut c| async move { c.exec(sql, (l, a)).await })
                .await?;
            let page = keys.len();
            if let Some(last) = keys.last() {
                after.clone_from(last);
            }
            let matched: Vec<Value> = keys
                .into_iter()
                .filter(|k| std::str::from_utf8(k).is_ok_and(|k| glob.is_match(k)))
                .map(Value::Bytes)
                .collect();
            if !matched.is_empty() {
                let sql = format!("DELETE FROM {e} WHERE k IN ({})", marks(matched.len()));
                let params = positional(matched);
                deleted += self
                    .call(|mut c| async move {
                        c.exec_drop(sql, params).await?;
                        Ok(c.affected_rows())
                    })
                    .await?;
            }
            if page < BATCH {
                return Ok(usize::try_from(deleted).unwrap_or(usize::MAX));
            }
        }
    }

    /// Drops this namespace's tables. The store is not meant to be used
    /// afterwards; a new one creates them again.
    ///
    /// # Errors
    /// When the database cannot be reached.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::MySqlStore) -> Result<(), cachelite_redis::Error> {
    /// store.drop_tables().await?;
    /// # Ok(()) }
    /// ```
    pub async fn drop_tables(&self) -> Result<(), Error> {
        let t = &self.inner.core.tables;
        let sql = format!(
            "DROP TABLE IF EXISTS {}, {}, {}, {}, {}, {}",
            t.tags, t.entries, t.counters, t.leases, t.changes, t.meta
        );
        let opts = self.inner.opts.clone();
        let run = async move {
            let mut conn = Conn::new(opts).await?;
            conn.query_drop(sql).await?;
            conn.disconnect().await
        };
        tokio::time::timeout(self.inner.core.connect_timeout * 4, run)
            .await
            .map_err(|_| Error::Timeout)?
            .map_err(Error::from)
    }
}

impl Store for MySqlStore {
    type Feed = MySqlFeed;

    sql::shared_store_items!();

    /// The database's clock, in milliseconds since the Unix epoch, as this
    /// process estimates it (measured on first use and every minute).
    ///
    /// # Errors
    /// When the first measurement fails.
    async fn now_ms(&self) -> Result<u64, Error> {
        // Timed around the query alone, on a connection taken beforehand:
        // a connect inside the interval would skew it.
        let measure = || {
            self.call(|mut c| async move {
                let sent = sql::unix_us();
                let db: Option<i64> = c
                    .query_first("SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)")
                    .await?;
                Ok((sent, sql::unix_us(), db))
            })
        };
        self.inner.core.now_ms(measure).await
    }

    /// The entry at `key`; an expired row is absent (and deleted).
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        if check_key(key).is_err() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT v, COALESCE(expires_at <= {NOW}, 0) FROM {} WHERE k = ?",
            self.inner.core.tables.entries
        );
        let k = bytes(key);
        let row: Option<(Vec<u8>, bool)> = self
            .call(|mut c| async move { c.exec_first(sql, (k,)).await })
            .await?;
        match row {
            Some((v, false)) => Ok(Some(v)),
            Some((_, true)) => {
                self.purge(key).await;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// The entries at `keys`, in order, in one statement per 500 keys.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let wanted: Vec<&String> = keys.iter().filter(|k| check_key(k).is_ok()).collect();
        let mut found = std::collections::HashMap::new();
        let mut expired = Vec::new();
        for chunk in wanted.chunks(BATCH) {
            let sql = format!(
                "SELECT k, v, COALESCE(expires_at <= {NOW}, 0) FROM {} WHERE k IN ({})",
                self.inner.core.tables.entries,
                marks(chunk.len())
            );
            let params = positional(chunk.iter().map(|k| bytes(k)));
            let rows: Vec<(Vec<u8>, Vec<u8>, bool)> = self
                .call(|mut c| async move { c.exec(sql, params).await })
                .await?;
            for (k, v, gone) in rows {
                let k = String::from_utf8_lossy(&k).into_owned();
                if gone {
                    expired.push(k);
                } else {
                    found.insert(k, v);
                }
            }
        }
        for k in expired {
            self.purge(&k).await;
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    /// Writes `entry` at `key`, expiring `ttl` after the write on the
    /// database's clock (`None`: never), tagged with `tags`. With an
    /// `origin`, overwrites and announces the write; without, stores only
    /// if the key is absent (an expired row counts as absent) and
    /// announces nothing. Returns whether it was stored.
    ///
    /// # Errors
    /// [`Error::Key`] or [`Error::Encode`] for a key or tag over the limits
    /// (2048 and 512 bytes); otherwise when the database cannot be reached.
    async fn put(
        &self,
        key: &str,
        entry: Vec<u8>,
        ttl: Option<Duration>,
        tags: &[String],
        mode: Put,
    ) -> Result<bool, Error> {
        check_key(key)?;
        check_tags(tags)?;
        let t = self.inner.core.tables.clone();
        let k = key.to_owned();
        let ttl = ttl.map(ttl_ms);
        let mut tags = tags.to_vec();
        tags.sort();
        tags.dedup();
        self.call(|mut c| async move {
            retry_deadlocks!(async {
                let mut tx = c.start_transaction(tx_opts()).await?;
                let stored = if mode == Put::IfAbsent {
                    tx.exec_drop(
                        format!("DELETE FROM {} WHERE k = ? AND expires_at <= {NOW}", t.entries),
                        (bytes(&k),),
                    )
                    .await?;
                    tx.exec_drop(
                        format!(
                            "INSERT INTO {} (k, v, expires_at) VALUES (?, ?, IF(? IS NULL, NULL, {NOW} + 1 + ?)) \
                             ON DUPLICATE KEY UPDATE k = k",
                            t.entries
                        ),
                        (bytes(&k), entry.clone(), ttl, ttl),
                    )
                    .await?;
                    tx.affected_rows() == 1
                } else {
                    tx.exec_drop(
                        format!(
                            "INSERT INTO {} (k, v, expires_at) VALUES (?, ?, IF(? IS NULL, NULL, {NOW} + 1 + ?)) \
                             ON DUPLICATE KEY UPDATE v = VALUES(v), expires_at = VALUES(expires_at)",
                            t.entries
                        ),
                        (bytes(&k), entry.clone(), ttl, ttl),
                    )
                    .await?;
                    tx.exec_drop(format!("DELETE FROM {} WHERE k = ?", t.tags), (bytes(&k),))
                        .await?;
                    true
                };
                if stored && !tags.is_empty() {
                    let sql = format!(
                        "INSERT IGNORE INTO {} (tag, k) VALUES {}",
                        t.tags,
                        vec!["(?, ?)"; tags.len()].join(", ")
                    );
                    let params = positional(tags.iter().flat_map(|tag| [bytes(tag), bytes(&k)]));
                    tx.exec_drop(sql, params).await?;
                }
                if let Put::Announce { origin } = mode {
                    announce(&t, &mut tx, Op::Keys(vec![k.clone()]), origin).await?;
                }
                tx.commit().await?;
                Ok(stored)
            })
        })
        .await
    }

    /// Deletes `key` only if it still holds `entry`. Not announced.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn delete_if_equal(&self, key: &str, entry: &[u8]) -> Result<bool, Error> {
        let sql = format!(
            "DELETE FROM {} WHERE k = ? AND v = ?",
            self.inner.core.tables.entries
        );
        let (k, v) = (bytes(key), entry.to_vec());
        self.call(|mut c| async move {
            c.exec_drop(sql, (k, v)).await?;
            Ok(c.affected_rows() > 0)
        })
        .await
    }

    /// Deletes `key` and its counter; returns whether a live entry or
    /// counter was there. Announced from `origin`.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn remove(&self, key: &str, origin: u64) -> Result<bool, Error> {
        let t = self.inner.core.tables.clone();
        let k = key.to_owned();
        self.call(|mut c| async move {
            retry_deadlocks!(async {
                let mut tx = c.start_transaction(tx_opts()).await?;
                let mut live = false;
                for table in [&t.entries, &t.counters] {
                    tx.exec_drop(
                        format!(
                            "DELETE FROM {table} WHERE k = ? \
                             AND (expires_at IS NULL OR expires_at > {NOW})"
                        ),
                        (bytes(&k),),
                    )
                    .await?;
                    live |= tx.affected_rows() > 0;
                    tx.exec_drop(format!("DELETE FROM {table} WHERE k = ?"), (bytes(&k),))
                        .await?;
                }
                announce(&t, &mut tx, Op::Keys(vec![k.clone()]), origin).await?;
                tx.commit().await?;
                Ok(live)
            })
        })
        .await
    }

    /// Deletes every entry carrying any of `tags` (their tag rows go with
    /// them); returns how many went. Announced from `origin`.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn invalidate_tags(&self, tags: &[String], origin: u64) -> Result<usize, Error> {
        let t = self.inner.core.tables.clone();
        let tags = tags.to_vec();
        self.call(|mut c| async move {
            retry_deadlocks!(async {
                let mut tx = c.start_transaction(tx_opts()).await?;
                let mut deleted = 0;
                for chunk in tags.chunks(BATCH) {
                    let sql = format!(
                        "DELETE FROM {} WHERE k IN (SELECT k FROM {} WHERE tag IN ({}))",
                        t.entries,
                        t.tags,
                        marks(chunk.len())
                    );
                    tx.exec_drop(sql, positional(chunk.iter().map(|tag| bytes(tag))))
                        .await?;
                    deleted += tx.affected_rows();
                }
                announce(&t, &mut tx, Op::Tags(tags.clone()), origin).await?;
                tx.commit().await?;
                Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
            })
        })
        .await
    }

    /// Deletes every entry whose key matches the glob `pattern`; returns
    /// how many went. Keys are selected by the pattern's literal prefix
    /// and matched by cachelite's glob matcher, in this namespace's table
    /// only. Announced from `origin`, even
    /// after a partial failure.
    ///
    /// # Errors
    /// [`Error::Glob`] for an invalid pattern (nothing announced);
    /// otherwise when the database cannot be reached.
    async fn invalidate_glob(&self, pattern: &str, origin: u64) -> Result<usize, Error> {
        let glob = cachelite_runtime::Glob::new(pattern).map_err(|e| Error::Glob(e.to_string()))?;
        let outcome = self.delete_matching(&glob).await;
        let announced = self
            .announce_alone(Op::Glob(pattern.to_owned()), origin)
            .await;
        outcome.and_then(|n| announced.map(|()| n))
    }

    /// Deletes every entry, tag, counter and lease of this namespace and
    /// version, and nothing else; returns how many entries and counters
    /// went. Announced from `origin`.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn clear(&self, origin: u64) -> Result<usize, Error> {
        let t = self.inner.core.tables.clone();
        self.call(|mut c| async move {
            retry_deadlocks!(async {
                let mut tx = c.start_transaction(tx_opts()).await?;
                let mut deleted = 0;
                for (table, counted) in [
                    (&t.tags, false),
                    (&t.entries, true),
                    (&t.counters, true),
                    (&t.leases, false),
                ] {
                    tx.query_drop(format!("DELETE FROM {table}")).await?;
                    if counted {
                        deleted += tx.affected_rows();
                    }
                }
                announce(&t, &mut tx, Op::Clear, origin).await?;
                tx.commit().await?;
                Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
            })
        })
        .await
    }

    /// Adds `delta` to the counter at `key` and returns the new value,
    /// atomically. A counter is created at 0 (expiring `ttl_on_create`
    /// after, when given); later calls keep its expiry. Counters are not
    /// entries: [`MySqlStore::get`] does not see them.
    ///
    /// # Errors
    /// [`Error::Key`] for a key over the limit; otherwise when the database
    /// cannot be reached, or the sum overflows 64 bits.
    async fn incr(
        &self,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> Result<i64, Error> {
        check_key(key)?;
        let c_table = self.inner.core.tables.counters.clone();
        let k = key.to_owned();
        let ttl = ttl_on_create.map(ttl_ms);
        let expired = format!("(expires_at IS NOT NULL AND expires_at <= {NOW})");
        self.call(|mut c| async move {
            retry_deadlocks!(async {
                let mut tx = c.start_transaction(tx_opts()).await?;
                tx.exec_drop(
                    format!(
                        "INSERT INTO {c_table} (k, n, expires_at) VALUES (?, ?, IF(? IS NULL, NULL, {NOW} + 1 + ?)) \
                         ON DUPLICATE KEY UPDATE n = IF({expired}, VALUES(n), n + VALUES(n)), \
                         expires_at = IF({expired}, VALUES(expires_at), expires_at)"
                    ),
                    (bytes(&k), delta, ttl, ttl),
                )
                .await?;
                let n: Option<i64> = tx
                    .exec_first(format!("SELECT n FROM {c_table} WHERE k = ?"), (bytes(&k),))
                    .await?;
                tx.commit().await?;
                Ok(n.unwrap_or(0))
            })
        })
        .await
    }

    /// Takes the lease on `key` for `ttl` if nobody holds it (a lease row
    /// with an expiry): `Some(token)` if taken.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<Option<String>, Error> {
        check_key(key)?;
        let l = self.inner.core.tables.leases.clone();
        let token = format!("{:032x}", fastrand::u128(..));
        let (k, tok, ms) = (key.to_owned(), token.clone(), ttl_ms(ttl));
        let taken = self
            .call(|mut c| async move {
                c.exec_drop(
                    format!("DELETE FROM {l} WHERE k = ? AND expires_at <= {NOW}"),
                    (bytes(&k),),
                )
                .await?;
                c.exec_drop(
                    format!(
                        "INSERT INTO {l} (k, token, expires_at) VALUES (?, ?, {NOW} + ?) \
                         ON DUPLICATE KEY UPDATE k = k"
                    ),
                    (bytes(&k), tok, ms),
                )
                .await?;
                Ok(c.affected_rows() == 1)
            })
            .await?;
        Ok(taken.then_some(token))
    }

    /// Releases the lease on `key` if `token` still holds it.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn release_lease(&self, key: &str, token: &str) -> Result<(), Error> {
        let sql = format!(
            "DELETE FROM {} WHERE k = ? AND token = ?",
            self.inner.core.tables.leases
        );
        let (k, t) = (bytes(key), token.to_owned());
        self.call(|mut c| async move { c.exec_drop(sql, (k, t)).await })
            .await
    }

    /// The entry at `key` and whether its lease is held, in one statement.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn poll_lease(&self, key: &str) -> Result<(Option<Vec<u8>>, bool), Error> {
        let t = &self.inner.core.tables;
        let sql = format!(
            "SELECT (SELECT v FROM {} WHERE k = ? AND (expires_at IS NULL OR expires_at > {NOW})), \
             EXISTS (SELECT 1 FROM {} WHERE k = ? AND expires_at > {NOW})",
            t.entries, t.leases
        );
        let (a, b) = (bytes(key), bytes(key));
        let row: Option<(Option<Vec<u8>>, bool)> = self
            .call(|mut c| async move { c.exec_first(sql, (a, b)).await })
            .await?;
        Ok(row.unwrap_or((None, false)))
    }

    /// A round trip to the database.
    ///
    /// # Errors
    /// When the database is unreachable or slow, or the breaker is open.
    async fn ping(&self) -> Result<Duration, Error> {
        let start = Instant::now();
        self.call(|mut c| async move { c.ping().await }).await?;
        Ok(start.elapsed())
    }

    /// The invalidation feed: polls the changes log every `poll_interval`
    /// on a connection of its own. The polls are its heartbeat, so
    /// `heartbeat` is unused.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::MySqlStore) {
    /// use cachelite_redis::{Feed, Store};
    /// let mut feed = store.subscribe(std::time::Duration::from_secs(1));
    /// loop {
    ///     println!("{:?}", feed.next().await);
    /// }
    /// # }
    /// ```
    fn subscribe(&self, heartbeat: Duration) -> MySqlFeed {
        let _ = heartbeat;
        MySqlFeed {
            store: self.clone(),
            live: None,
            pending: std::collections::VecDeque::new(),
            backoff: Duration::ZERO,
        }
    }
}

/// Appends `op` to the changes log inside `tx`.
async fn announce(
    tables: &Tables,
    tx: &mut Transaction<'_>,
    op: Op,
    origin: u64,
) -> Result<(), mysql_async::Error> {
    tx.query_drop(format!(
        "UPDATE {} SET seq = LAST_INSERT_ID(seq + 1) WHERE id = 1",
        tables.meta
    ))
    .await?;
    tx.exec_drop(
        format!(
            "INSERT INTO {} (id, origin, msg, created_ms) VALUES (LAST_INSERT_ID(), ?, ?, {NOW})",
            tables.changes
        ),
        (origin, Message { origin, op }.encode()),
    )
    .await
}

fn schema_sql(t: &Tables) -> Vec<String> {
    let (e, tg, c, l, ch, m) = (
        &t.entries,
        &t.tags,
        &t.counters,
        &t.leases,
        &t.changes,
        &t.meta,
    );
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {e} (k VARBINARY(2048) NOT NULL PRIMARY KEY, \
             v LONGBLOB NOT NULL, expires_at BIGINT NULL, KEY expiry (expires_at)) ENGINE=InnoDB"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {tg} (tag VARBINARY(512) NOT NULL, k VARBINARY(2048) NOT NULL, \
             PRIMARY KEY (tag, k), KEY by_key (k), \
             CONSTRAINT {tg}_fk FOREIGN KEY (k) REFERENCES {e} (k) ON DELETE CASCADE) ENGINE=InnoDB"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {c} (k VARBINARY(2048) NOT NULL PRIMARY KEY, \
             n BIGINT NOT NULL, expires_at BIGINT NULL, KEY expiry (expires_at)) ENGINE=InnoDB"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {l} (k VARBINARY(2048) NOT NULL PRIMARY KEY, \
             token VARBINARY(64) NOT NULL, expires_at BIGINT NOT NULL, KEY expiry (expires_at)) ENGINE=InnoDB"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {ch} (id BIGINT NOT NULL PRIMARY KEY, \
             origin BIGINT UNSIGNED NOT NULL, msg LONGBLOB NOT NULL, created_ms BIGINT NOT NULL, \
             KEY created (created_ms)) ENGINE=InnoDB"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {m} (id TINYINT NOT NULL PRIMARY KEY, seq BIGINT NOT NULL) \
             ENGINE=InnoDB"
        ),
        format!("INSERT IGNORE INTO {m} (id, seq) VALUES (1, 0)"),
    ]
}

/// A [`MySqlStore`]'s invalidation feed: polls the changes log. Made by
/// [`MySqlStore::subscribe`]; dropping it closes its connection.
#[derive(Debug)]
pub struct MySqlFeed {
    store: MySqlStore,
    live: Option<Polling>,
    pending: std::collections::VecDeque<Event>,
    backoff: Duration,
}

#[derive(Debug)]
struct Polling {
    conn: Conn,
    /// The id of the last change seen.
    last: i64,
    next_poll: tokio::time::Instant,
}

/// Changes read per poll.
const POLL_BATCH: usize = 500;

/// What one poll found.
enum Polled {
    Changes(Vec<(i64, u64, Vec<u8>)>),
    /// Changes after the last one seen were trimmed before we read them.
    Gap,
}

impl MySqlFeed {
    async fn start(&self) -> Result<Polling, Error> {
        let store = &self.store;
        let pool = store.pool()?;
        store.schema(&pool).await?;
        let mut conn = Conn::new(store.inner.opts.clone()).await?;
        let last: Option<i64> = conn
            .query_first(format!(
                "SELECT seq FROM {} WHERE id = 1",
                store.inner.core.tables.meta
            ))
            .await?;
        Ok(Polling {
            conn,
            last: last.unwrap_or(0),
            next_poll: tokio::time::Instant::now() + store.inner.poll_interval,
        })
    }

    async fn poll(tables: &Tables, p: &mut Polling) -> Result<Polled, mysql_async::Error> {
        // One statement, one snapshot: the sequence and the log agree.
        let sql = format!(
            "SELECT m.seq, c.id, c.origin, c.msg FROM {} m LEFT JOIN {} c ON c.id > ? \
             WHERE m.id = 1 ORDER BY c.id LIMIT {POLL_BATCH}",
            tables.meta, tables.changes
        );
        type Row = (i64, Option<i64>, Option<u64>, Option<Vec<u8>>);
        let rows: Vec<Row> = p.conn.exec(sql, (p.last,)).await?;
        let seq = rows.first().map_or(p.last, |r| r.0);
        let changes: Vec<(i64, u64, Vec<u8>)> = rows
            .into_iter()
            .filter_map(|(_, id, origin, msg)| Some((id?, origin?, msg?)))
            .collect();
        let gap = match changes.first() {
            Some((id, ..)) => *id != p.last + 1,
            None => seq > p.last,
        };
        Ok(if gap {
            Polled::Gap
        } else {
            Polled::Changes(changes)
        })
    }
}

impl Feed for MySqlFeed {
    /// The next event: [`Event::Connected`] once polling (connecting,
    /// with a backoff, as needed), then announcements, and
    /// [`Event::Disconnected`] when a poll fails or finds a gap.
    async fn next(&mut self) -> Event {
        let inner = Arc::clone(&self.store.inner);
        let deadline = inner.core.connect_timeout + inner.core.response_timeout;
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return ev;
            }
            let Some(live) = &mut self.live else {
                if !self.backoff.is_zero() {
                    tokio::time::sleep(self.backoff).await;
                }
                if let Ok(Ok(p)) = tokio::time::timeout(deadline, self.start()).await {
                    self.live = Some(p);
                    self.backoff = Duration::ZERO;
                    return Event::Connected;
                }
                self.backoff =
                    (self.backoff * 2).clamp(Duration::from_millis(50), Duration::from_secs(1));
                continue;
            };
            tokio::time::sleep_until(live.next_poll).await;
            live.next_poll = tokio::time::Instant::now() + inner.poll_interval;
            match tokio::time::timeout(deadline, Self::poll(&inner.core.tables, live)).await {
                Ok(Ok(Polled::Changes(changes))) => {
                    for (id, _, msg) in changes {
                        live.last = id;
                        self.pending.push_back(match Message::decode(&msg) {
                            Some(m) => Event::Message(m),
                            None => Event::Unreadable,
                        });
                    }
                }
                _ => {
                    // A failed poll, or a gap: what was missed is unknown.
                    self.live = None;
                    return Event::Disconnected;
                }
            }
        }
    }
}

impl From<mysql_async::Error> for Error {
    fn from(e: mysql_async::Error) -> Self {
        Error::Store(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_errors() {
        let b = || MySqlStore::builder("mysql://root@127.0.0.1/test");
        assert!(matches!(
            b().namespace("a b").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(b().pool_size(0).build(), Err(Error::Config(_))));
        assert!(matches!(
            b().poll_interval(Duration::ZERO).build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            MySqlStore::open("postgres://h/db", "a"),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn calls_outside_a_runtime_are_errors_not_panics() {
        let store = MySqlStore::open("mysql://root@127.0.0.1:1/test", "a").unwrap();
        let r = futures::executor::block_on(store.get("k"));
        assert!(matches!(r, Err(Error::NoRuntime)), "{r:?}");
        assert_eq!(store.stats().errors, 1);
    }
}
