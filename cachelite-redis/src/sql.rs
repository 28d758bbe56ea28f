//! What the SQL stores share: table names, limits, the database's clock,
//! globs as `LIKE` prefixes, the builders' common settings and setters,
//! and the core every store holds (layers, breaker, counters, sweep).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::breaker::Breaker;
use crate::channel::Message;
use crate::codec::Codec;
use crate::layers::{Compression, Keyring, Layers};
use crate::{Error, Outcome, StoreStats};

/// The longest rendered key a SQL store holds, in bytes: the primary key
/// index of either database takes entries of about 2.7 KiB at most.
pub(crate) const MAX_KEY_BYTES: usize = 2048;
/// The longest tag, in bytes (a tag row's index entry holds a tag and a key).
pub(crate) const MAX_TAG_BYTES: usize = 512;
/// Keys per statement when a list of them is deleted, and rows per scan step.
pub(crate) const BATCH: usize = 500;
/// Rows the periodic sweep deletes per statement.
pub(crate) const SWEEP_BATCH: i64 = 1000;

/// The names of one namespace's tables: `cachelite_{ns}_v{version}` and
/// that with `_tags`, `_counters`, `_leases`, `_changes` and `_meta`.
///
/// The namespace is encoded so that any namespace gives a valid, distinct
/// identifier of at most 63 bytes that needs no quoting: `[a-z0-9]` as it
/// is, `_` doubled, any other character as `_` and two hex digits. An
/// encoding longer than 32 bytes is cut and followed by `_x` and a 64-bit
/// FNV-1a hash of the namespace (`x` is no hex digit, so a cut name never
/// equals a whole one; `v` neither, so the version cannot be confused with
/// the namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tables {
    pub(crate) entries: String,
    pub(crate) tags: String,
    pub(crate) counters: String,
    pub(crate) leases: String,
    pub(crate) changes: String,
    pub(crate) meta: String,
}

const MAX_ENCODED: usize = 32;
const CUT_TO: usize = 14;

fn encode_namespace(ns: &str) -> String {
    let mut out = String::with_capacity(ns.len());
    for b in ns.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => out.push(char::from(b)),
            b'_' => out.push_str("__"),
            _ => out.push_str(&format!("_{b:02x}")),
        }
    }
    out
}

/// FNV-1a, 64 bits: the same in every process and every release.
pub(crate) fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Tables {
    pub(crate) fn new(namespace: &str, version: u32) -> Self {
        let mut enc = encode_namespace(namespace);
        if enc.len() > MAX_ENCODED {
            // The longest prefix of the namespace whose encoding fits, so
            // the cut never splits an escape.
            let mut cut = String::new();
            for ch in namespace.chars() {
                let piece = encode_namespace(ch.encode_utf8(&mut [0; 4]));
                if cut.len() + piece.len() > CUT_TO {
                    break;
                }
                cut.push_str(&piece);
            }
            enc = format!("{cut}_x{:016x}", fnv64(namespace.as_bytes()));
        }
        let base = format!("cachelite_{enc}_v{version}");
        Tables {
            tags: format!("{base}_tags"),
            counters: format!("{base}_counters"),
            leases: format!("{base}_leases"),
            changes: format!("{base}_changes"),
            meta: format!("{base}_meta"),
            entries: base,
        }
    }
}

/// Checks a rendered key against [`MAX_KEY_BYTES`].
pub(crate) fn check_key(key: &str) -> Result<(), Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::Key(format!(
            "a key of {} bytes; a SQL store holds keys of at most {MAX_KEY_BYTES} bytes",
            key.len()
        )));
    }
    Ok(())
}

/// Checks tags against [`MAX_TAG_BYTES`].
pub(crate) fn check_tags(tags: &[String]) -> Result<(), Error> {
    match tags.iter().find(|t| t.len() > MAX_TAG_BYTES) {
        Some(t) => Err(Error::Encode(format!(
            "a tag of {} bytes; a SQL store holds tags of at most {MAX_TAG_BYTES} bytes",
            t.len()
        ))),
        None => Ok(()),
    }
}

/// The `LIKE` pattern (escape character `\`) that every key matching
/// `glob` matches: its literal prefix, escaped, then `%`. The glob itself
/// is applied to what the scan returns.
pub(crate) fn like_prefix(glob: &cachelite_runtime::Glob) -> String {
    let mut out = String::new();
    for c in glob.literal_prefix().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Milliseconds for a TTL: rounded up, at least 1.
pub(crate) fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_nanos().div_ceil(1_000_000))
        .unwrap_or(i64::MAX)
        .max(1)
}

/// Local Unix time in microseconds.
pub(crate) fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// How long an estimate of the database's clock is trusted (µs).
const CLOCK_RESYNC_US: i64 = 60_000_000;
/// Round trips per measurement of the database's clock: the quickest one
/// is kept, so that a delayed reply does not skew the estimate by half of
/// it.
const CLOCK_SAMPLES: usize = 3;

/// This process's estimate of the database's clock, to within half a
/// round trip: entries carry their end on it, so two processes whose
/// estimates differ by more than a fraction of a millisecond would
/// disagree on when an entry ends.
#[derive(Debug, Default)]
pub(crate) struct DbClock {
    /// Database time minus local time, in microseconds.
    offset_us: AtomicI64,
    /// Local time of the last measurement (µs); 0: never.
    measured_us: AtomicI64,
}

impl DbClock {
    /// Whether the estimate needs measuring now: `Some(first)` claims the
    /// measurement for the caller (the others go on with the old estimate,
    /// unless there is none yet).
    pub(crate) fn claim(&self) -> Option<bool> {
        let measured = self.measured_us.load(Ordering::Acquire);
        let now = unix_us();
        if measured == 0 {
            return Some(true);
        }
        if now.saturating_sub(measured) > CLOCK_RESYNC_US || now < measured {
            let ours = self
                .measured_us
                .compare_exchange(measured, now.max(1), Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            return ours.then_some(false);
        }
        None
    }

    /// Records the database's time `db_us`, read between local `sent` and
    /// `received` (µs).
    pub(crate) fn record(&self, sent: i64, received: i64, db_us: i64) {
        let local = sent + (received - sent) / 2;
        self.offset_us.store(db_us - local, Ordering::Release);
        self.measured_us.store(received.max(1), Ordering::Release);
    }

    /// The database's time now in milliseconds, as estimated.
    pub(crate) fn now_ms(&self) -> u64 {
        let us = unix_us().saturating_add(self.offset_us.load(Ordering::Acquire));
        u64::try_from(us / 1000).unwrap_or(0)
    }
}

/// Splits an announcement until each piece encodes within `limit` bytes
/// (as `encoded_len` measures it): lists of keys or tags are halved; a
/// single key, tag or glob too long becomes a clear.
#[cfg(feature = "postgres")]
pub(crate) fn split_message(
    msg: Message,
    limit: usize,
    encoded_len: &dyn Fn(&Message) -> usize,
) -> Vec<Message> {
    use crate::channel::Op;
    if encoded_len(&msg) <= limit {
        return vec![msg];
    }
    let origin = msg.origin;
    let halves = |v: Vec<String>, make: fn(Vec<String>) -> Op| {
        let mut a = v;
        let b = a.split_off(a.len() / 2);
        let mut out = split_message(
            Message {
                origin,
                op: make(a),
            },
            limit,
            encoded_len,
        );
        out.extend(split_message(
            Message {
                origin,
                op: make(b),
            },
            limit,
            encoded_len,
        ));
        out
    };
    match msg.op {
        Op::Keys(v) if v.len() > 1 => halves(v, Op::Keys),
        Op::Tags(v) if v.len() > 1 => halves(v, Op::Tags),
        _ => vec![Message {
            origin,
            op: Op::Clear,
        }],
    }
}

/// The counters of a SQL store.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) skipped: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> StoreStats {
        StoreStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
        }
    }
}

/// The settings both SQL builders share; each builder adds its own.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) namespace: String,
    pub(crate) version: u32,
    pub(crate) codec: Codec,
    pub(crate) compression: Compression,
    pub(crate) keyring: Option<Keyring>,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) pool_size: usize,
    pub(crate) sweep_interval: Duration,
    pub(crate) failure_threshold: u32,
    pub(crate) cooldown: Duration,
}

/// `url` with its password replaced by `***`, in either form a SQL
/// driver takes: `scheme://user:password@host/..` or libpq's
/// `key=value` pairs (`password=secret`, `password='se cret'`).
pub(crate) fn redacted_url(url: &str) -> String {
    if url.contains("://") {
        return crate::tls::redacted(url);
    }
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(at) = find_password_key(rest) {
        let value_start = at + "password".len();
        let after_eq = rest[value_start..].trim_start();
        let Some(after_eq) = after_eq.strip_prefix('=') else {
            out.push_str(&rest[..value_start]);
            rest = &rest[value_start..];
            continue;
        };
        let value = after_eq.trim_start();
        // A quoted value runs to its closing quote (`\'` escapes one);
        // a bare one to the next whitespace.
        let len = if let Some(quoted) = value.strip_prefix('\'') {
            let mut escaped = false;
            quoted
                .char_indices()
                .find(|&(_, c)| {
                    let end = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    end
                })
                .map_or(value.len(), |(i, _)| i + 2)
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        out.push_str(&rest[..at]);
        out.push_str("password=***");
        rest = &value[len..];
    }
    out.push_str(rest);
    out
}

/// Where a `password` key starts in a libpq `key=value` string.
fn find_password_key(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("password").map(|i| i + from) {
        let starts_word = i == 0 || s[..i].ends_with(char::is_whitespace);
        if starts_word {
            return Some(i);
        }
        from = i + "password".len();
    }
    None
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &redacted_url(&self.url))
            .field("namespace", &self.namespace)
            .field("version", &self.version)
            .field("codec", &self.codec)
            .field("compression", &self.compression)
            .field("keyring", &self.keyring)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("pool_size", &self.pool_size)
            .field("sweep_interval", &self.sweep_interval)
            .field("failure_threshold", &self.failure_threshold)
            .field("cooldown", &self.cooldown)
            .finish()
    }
}

impl Settings {
    /// The defaults, with the store's own pool size.
    pub(crate) fn new(url: String, pool_size: usize) -> Self {
        Settings {
            url,
            namespace: "default".into(),
            version: 1,
            codec: Codec::default(),
            compression: Compression::None,
            keyring: None,
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_millis(100),
            pool_size,
            sweep_interval: Duration::from_secs(60),
            failure_threshold: 3,
            cooldown: Duration::from_secs(1),
        }
    }

    /// Checks the settings, with the store's own `intervals`, and makes
    /// what every SQL store holds.
    pub(crate) fn core(&self, intervals: &[Duration]) -> Result<Core, Error> {
        crate::key::check_namespace(&self.namespace)?;
        let shared = [
            self.connect_timeout,
            self.response_timeout,
            self.sweep_interval,
        ];
        if shared.iter().chain(intervals).any(Duration::is_zero) {
            return Err(Error::Config(
                "timeouts and intervals must be greater than zero".into(),
            ));
        }
        if self.failure_threshold == 0 {
            return Err(Error::Config(
                "the circuit breaker needs a threshold of at least one failure".into(),
            ));
        }
        if self.pool_size == 0 {
            return Err(Error::Config(
                "the pool needs at least one connection".into(),
            ));
        }
        Ok(Core {
            layers: Layers::new(self.compression, self.keyring.clone())?,
            tables: Tables::new(&self.namespace, self.version),
            namespace: self.namespace.clone(),
            version: self.version,
            codec: self.codec,
            connect_timeout: self.connect_timeout,
            response_timeout: self.response_timeout,
            sweep_interval: self.sweep_interval,
            breaker: Breaker::new(self.failure_threshold, self.cooldown),
            origin: fastrand::u64(..),
            counters: Counters::default(),
            clock: DbClock::default(),
            sweeper: Mutex::new(None),
        })
    }
}

/// What every SQL store holds besides its connections: its tables and
/// settings, the value layers, the breaker, the counters, the clock
/// estimate and the sweep task (stopped when this is dropped).
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) tables: Tables,
    pub(crate) namespace: String,
    pub(crate) version: u32,
    pub(crate) codec: Codec,
    pub(crate) layers: Layers,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) sweep_interval: Duration,
    pub(crate) breaker: Breaker,
    pub(crate) origin: u64,
    pub(crate) counters: Counters,
    pub(crate) clock: DbClock,
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Core {
    fn drop(&mut self) {
        if let Some(task) = self.sweeper.get_mut().take() {
            task.abort();
        }
    }
}

impl Core {
    /// The associated data of an encrypted entry: its table and key, so a
    /// value copied to another key, namespace or version does not decrypt.
    fn aad(&self, key: &str) -> Vec<u8> {
        if self.layers.keyring().is_none() {
            return Vec::new();
        }
        format!("{}:{key}", self.tables.entries).into_bytes()
    }

    /// [`crate::Store::seal`]: the value layers, bound to `key`.
    pub(crate) fn seal(&self, key: &str, entry: Vec<u8>) -> Result<Vec<u8>, Error> {
        self.layers.seal(entry, &self.aad(key))
    }

    /// [`crate::Store::open`]: the value layers undone.
    pub(crate) fn open<'a>(&self, key: &str, stored: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        self.layers.open(stored, &self.aad(key))
    }

    /// [`crate::Store::count`].
    pub(crate) fn count(&self, outcome: Outcome) {
        let c = &self.counters;
        bump(match outcome {
            Outcome::Hit => &c.hits,
            Outcome::Miss => &c.misses,
            Outcome::Error => &c.errors,
        });
    }

    /// Runs `call` under the breaker and a deadline of a connect and a
    /// response timeout, counting failures. `transport` says whether an
    /// error means the database is unreachable (the breaker counts it)
    /// rather than that it answered with an error.
    pub(crate) async fn guarded<T>(
        &self,
        transport: fn(&Error) -> bool,
        call: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let (breaker, counters) = (&self.breaker, &self.counters);
        if tokio::runtime::Handle::try_current().is_err() {
            bump(&counters.errors);
            return Err(Error::NoRuntime);
        }
        if !breaker.allow() {
            bump(&counters.skipped);
            return Err(Error::Unavailable);
        }
        let deadline = self.connect_timeout + self.response_timeout;
        match tokio::time::timeout(deadline, call).await {
            Ok(Ok(v)) => {
                breaker.success();
                Ok(v)
            }
            Ok(Err(e)) => {
                bump(&counters.errors);
                if transport(&e) {
                    breaker.failure();
                } else {
                    breaker.success();
                }
                Err(e)
            }
            Err(_) => {
                bump(&counters.errors);
                breaker.failure();
                Err(Error::Timeout)
            }
        }
    }

    /// [`crate::Store::now_ms`]: the estimate of the database's clock,
    /// measured on first use and every minute by the quickest of
    /// [`CLOCK_SAMPLES`] calls of `measure` (local µs sent, local µs
    /// received, database µs).
    pub(crate) async fn now_ms<M, Fut>(&self, measure: M) -> Result<u64, Error>
    where
        M: Fn() -> Fut,
        Fut: Future<Output = Result<(i64, i64, Option<i64>), Error>>,
    {
        let clock = &self.clock;
        if let Some(first) = clock.claim() {
            let mut best: Option<(i64, i64, i64)> = None;
            for _ in 0..CLOCK_SAMPLES {
                match measure().await {
                    Ok((sent, received, Some(db))) => {
                        if best.is_none_or(|(s, r, _)| received - sent < r - s) {
                            best = Some((sent, received, db));
                        }
                    }
                    Ok(_) => {}
                    Err(e) if first && best.is_none() => return Err(e),
                    Err(_) => break,
                }
            }
            if let Some((sent, received, db)) = best {
                clock.record(sent, received, db);
            }
        }
        Ok(clock.now_ms())
    }

    /// Starts the periodic sweep of the store `owner` holds this core of:
    /// `sweep` runs every `sweep_interval` until the owner is dropped.
    pub(crate) fn start_sweeper<T, F, Fut>(&self, owner: Weak<T>, sweep: F)
    where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let interval = self.sweep_interval;
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(owner) = owner.upgrade() else { return };
                sweep(owner).await;
            }
        });
        *self.sweeper.lock() = Some(task);
    }
}

/// The setters both SQL builders share, over their `settings` field;
/// `$store` and `$url` name the store and a URL in the examples.
macro_rules! shared_setters {
    ($store:ident, $url:literal) => {
        /// The namespace (default `default`): 1 to 64 characters from
        /// `[A-Za-z0-9_.-]`. Each namespace and version has its own tables.
        pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
            self.settings.namespace = namespace.into();
            self
        }

        /// The codec for values written (default MessagePack).
        pub fn codec(mut self, codec: Codec) -> Self {
            self.settings.codec = codec;
            self
        }

        /// Compresses the values written from a size threshold on (default:
        /// none). Any store reads compressed values, whatever its own setting.
        ///
        /// ```
        #[doc = concat!("use cachelite_redis::{Compression, ", stringify!($store), "};")]
        #[doc = concat!("let store = ", stringify!($store), "::builder(\"", $url, "\")")]
        ///     .compression(Compression::Lz4 { min_bytes: 2048 })
        ///     .build()?;
        /// # let _ = store;
        /// # Ok::<(), cachelite_redis::Error>(())
        /// ```
        pub fn compression(mut self, compression: Compression) -> Self {
            self.settings.compression = compression;
            self
        }

        /// Encrypts every value written with the keyring's current key
        /// (XChaCha20-Poly1305, with the entries' table and the key as
        /// associated data: a value copied to another key, namespace or version
        /// does not decrypt), and decrypts with any of its keys. A store with
        /// keys reads only encrypted values: anything else, or a value it
        /// cannot decrypt, is a miss, counted as an error and deleted.
        ///
        /// ```
        #[doc = concat!("use cachelite_redis::{Keyring, ", stringify!($store), "};")]
        /// # let (key, old_key) = ([1u8; 32], [0u8; 32]);
        #[doc = concat!("let store = ", stringify!($store), "::builder(\"", $url, "\")")]
        ///     .encryption(Keyring::new(1, key).with_old(0, old_key))
        ///     .build()?;
        /// # let _ = store;
        /// # Ok::<(), cachelite_redis::Error>(())
        /// ```
        pub fn encryption(mut self, keyring: Keyring) -> Self {
            self.settings.keyring = Some(keyring);
            self
        }

        /// How long establishing a connection may take (default 1 s); also
        /// the budget of creating the tables on first use.
        pub fn connect_timeout(mut self, timeout: Duration) -> Self {
            self.settings.connect_timeout = timeout;
            self
        }

        /// The circuit breaker: after `failures` failed calls in a row, calls
        /// are refused for `cooldown` (defaults: 3 failures, 1 s).
        pub fn circuit_breaker(mut self, failures: u32, cooldown: Duration) -> Self {
            self.settings.failure_threshold = failures;
            self.settings.cooldown = cooldown;
            self
        }
    };
}
pub(crate) use shared_setters;

/// The accessors both SQL stores share, over their `inner.core`; `$store`
/// and `$url` name the store and a URL in the examples.
macro_rules! shared_accessors {
    ($store:ident, $url:literal) => {
        /// A store at `url` in `namespace`, with the default settings.
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($store), "Builder::build`].")]
        ///
        /// ```
        #[doc = concat!("let store = cachelite_redis::", stringify!($store), "::open(\"", $url, "\", \"s\")?;")]
        /// assert_eq!(store.namespace(), "s");
        /// # Ok::<(), cachelite_redis::Error>(())
        /// ```
        pub fn open(url: impl Into<String>, namespace: &str) -> Result<Self, Error> {
            Self::builder(url).namespace(namespace).build()
        }

        /// The namespace.
        ///
        /// ```
        #[doc = concat!("# let store = cachelite_redis::", stringify!($store), "::open(\"", $url, "\", \"n\")?;")]
        /// assert_eq!(store.namespace(), "n");
        /// # Ok::<(), cachelite_redis::Error>(())
        /// ```
        #[must_use]
        pub fn namespace(&self) -> &str {
            &self.inner.core.namespace
        }

        /// The schema version.
        ///
        /// ```
        #[doc = concat!("# let store = cachelite_redis::", stringify!($store), "::open(\"", $url, "\", \"n\")?;")]
        /// assert_eq!(store.version(), 1);
        /// # Ok::<(), cachelite_redis::Error>(())
        /// ```
        #[must_use]
        pub fn version(&self) -> u32 {
            self.inner.core.version
        }

        /// The codec values are written with.
        ///
        /// ```
        #[doc = concat!("# let store = cachelite_redis::", stringify!($store), "::open(\"", $url, "\", \"n\")?;")]
        /// assert_eq!(store.codec(), cachelite_redis::Codec::MessagePack);
        /// # Ok::<(), cachelite_redis::Error>(())
        /// ```
        #[must_use]
        pub fn codec(&self) -> Codec {
            self.inner.core.codec
        }

        /// This store's origin: announcements of its writes carry it.
        ///
        /// ```
        #[doc = concat!("# let store = cachelite_redis::", stringify!($store), "::open(\"", $url, "\", \"n\")?;")]
        /// assert_eq!(store.origin(), store.clone().origin());
        /// # Ok::<(), cachelite_redis::Error>(())
        /// ```
        #[must_use]
        pub fn origin(&self) -> u64 {
            self.inner.core.origin
        }

        /// The counters, shared by every clone of this store.
        ///
        /// ```
        #[doc = concat!("# let store = cachelite_redis::", stringify!($store), "::open(\"", $url, "\", \"n\")?;")]
        /// assert_eq!(store.stats().errors, 0);
        /// # Ok::<(), cachelite_redis::Error>(())
        /// ```
        #[must_use]
        pub fn stats(&self) -> StoreStats {
            self.inner.core.counters.snapshot()
        }

        /// Whether the circuit breaker is open (calls are being refused).
        ///
        /// ```
        #[doc = concat!("# let store = cachelite_redis::", stringify!($store), "::open(\"", $url, "\", \"n\")?;")]
        /// assert!(!store.is_breaker_open());
        /// # Ok::<(), cachelite_redis::Error>(())
        /// ```
        #[must_use]
        pub fn is_breaker_open(&self) -> bool {
            self.inner.core.breaker.is_open()
        }

        /// How values are compressed.
        ///
        /// ```
        #[doc = concat!("# let store = cachelite_redis::", stringify!($store), "::open(\"", $url, "\", \"n\")?;")]
        /// assert_eq!(store.compression(), cachelite_redis::Compression::None);
        /// # Ok::<(), cachelite_redis::Error>(())
        /// ```
        #[must_use]
        pub fn compression(&self) -> Compression {
            self.inner.core.layers.compression()
        }

        /// The keys values are encrypted with, if any.
        ///
        /// ```
        #[doc = concat!("# let store = cachelite_redis::", stringify!($store), "::open(\"", $url, "\", \"n\")?;")]
        /// assert!(store.keyring().is_none());
        /// # Ok::<(), cachelite_redis::Error>(())
        /// ```
        #[must_use]
        pub fn keyring(&self) -> Option<&Keyring> {
            self.inner.core.layers.keyring()
        }
    };
}
pub(crate) use shared_accessors;

/// The [`crate::Store`] items both SQL stores answer from their
/// `inner.core` alone.
macro_rules! shared_store_items {
    () => {
        fn seal(&self, key: &str, entry: Vec<u8>) -> Result<Vec<u8>, Error> {
            self.inner.core.seal(key, entry)
        }

        fn open<'a>(&self, key: &str, stored: &'a [u8]) -> Option<Cow<'a, [u8]>> {
            self.inner.core.open(key, stored)
        }

        fn namespace(&self) -> &str {
            &self.inner.core.namespace
        }

        fn version(&self) -> u32 {
            self.inner.core.version
        }

        fn codec(&self) -> Codec {
            self.inner.core.codec
        }

        fn stats(&self) -> StoreStats {
            self.inner.core.counters.snapshot()
        }

        fn count(&self, outcome: Outcome) {
            self.inner.core.count(outcome);
        }

        fn is_breaker_open(&self) -> bool {
            self.inner.core.breaker.is_open()
        }

        fn supports_leases(&self) -> bool {
            true
        }
    };
}
pub(crate) use shared_store_items;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Op;

    #[test]
    fn debug_output_hides_passwords_in_either_url_form() {
        for (url, shown) in [
            (
                "postgres://app:s3cret@db:5432/test",
                "postgres://app:***@db:5432/test",
            ),
            ("mysql://root@127.0.0.1/test", "mysql://root@127.0.0.1/test"),
            (
                "host=db user=app password=s3cret dbname=test",
                "host=db user=app password=*** dbname=test",
            ),
            (
                "host=db password = 's3 \\'cret' user=app",
                "host=db password=*** user=app",
            ),
            ("user=password host=db", "user=password host=db"),
            ("password=a password=b", "password=*** password=***"),
        ] {
            assert_eq!(redacted_url(url), shown, "{url}");
            let settings = Settings::new(url.into(), 1);
            let debug = format!("{settings:?}");
            assert!(!debug.contains("s3"), "{debug}");
        }
    }

    #[test]
    fn table_names_are_safe_distinct_and_short() {
        let t = Tables::new("users", 2);
        assert_eq!(t.entries, "cachelite_users_v2");
        assert_eq!(t.tags, "cachelite_users_v2_tags");
        let names = [
            "users", "Users", "us_ers", "us.ers", "us-ers", "us__ers", "us_2eers", "a", "A",
        ];
        let mut seen = std::collections::HashSet::new();
        for ns in names {
            let t = Tables::new(ns, 1);
            assert!(seen.insert(t.entries.clone()), "{ns}: {}", t.entries);
            assert!(
                t.entries
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                t.entries
            );
        }
        let long = "N".repeat(64);
        let t = Tables::new(&long, u32::MAX);
        for name in [
            &t.entries,
            &t.tags,
            &t.counters,
            &t.leases,
            &t.changes,
            &t.meta,
        ] {
            assert!(name.len() <= 63, "{name}: {}", name.len());
        }
        assert!(t.entries.contains("_x"), "{}", t.entries);
        assert_ne!(Tables::new(&long, 1), Tables::new(&"N".repeat(63), 1));
        // The same in every process: a fixed hash, not a seeded one.
        assert_eq!(fnv64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn like_prefixes_escape_wildcards_and_stop_at_the_first_metacharacter() {
        let p = |g: &str| like_prefix(&cachelite_runtime::Glob::new(g).unwrap());
        assert_eq!(p("user:*"), "user:%");
        assert_eq!(p("50%_off\\*?"), "50\\%\\_off*%");
        assert_eq!(p("*"), "%");
        assert_eq!(p("a\\\\b[cd]"), "a\\\\b%");
    }

    #[test]
    #[cfg(feature = "postgres")]
    fn long_messages_are_split_or_become_a_clear() {
        let len = |m: &Message| m.encode().len();
        let keys: Vec<String> = (0..1000).map(|i| format!("key:{i:05}")).collect();
        let parts = split_message(
            Message {
                origin: 3,
                op: Op::Keys(keys.clone()),
            },
            500,
            &len,
        );
        assert!(parts.len() > 1);
        let mut back = Vec::new();
        for p in parts {
            assert!(p.encode().len() <= 500);
            assert_eq!(p.origin, 3);
            match p.op {
                Op::Keys(k) => back.extend(k),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(back, keys);
        let glob = Message {
            origin: 3,
            op: Op::Glob("x".repeat(600)),
        };
        assert_eq!(
            split_message(glob, 500, &len),
            vec![Message {
                origin: 3,
                op: Op::Clear
            }]
        );
    }

    #[test]
    fn the_clock_estimate_follows_the_database() {
        let clock = DbClock::default();
        assert_eq!(clock.claim(), Some(true));
        let received = unix_us();
        let sent = received - 2_000;
        clock.record(sent, received, sent + 1_000 + 5_000_000);
        assert_eq!(clock.claim(), None);
        let ahead = i64::try_from(clock.now_ms()).unwrap() - unix_us() / 1000;
        assert!((4_990..=5_010).contains(&ahead), "{ahead}");
    }

    #[test]
    fn limits_are_errors() {
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(matches!(
            check_key(&"k".repeat(MAX_KEY_BYTES + 1)),
            Err(Error::Key(_))
        ));
        assert!(matches!(
            check_tags(&["t".repeat(MAX_TAG_BYTES + 1)]),
            Err(Error::Encode(_))
        ));
        assert_eq!(ttl_ms(Duration::from_micros(1)), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1500)), 2);
    }
}
