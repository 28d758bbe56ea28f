//! The remote tier in PostgreSQL (feature `postgres`).
//!
//! One namespace and version is a set of tables, created on first use:
//!
//! | table                          | columns                                                  |
//! |--------------------------------|----------------------------------------------------------|
//! | `cachelite_{ns}_v{n}`          | `key text` (primary key), `value bytea`, `expires_at bigint` |
//! | `cachelite_{ns}_v{n}_tags`     | `tag text`, `key text` (primary key both; deleted with the entry) |
//! | `cachelite_{ns}_v{n}_counters` | `key text`, `value bigint`, `expires_at bigint`          |
//! | `cachelite_{ns}_v{n}_leases`   | `key text`, `token text`, `expires_at bigint`            |
//!
//! `{ns}` is the namespace encoded as a plain identifier (`[a-z0-9]` as
//! they are, anything else escaped; a long one cut and hashed), so a
//! namespace never reaches SQL text raw. Keys compare as bytes (`COLLATE
//! "C"`). `expires_at` is in milliseconds since the Unix epoch on the
//! database's clock, computed by the database from the TTL; `NULL` never
//! expires. The tables are `UNLOGGED` by default: faster writes, and after
//! a crash of the server they come back empty, which is a correct state
//! for a cache.
//!
//! - An expired row reads as absent and is deleted when read; a sweep on
//!   the caller's tokio runtime deletes the rest every `sweep_interval`
//!   (default 60 s), and stops when the last clone of the store is
//!   dropped.
//! - Every write is one statement: an overwrite is an upsert that also
//!   replaces the entry's tags and calls `pg_notify`; a store-if-absent is
//!   `INSERT .. ON CONFLICT DO UPDATE .. WHERE` the row there has expired;
//!   invalidating tags deletes the tagged rows in one `DELETE`; a counter
//!   is an upsert that adds and returns, its TTL set when it is created.
//! - A glob is matched by cachelite's own glob matcher on the keys that
//!   the glob's literal prefix selects (`LIKE` with the prefix escaped),
//!   within the namespace's table only.
//! - Announcements go out with `NOTIFY` on the channel named like the
//!   entries' table, in the writing statement's transaction, so a listener
//!   hears of a write only once it is visible. The payload is the
//!   invalidation message in base64; one over PostgreSQL's 8000-byte limit
//!   is split, or sent as a clear.
//! - [`PostgresStore::subscribe`] listens on its own connection; losing it
//!   is a disconnection (no local tier) until it is listening again.
//!
//! Calls use a few shared connections (`pool_size`, default 4), each
//! carrying many concurrent queries at once, with statements prepared once
//! per connection. TLS is not supported: a URL with `sslmode=require` is a
//! configuration error.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cachelite_redis::Error> {
//! use std::time::Duration;
//! use cachelite_redis::{PostgresStore, TieredCache};
//!
//! let store = PostgresStore::builder("postgres://cache@db.internal/app")
//!     .namespace("profiles")
//!     .response_timeout(Duration::from_millis(50))
//!     .build()?;
//! let profiles: TieredCache<u64, String, PostgresStore> = TieredCache::builder(store)
//!     .local_ttl(Duration::from_secs(5))
//!     .ttl(Duration::from_secs(300))
//!     .build()?;
//! let name = profiles.get_or_insert_with(&42, || "Ada".to_string()).await;
//! profiles.invalidate_tags(&["team:7"]).await?;
//! # let _ = name; Ok(()) }
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::{OnceCell, mpsc};
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Statement};

use crate::Error;
use crate::StoreStats;
use crate::channel::{Message, Op};
use crate::codec::Codec;
use crate::layers::{Compression, Keyring};
use crate::sql::{self, BATCH, Core, SWEEP_BATCH, Settings, Tables, ttl_ms};
use crate::{Event, Feed, Outcome, Put, Store};

/// The most bytes of one `NOTIFY` payload (PostgreSQL's limit is 8000).
const MAX_PAYLOAD: usize = 7900;

/// The database's clock in milliseconds since the Unix epoch.
const NOW: &str = "(floor(extract(epoch from clock_timestamp()) * 1000))::bigint";

/// Settings for a [`PostgresStore`]; made by [`PostgresStore::builder`].
///
/// ```
/// use std::time::Duration;
/// let store = cachelite_redis::PostgresStore::builder("postgres://postgres@127.0.0.1/test")
///     .namespace("users")
///     .version(2)
///     .connect_timeout(Duration::from_millis(500))
///     .response_timeout(Duration::from_millis(100))
///     .pool_size(2)
///     .build()?;
/// assert_eq!(store.table(), "cachelite_users_v2");
/// # Ok::<(), cachelite_redis::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PostgresStoreBuilder {
    settings: Settings,
    unlogged: bool,
}

impl PostgresStoreBuilder {
    sql::shared_setters!(PostgresStore, "postgres://postgres@127.0.0.1/test");

    /// The schema version (default 1). Bump it when the value type changes
    /// shape: a new version uses new tables.
    pub fn version(mut self, version: u32) -> Self {
        self.settings.version = version;
        self
    }

    /// How long one statement may take (default 100 ms).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.settings.response_timeout = timeout;
        self
    }

    /// How many connections calls share (default 4). Each carries many
    /// concurrent statements.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.settings.pool_size = size;
        self
    }

    /// How often expired rows are swept (default 60 s).
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.settings.sweep_interval = interval;
        self
    }

    /// Whether tables this store creates are `UNLOGGED` (default true):
    /// faster writes, emptied by a server crash, not replicated. Tables
    /// that exist already are used as they are.
    pub fn unlogged(mut self, unlogged: bool) -> Self {
        self.unlogged = unlogged;
        self
    }

    /// Checks the settings and parses the URL. No connection is made here:
    /// the first call connects (and creates the tables), from inside a
    /// tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid namespace, a zero timeout, interval,
    /// threshold or pool size, a URL tokio-postgres does not accept, or one
    /// that requires TLS.
    pub fn build(self) -> Result<PostgresStore, Error> {
        let core = self.settings.core(&[])?;
        let mut config = Config::from_str(&self.settings.url)
            .map_err(|e| Error::Config(format!("invalid PostgreSQL URL: {e}")))?;
        if matches!(config.get_ssl_mode(), SslMode::Require) {
            return Err(Error::Config(
                "sslmode=require: TLS connections to PostgreSQL are not supported".into(),
            ));
        }
        config.ssl_mode(SslMode::Disable);
        config.connect_timeout(self.settings.connect_timeout);
        config.application_name("cachelite");
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                config,
                slots: (0..self.settings.pool_size)
                    .map(|_| tokio::sync::Mutex::new(None))
                    .collect(),
                next_slot: std::sync::atomic::AtomicUsize::new(0),
                schema_ready: OnceCell::new(),
                schema: schema_sql(&core.tables, self.unlogged),
                channel: core.tables.entries.clone(),
                queries: Queries::new(&core.tables),
                core,
            }),
        })
    }
}

/// One namespace of a PostgreSQL database, used as the remote tier:
/// entries (bytes) under rendered keys, with millisecond TTLs on the
/// database's clock, tags, globs, counters, leases, and an announcement
/// (`NOTIFY`) for every write and invalidation. See [the module
/// documentation](crate::postgres) for the tables and statements.
///
/// Cheap to clone (clones share the connections and counters). Calls must
/// run inside a tokio runtime; each is bounded by the timeouts and guarded
/// by a circuit breaker.
///
/// ```no_run
/// # async fn demo() -> Result<(), cachelite_redis::Error> {
/// use cachelite_redis::{Put, Store};
/// let store = cachelite_redis::PostgresStore::open("postgres://postgres@127.0.0.1/test", "demo")?;
/// // The store's own operations work on rendered keys and encoded
/// // entries: a `TieredCache` over it is the typed interface.
/// store.put("k", b"v".to_vec(), None, &["t".to_string()], Put::IfAbsent).await?;
/// assert_eq!(store.invalidate_tags(&["t".to_string()], store.origin()).await?, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    slots: Vec<tokio::sync::Mutex<Option<Arc<Conn>>>>,
    next_slot: std::sync::atomic::AtomicUsize,
    schema_ready: OnceCell<()>,
    schema: String,
    channel: String,
    queries: Queries,
    core: Core,
}

/// One connection and the statements prepared on it.
#[derive(Debug)]
struct Conn {
    client: Client,
    statements: Mutex<Vec<Option<Statement>>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

macro_rules! queries {
    ($($name:ident),* $(,)?) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy)]
        enum Q { $($name),* }
        const QUERY_COUNT: usize = [$(Q::$name),*].len();
    };
}

queries!(
    Now,
    Get,
    GetMany,
    PurgeKey,
    PutAnnounce,
    PutIfAbsent,
    DeleteIfEqual,
    Remove,
    InvalidateTags,
    ScanLike,
    DeleteKeys,
    Notify,
    Clear,
    Incr,
    TryLease,
    ReleaseLease,
    PollLease,
    SweepEntries,
    SweepCounters,
    SweepLeases,
);

/// The statements of one namespace, in the order of [`Q`].
#[derive(Debug)]
struct Queries(Vec<String>);

impl Queries {
    fn new(t: &Tables) -> Self {
        let (e, tg, c, l) = (&t.entries, &t.tags, &t.counters, &t.leases);
        let notify = "(SELECT count(*) FROM (SELECT pg_notify($N, p) FROM unnest($P::text[]) p) n)";
        let notify_at = |n: usize, p: usize| {
            notify
                .replace("$N", &format!("${n}"))
                .replace("$P", &format!("${p}"))
        };
        let expiry = |p: usize| {
            format!("CASE WHEN ${p}::bigint IS NULL THEN NULL ELSE {NOW} + ${p}::bigint END")
        };
        let live = format!("(expires_at IS NULL OR expires_at > {NOW})");
        let q = vec![
            // Now, in microseconds
            "SELECT (floor(extract(epoch from clock_timestamp()) * 1000000))::bigint".to_owned(),
            // Get
            format!("SELECT value, NOT {live} FROM {e} WHERE key = $1"),
            // GetMany
            format!("SELECT key, value, NOT {live} FROM {e} WHERE key = ANY($1::text[])"),
            // PurgeKey
            format!("DELETE FROM {e} WHERE key = $1 AND expires_at <= {NOW}"),
            // PutAnnounce: the entry, its tags replaced, the announcement.
            format!(
                "WITH up AS (INSERT INTO {e} (key, value, expires_at) VALUES ($1, $2, {exp}) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at \
                 RETURNING key), \
                 old AS (DELETE FROM {tg} WHERE key = $1 AND NOT (tag = ANY($4::text[]))), \
                 tg AS (INSERT INTO {tg} (tag, key) SELECT DISTINCT t, up.key FROM up, unnest($4::text[]) t \
                 ON CONFLICT DO NOTHING) \
                 SELECT (SELECT count(*) FROM up), {n}",
                exp = expiry(3),
                n = notify_at(5, 6)
            ),
            // PutIfAbsent: stored over nothing or over an expired row.
            format!(
                "WITH up AS (INSERT INTO {e} AS e (key, value, expires_at) VALUES ($1, $2, {exp}) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at \
                 WHERE e.expires_at IS NOT NULL AND e.expires_at <= {NOW} RETURNING key), \
                 old AS (DELETE FROM {tg} WHERE key IN (SELECT key FROM up) AND NOT (tag = ANY($4::text[]))), \
                 tg AS (INSERT INTO {tg} (tag, key) SELECT DISTINCT t, up.key FROM up, unnest($4::text[]) t \
                 ON CONFLICT DO NOTHING) \
                 SELECT count(*) FROM up",
                exp = expiry(3)
            ),
            // DeleteIfEqual
            format!("DELETE FROM {e} WHERE key = $1 AND value = $2"),
            // Remove: the entry (its tags follow), its counter, announced;
            // counts what was live.
            format!(
                "WITH d AS (DELETE FROM {e} WHERE key = $1 RETURNING {live} AS live), \
                 c AS (DELETE FROM {c} WHERE key = $1 RETURNING {live} AS live) \
                 SELECT (SELECT count(*) FROM d WHERE live) + (SELECT count(*) FROM c WHERE live), {n}",
                n = notify_at(2, 3)
            ),
            // InvalidateTags
            format!(
                "WITH d AS (DELETE FROM {e} WHERE key IN (SELECT key FROM {tg} WHERE tag = ANY($1::text[])) \
                 RETURNING 1) SELECT (SELECT count(*) FROM d), {n}",
                n = notify_at(2, 3)
            ),
            // ScanLike: one page of keys under a prefix, after a key.
            format!(
                "SELECT key FROM {e} WHERE key LIKE $1 AND key > $2 ORDER BY key LIMIT {BATCH}"
            ),
            // DeleteKeys
            format!(
                "WITH d AS (DELETE FROM {e} WHERE key = ANY($1::text[]) RETURNING 1) SELECT count(*) FROM d"
            ),
            // Notify
            format!("SELECT {}", notify_at(1, 2)),
            // Clear
            format!(
                "WITH e AS (DELETE FROM {e} RETURNING 1), c AS (DELETE FROM {c} RETURNING 1), \
                 l AS (DELETE FROM {l}) \
                 SELECT (SELECT count(*) FROM e) + (SELECT count(*) FROM c), {n}",
                n = notify_at(1, 2)
            ),
            // Incr: an expired counter starts again.
            format!(
                "INSERT INTO {c} AS c (key, value, expires_at) VALUES ($1, $2, {exp}) \
                 ON CONFLICT (key) DO UPDATE SET \
                 value = CASE WHEN c.expires_at IS NOT NULL AND c.expires_at <= {NOW} \
                   THEN EXCLUDED.value ELSE c.value + EXCLUDED.value END, \
                 expires_at = CASE WHEN c.expires_at IS NOT NULL AND c.expires_at <= {NOW} \
                   THEN EXCLUDED.expires_at ELSE c.expires_at END \
                 RETURNING value",
                exp = expiry(3)
            ),
            // TryLease
            format!(
                "INSERT INTO {l} AS l (key, token, expires_at) VALUES ($1, $2, {NOW} + $3::bigint) \
                 ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at \
                 WHERE l.expires_at <= {NOW} RETURNING token"
            ),
            // ReleaseLease
            format!("DELETE FROM {l} WHERE key = $1 AND token = $2"),
            // PollLease
            format!(
                "SELECT (SELECT value FROM {e} WHERE key = $1 AND {live}), \
                 EXISTS (SELECT 1 FROM {l} WHERE key = $1 AND expires_at > {NOW})"
            ),
            // SweepEntries
            format!(
                "DELETE FROM {e} WHERE key IN (SELECT key FROM {e} WHERE expires_at <= {NOW} LIMIT {SWEEP_BATCH})"
            ),
            // SweepCounters
            format!(
                "DELETE FROM {c} WHERE key IN (SELECT key FROM {c} WHERE expires_at <= {NOW} LIMIT {SWEEP_BATCH})"
            ),
            // SweepLeases
            format!(
                "DELETE FROM {l} WHERE key IN (SELECT key FROM {l} WHERE expires_at <= {NOW} LIMIT {SWEEP_BATCH})"
            ),
        ];
        debug_assert_eq!(q.len(), QUERY_COUNT);
        Queries(q)
    }

    fn get(&self, q: Q) -> &str {
        &self.0[q as usize]
    }
}

fn schema_sql(t: &Tables, unlogged: bool) -> String {
    let (e, tg, c, l) = (&t.entries, &t.tags, &t.counters, &t.leases);
    let kind = if unlogged { "UNLOGGED " } else { "" };
    // Serialized by an advisory lock on the namespace: concurrent `CREATE
    // .. IF NOT EXISTS` of one table can otherwise fail. One simple query
    // is one transaction.
    let lock = i64::from_ne_bytes(sql::fnv64(e.as_bytes()).to_ne_bytes());
    format!(
        "SELECT pg_advisory_xact_lock({lock}); \
         CREATE {kind}TABLE IF NOT EXISTS {e} (key text COLLATE \"C\" PRIMARY KEY, value bytea NOT NULL, expires_at bigint); \
         CREATE INDEX IF NOT EXISTS {e}_exp ON {e} (expires_at) WHERE expires_at IS NOT NULL; \
         CREATE {kind}TABLE IF NOT EXISTS {tg} (tag text COLLATE \"C\" NOT NULL, \
           key text COLLATE \"C\" NOT NULL REFERENCES {e} (key) ON DELETE CASCADE, PRIMARY KEY (tag, key)); \
         CREATE INDEX IF NOT EXISTS {tg}_key ON {tg} (key); \
         CREATE {kind}TABLE IF NOT EXISTS {c} (key text COLLATE \"C\" PRIMARY KEY, value bigint NOT NULL, expires_at bigint); \
         CREATE INDEX IF NOT EXISTS {c}_exp ON {c} (expires_at) WHERE expires_at IS NOT NULL; \
         CREATE {kind}TABLE IF NOT EXISTS {l} (key text COLLATE \"C\" PRIMARY KEY, token text NOT NULL, expires_at bigint NOT NULL);"
    )
}

/// [`sql::check_key`], and no NUL: PostgreSQL text cannot hold one.
fn check_key(key: &str) -> Result<(), Error> {
    sql::check_key(key)?;
    if key.contains('\0') {
        return Err(Error::Key(
            "a key with a NUL character; PostgreSQL text cannot hold one".into(),
        ));
    }
    Ok(())
}

/// [`sql::check_tags`], and no NUL.
fn check_tags(tags: &[String]) -> Result<(), Error> {
    sql::check_tags(tags)?;
    if tags.iter().any(|t| t.contains('\0')) {
        return Err(Error::Encode(
            "a tag with a NUL character; PostgreSQL text cannot hold one".into(),
        ));
    }
    Ok(())
}

fn is_transport(e: &Error) -> bool {
    match e {
        Error::Store(e) => e
            .downcast_ref::<tokio_postgres::Error>()
            .is_some_and(|e| e.as_db_error().is_none()),
        Error::Timeout => true,
        _ => false,
    }
}

/// The announcement's payloads: base64, each within `NOTIFY`'s limit.
fn payloads(op: Op, origin: u64) -> Vec<String> {
    let len = |m: &Message| m.encode().len().div_ceil(3) * 4;
    sql::split_message(Message { origin, op }, MAX_PAYLOAD, &len)
        .iter()
        .map(|m| B64.encode(m.encode()))
        .collect()
}

impl PostgresStore {
    /// A builder for a store at `url`, a libpq-style URL
    /// (`postgres://user:password@host:port/database?options`) or
    /// key-value string (`host=... user=... dbname=...`).
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            settings: Settings::new(url.into(), 4),
            unlogged: true,
        }
    }

    sql::shared_accessors!(PostgresStore, "postgres://postgres@127.0.0.1/test");

    /// The entries' table; the tags, counters and leases are in tables of
    /// this name with `_tags`, `_counters` and `_leases` appended, and
    /// announcements go out on the channel of this name.
    ///
    /// ```
    /// # let store = cachelite_redis::PostgresStore::open("postgres://postgres@127.0.0.1/test", "My.app")?;
    /// assert_eq!(store.table(), "cachelite__4dy_2eapp_v1");
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[must_use]
    pub fn table(&self) -> &str {
        &self.inner.core.tables.entries
    }

    // ---- connections ----

    async fn connect(&self) -> Result<Conn, Error> {
        let (client, connection) = self.inner.config.connect(NoTls).await?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn {
            client,
            statements: Mutex::new(vec![None; QUERY_COUNT]),
            driver,
        })
    }

    /// A live connection from the pool (connecting one if its slot is
    /// empty or closed), with the tables created and the sweep started.
    async fn conn(&self) -> Result<Arc<Conn>, Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime);
        }
        let inner = &self.inner;
        let i = inner
            .next_slot
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % inner.slots.len();
        let conn = {
            let mut slot = inner.slots[i].lock().await;
            match &*slot {
                Some(c) if !c.client.is_closed() => Arc::clone(c),
                _ => {
                    let c = Arc::new(self.connect().await?);
                    *slot = Some(Arc::clone(&c));
                    c
                }
            }
        };
        inner
            .schema_ready
            .get_or_try_init(|| async {
                conn.client.batch_execute(&inner.schema).await?;
                self.start_sweeper();
                Ok::<(), Error>(())
            })
            .await?;
        Ok(conn)
    }

    async fn statement(&self, conn: &Conn, q: Q) -> Result<Statement, Error> {
        if let Some(s) = &conn.statements.lock()[q as usize] {
            return Ok(s.clone());
        }
        let s = conn.client.prepare(self.inner.queries.get(q)).await?;
        conn.statements.lock()[q as usize] = Some(s.clone());
        Ok(s)
    }

    /// Runs one statement under the breaker and the deadline (one response
    /// timeout, plus a connect timeout while the connection is new).
    async fn call<T, F, Fut>(&self, q: Q, run: F) -> Result<T, Error>
    where
        F: FnOnce(Arc<Conn>, Statement) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let core = &self.inner.core;
        core.guarded(is_transport, async {
            let conn = self.conn().await?;
            let stmt = self.statement(&conn, q).await?;
            Ok(tokio::time::timeout(core.response_timeout, run(conn, stmt))
                .await
                .map_err(|_| Error::Timeout)??)
        })
        .await
    }

    fn start_sweeper(&self) {
        // Failures are counted; the next round tries again.
        let sweep = |inner| async move {
            let _ = PostgresStore { inner }.sweep().await;
        };
        self.inner
            .core
            .start_sweeper(Arc::downgrade(&self.inner), sweep);
    }

    /// Deletes every expired entry, counter and lease now (the periodic
    /// sweep does this every `sweep_interval`); returns how many rows went.
    ///
    /// # Errors
    /// When the database cannot be reached.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::PostgresStore) -> Result<(), cachelite_redis::Error> {
    /// let swept = store.sweep().await?;
    /// # Ok(()) }
    /// ```
    pub async fn sweep(&self) -> Result<u64, Error> {
        let mut total = 0;
        for q in [Q::SweepEntries, Q::SweepCounters, Q::SweepLeases] {
            loop {
                let n = self
                    .call(q, |c, s| async move { c.client.execute(&s, &[]).await })
                    .await?;
                total += n;
                if n < SWEEP_BATCH.unsigned_abs() {
                    break;
                }
            }
        }
        Ok(total)
    }

    // ---- the store's operations, on rendered keys and entry bytes ----

    async fn purge(&self, key: &str) {
        let k = key.to_owned();
        // Failures are counted; the sweep deletes it later.
        let _ = self
            .call(Q::PurgeKey, |c, s| async move {
                c.client.execute(&s, &[&k]).await
            })
            .await;
    }

    async fn notify(&self, payloads: Vec<String>) -> Result<(), Error> {
        let channel = self.inner.channel.clone();
        self.call(Q::Notify, |c, s| async move {
            c.client.query_one(&s, &[&channel, &payloads]).await
        })
        .await
        .map(drop)
    }

    async fn delete_matching(&self, glob: &cachelite_runtime::Glob) -> Result<usize, Error> {
        let like = sql::like_prefix(glob);
        let mut after = String::new();
        let mut deleted = 0;
        loop {
            let (l, a) = (like.clone(), after.clone());
            let rows = self
                .call(Q::ScanLike, |c, s| async move {
                    c.client.query(&s, &[&l, &a]).await
                })
                .await?;
            let page = rows.len();
            let keys: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            if let Some(last) = keys.last() {
                after.clone_from(last);
            }
            let matched: Vec<String> = keys.into_iter().filter(|k| glob.is_match(k)).collect();
            if !matched.is_empty() {
                let n = self
                    .call(Q::DeleteKeys, |c, s| async move {
                        c.client.query_one(&s, &[&matched]).await
                    })
                    .await?;
                deleted += usize::try_from(n.get::<_, i64>(0)).unwrap_or(0);
            }
            if page < BATCH {
                return Ok(deleted);
            }
        }
    }

    /// Drops this namespace's tables (entries, tags, counters, leases).
    /// The store is not meant to be used afterwards; a new one creates
    /// them again.
    ///
    /// # Errors
    /// When the database cannot be reached.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::PostgresStore) -> Result<(), cachelite_redis::Error> {
    /// store.drop_tables().await?;
    /// # Ok(()) }
    /// ```
    pub async fn drop_tables(&self) -> Result<(), Error> {
        let t = &self.inner.core.tables;
        let sql = format!(
            "DROP TABLE IF EXISTS {}, {}, {}, {}",
            t.tags, t.entries, t.counters, t.leases
        );
        let r =
            tokio::time::timeout(self.inner.core.connect_timeout, self.connect_once(&sql)).await;
        r.map_err(|_| Error::Timeout)?
    }

    async fn connect_once(&self, sql: &str) -> Result<(), Error> {
        let (client, conn) = self.inner.config.connect(NoTls).await?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let r = client.batch_execute(sql).await;
        drop(client);
        let _ = driver.await;
        Ok(r?)
    }
}

impl Store for PostgresStore {
    type Feed = PostgresFeed;

    sql::shared_store_items!();

    /// The database's clock, in milliseconds since the Unix epoch, as this
    /// process estimates it (measured on first use and every minute).
    ///
    /// # Errors
    /// When the first measurement fails.
    async fn now_ms(&self) -> Result<u64, Error> {
        // Timed around the query alone, on a connection made beforehand:
        // a connect inside the interval would skew it.
        let measure = || {
            self.call(Q::Now, |c, s| async move {
                let sent = sql::unix_us();
                let db = c.client.query_one(&s, &[]).await?.get::<_, i64>(0);
                Ok((sent, sql::unix_us(), Some(db)))
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
            // Never stored: nothing to read.
            return Ok(None);
        }
        let k = key.to_owned();
        let row = self
            .call(
                Q::Get,
                |c, s| async move { c.client.query_opt(&s, &[&k]).await },
            )
            .await?;
        match row {
            Some(r) if !r.get::<_, bool>(1) => Ok(Some(r.get(0))),
            Some(_) => {
                self.purge(key).await;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// The entries at `keys`, in order, in one statement.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let wanted: Vec<String> = keys
            .iter()
            .filter(|k| check_key(k).is_ok())
            .cloned()
            .collect();
        let mut found = std::collections::HashMap::new();
        let mut expired = Vec::new();
        if !wanted.is_empty() {
            let rows = self
                .call(Q::GetMany, |c, s| async move {
                    c.client.query(&s, &[&wanted]).await
                })
                .await?;
            for r in rows {
                let k: String = r.get(0);
                if r.get::<_, bool>(2) {
                    expired.push(k);
                } else {
                    found.insert(k, r.get::<_, Vec<u8>>(1));
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
        let k = key.to_owned();
        let ttl = ttl.map(ttl_ms);
        let tags = tags.to_vec();
        match mode {
            Put::Announce { origin } => {
                let channel = self.inner.channel.clone();
                let payloads = payloads(Op::Keys(vec![key.to_owned()]), origin);
                self.call(Q::PutAnnounce, |c, s| async move {
                    c.client
                        .query_one(&s, &[&k, &entry, &ttl, &tags, &channel, &payloads])
                        .await
                })
                .await?;
                Ok(true)
            }
            Put::IfAbsent => {
                let row = self
                    .call(Q::PutIfAbsent, |c, s| async move {
                        c.client.query_one(&s, &[&k, &entry, &ttl, &tags]).await
                    })
                    .await?;
                Ok(row.get::<_, i64>(0) > 0)
            }
        }
    }

    /// Deletes `key` only if it still holds `entry`. Not announced.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn delete_if_equal(&self, key: &str, entry: &[u8]) -> Result<bool, Error> {
        let (k, v) = (key.to_owned(), entry.to_vec());
        let n = self
            .call(Q::DeleteIfEqual, |c, s| async move {
                c.client.execute(&s, &[&k, &v]).await
            })
            .await?;
        Ok(n > 0)
    }

    /// Deletes `key` and its counter; returns whether a live entry or
    /// counter was there. Announced from `origin`.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn remove(&self, key: &str, origin: u64) -> Result<bool, Error> {
        let payloads = payloads(Op::Keys(vec![key.to_owned()]), origin);
        if check_key(key).is_err() {
            // Never stored; still announced, as every removal is.
            self.notify(payloads).await?;
            return Ok(false);
        }
        let k = key.to_owned();
        let channel = self.inner.channel.clone();
        let row = self
            .call(Q::Remove, |c, s| async move {
                c.client.query_one(&s, &[&k, &channel, &payloads]).await
            })
            .await?;
        Ok(row.get::<_, i64>(0) > 0)
    }

    /// Deletes every entry carrying any of `tags`, in one statement;
    /// returns how many went. Announced from `origin`.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn invalidate_tags(&self, tags: &[String], origin: u64) -> Result<usize, Error> {
        let tags = tags.to_vec();
        let channel = self.inner.channel.clone();
        let payloads = payloads(Op::Tags(tags.clone()), origin);
        let row = self
            .call(Q::InvalidateTags, |c, s| async move {
                c.client.query_one(&s, &[&tags, &channel, &payloads]).await
            })
            .await?;
        Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
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
            .notify(payloads(Op::Glob(pattern.to_owned()), origin))
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
        let channel = self.inner.channel.clone();
        let payloads = payloads(Op::Clear, origin);
        let row = self
            .call(Q::Clear, |c, s| async move {
                c.client.query_one(&s, &[&channel, &payloads]).await
            })
            .await?;
        Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Adds `delta` to the counter at `key` and returns the new value,
    /// atomically. A counter is created at 0 (expiring `ttl_on_create`
    /// after, when given); later calls keep its expiry. Counters are not
    /// entries: [`PostgresStore::get`] does not see them.
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
        let k = key.to_owned();
        let ttl = ttl_on_create.map(ttl_ms);
        let row = self
            .call(Q::Incr, |c, s| async move {
                c.client.query_one(&s, &[&k, &delta, &ttl]).await
            })
            .await?;
        Ok(row.get(0))
    }

    /// Takes the lease on `key` for `ttl` if nobody holds it (a lease row
    /// with an expiry): `Some(token)` if taken.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<Option<String>, Error> {
        check_key(key)?;
        let token = format!("{:032x}", fastrand::u128(..));
        let (k, t, ms) = (key.to_owned(), token.clone(), ttl_ms(ttl));
        let row = self
            .call(Q::TryLease, |c, s| async move {
                c.client.query_opt(&s, &[&k, &t, &ms]).await
            })
            .await?;
        Ok(row.map(|_| token))
    }

    /// Releases the lease on `key` if `token` still holds it.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn release_lease(&self, key: &str, token: &str) -> Result<(), Error> {
        let (k, t) = (key.to_owned(), token.to_owned());
        self.call(Q::ReleaseLease, |c, s| async move {
            c.client.execute(&s, &[&k, &t]).await
        })
        .await
        .map(drop)
    }

    /// The entry at `key` and whether its lease is held, in one statement.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn poll_lease(&self, key: &str) -> Result<(Option<Vec<u8>>, bool), Error> {
        let k = key.to_owned();
        let row = self
            .call(Q::PollLease, |c, s| async move {
                c.client.query_one(&s, &[&k]).await
            })
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    /// A round trip to the database.
    ///
    /// # Errors
    /// When the database is unreachable or slow, or the breaker is open.
    async fn ping(&self) -> Result<Duration, Error> {
        let start = Instant::now();
        self.call(
            Q::Now,
            |c, s| async move { c.client.query_one(&s, &[]).await },
        )
        .await?;
        Ok(start.elapsed())
    }

    /// The invalidation feed: a connection of its own that `LISTEN`s on
    /// this namespace's channel. `heartbeat` is how often it checks that
    /// the connection still answers.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::PostgresStore) {
    /// use cachelite_redis::{Feed, Store};
    /// let mut feed = store.subscribe(std::time::Duration::from_secs(1));
    /// loop {
    ///     println!("{:?}", feed.next().await);
    /// }
    /// # }
    /// ```
    fn subscribe(&self, heartbeat: Duration) -> PostgresFeed {
        let mut config = self.inner.config.clone();
        config.application_name(format!("cachelite listen {}", self.inner.channel));
        PostgresFeed {
            config,
            channel: self.inner.channel.clone(),
            heartbeat: heartbeat.max(Duration::from_millis(10)),
            timeout: self.inner.core.connect_timeout + self.inner.core.response_timeout,
            live: None,
            backoff: Duration::ZERO,
        }
    }
}

/// A [`PostgresStore`]'s invalidation feed: `LISTEN` on a connection of its
/// own. Made by [`PostgresStore::subscribe`]; dropping it closes the
/// connection.
#[derive(Debug)]
pub struct PostgresFeed {
    config: Config,
    channel: String,
    heartbeat: Duration,
    timeout: Duration,
    live: Option<Listening>,
    backoff: Duration,
}

#[derive(Debug)]
struct Listening {
    client: Client,
    payloads: mpsc::Receiver<String>,
    driver: tokio::task::JoinHandle<()>,
    next_check: tokio::time::Instant,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Notifications buffered between the connection and the feed's reader;
/// a reader that falls further behind is told it is disconnected.
const FEED_BUFFER: usize = 4096;

impl PostgresFeed {
    async fn listen(&self) -> Result<Listening, Error> {
        let (client, mut connection) = self.config.connect(NoTls).await?;
        let (tx, rx) = mpsc::channel(FEED_BUFFER);
        let channel = self.channel.clone();
        let driver = tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(m)) = messages.next().await {
                if let AsyncMessage::Notification(n) = m
                    && n.channel() == channel
                    && tx.try_send(n.payload().to_owned()).is_err()
                {
                    // Full: missed announcements; the reader sees the end
                    // and reconnects.
                    return;
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {}", self.channel))
            .await?;
        Ok(Listening {
            client,
            payloads: rx,
            driver,
            next_check: tokio::time::Instant::now() + self.heartbeat,
        })
    }
}

impl Feed for PostgresFeed {
    /// The next event: [`Event::Connected`] once listening (connecting,
    /// with a backoff, as needed), then announcements, and
    /// [`Event::Disconnected`] as soon as the connection is lost or
    /// stops answering.
    async fn next(&mut self) -> Event {
        loop {
            let Some(live) = &mut self.live else {
                if !self.backoff.is_zero() {
                    tokio::time::sleep(self.backoff).await;
                }
                match tokio::time::timeout(self.timeout, self.listen()).await {
                    Ok(Ok(l)) => {
                        self.live = Some(l);
                        self.backoff = Duration::ZERO;
                        return Event::Connected;
                    }
                    _ => {
                        self.backoff = (self.backoff * 2)
                            .clamp(Duration::from_millis(50), Duration::from_secs(1));
                        continue;
                    }
                }
            };
            tokio::select! {
                payload = live.payloads.recv() => {
                    let Some(p) = payload else {
                        self.live = None;
                        return Event::Disconnected;
                    };
                    return match B64.decode(p.as_bytes()).ok().and_then(|b| Message::decode(&b)) {
                        Some(m) => Event::Message(m),
                        None => Event::Unreadable,
                    };
                }
                () = tokio::time::sleep_until(live.next_check) => {
                    let check = tokio::time::timeout(self.timeout, live.client.batch_execute("SELECT 1"));
                    if matches!(check.await, Ok(Ok(()))) {
                        live.next_check = tokio::time::Instant::now() + self.heartbeat;
                    } else {
                        self.live = None;
                        return Event::Disconnected;
                    }
                }
            }
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Store(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_errors() {
        let b = || PostgresStore::builder("postgres://postgres@127.0.0.1/test");
        assert!(matches!(
            b().namespace("a b").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(b().pool_size(0).build(), Err(Error::Config(_))));
        assert!(matches!(
            b().sweep_interval(Duration::ZERO).build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            PostgresStore::open("postgres://h/db?sslmode=require", "a"),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            PostgresStore::open("postgres://h:notaport/db", "a"),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn payloads_fit_notify_and_decode() {
        let keys: Vec<String> = (0..3000).map(|i| format!("key:{i}")).collect();
        let ps = payloads(Op::Keys(keys.clone()), 9);
        assert!(ps.len() > 1);
        let mut back = Vec::new();
        for p in &ps {
            assert!(p.len() <= MAX_PAYLOAD, "{}", p.len());
            let m = Message::decode(&B64.decode(p).unwrap()).unwrap();
            assert_eq!(m.origin, 9);
            let Op::Keys(k) = m.op else { panic!() };
            back.extend(k);
        }
        assert_eq!(back, keys);
    }

    #[test]
    fn calls_outside_a_runtime_are_errors_not_panics() {
        let store = PostgresStore::open("postgres://postgres@127.0.0.1:1/test", "a").unwrap();
        let r = futures::executor::block_on(store.get("k"));
        assert!(matches!(r, Err(Error::NoRuntime)), "{r:?}");
        assert_eq!(store.stats().errors, 1);
    }
}
