//! The remote tier: one namespace of one Redis server.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{FutureExt, StreamExt};
use parking_lot::Mutex;
use redis::aio::{PubSubSink, PubSubStream};
use redis::cluster::ClusterClient;
use redis::cluster_routing::RoutingInfo;
use redis::{Cmd, FromRedisValue, Pipeline};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::breaker::Breaker;
use crate::channel::{Message, Op, Subscription};
use crate::codec::Codec;
use crate::conn::{self, Cluster, Conn, Link, Pending, State, Timeouts, Topology};
use crate::key::{Keyspace, check_namespace, render_key};
use crate::layers::{Compression, Keyring, Layers};
use crate::remote::{self, Event, Feed, Outcome, Put, Store, px};
use crate::sentinel::Sentinels;
use crate::tls::{self, TlsSettings};

mod split;

/// Keys unlinked per command, and the `COUNT` hint of each scan step.
const BATCH: usize = 500;

/// Stores a value with its expiry (only if the key is absent when ARGV[3]
/// is `NX`) and adds the entry to its tag sets; a tag set lives at least
/// as long as its longest-lived member. Returns 1 if stored, else 0.
const INSERT_TAGGED: &str = r"
local ttl = tonumber(ARGV[2])
local args = {'SET', KEYS[1], ARGV[1]}
if ttl > 0 then
  table.insert(args, 'PX')
  table.insert(args, ttl)
end
if ARGV[3] == 'NX' then
  table.insert(args, 'NX')
end
if not redis.call(unpack(args)) then
  return 0
end
for i = 2, #KEYS do
  local existed = redis.call('EXISTS', KEYS[i])
  redis.call('SADD', KEYS[i], KEYS[1])
  if ttl == 0 then
    redis.call('PERSIST', KEYS[i])
  else
    local left = redis.call('PTTL', KEYS[i])
    if existed == 0 or (left >= 0 and left < ttl) then
      redis.call('PEXPIRE', KEYS[i], ttl)
    end
  end
end
return 1
";

/// Deletes a key only if it still holds the given bytes: releases a lease
/// that is still ours, or drops a corrupt value nobody has replaced yet.
const DELETE_IF_EQUAL: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Adds ARGV[1] to a counter; a counter this call creates expires after
/// ARGV[2] ms (0: never). Returns the new value.
const INCR_COUNTER: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if existed == 0 and ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return v
";

/// Counters of a [`RedisStore`], shared by its clones.
///
/// ```
/// let s = cachelite_redis::StoreStats::default();
/// assert_eq!(s.errors, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Reads that found a value that decoded.
    pub hits: u64,
    /// Reads that found nothing usable (a corrupt value counts here and in
    /// `errors`).
    pub misses: u64,
    /// Calls that failed: connection, timeout, an error reply, a value or
    /// message that did not decode.
    pub errors: u64,
    /// Calls not attempted because the circuit breaker was open.
    pub skipped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// How long an estimate of the server's clock is trusted before it is
/// measured again.
const CLOCK_RESYNC: Duration = Duration::from_secs(60);
/// `TIME` round trips per measurement: the quickest one is kept, so that
/// a connect or a delayed reply does not skew the estimate by half of it.
const CLOCK_SAMPLES: usize = 3;

/// This process's estimate of the Redis server's clock, from `TIME`.
///
/// Entries carry their end on the server's clock, so that replicas whose
/// own clocks disagree still agree on when an entry ends: each measures
/// its offset from the one clock they share, to within half a round trip.
#[derive(Debug, Default)]
struct ServerClock {
    /// Server time minus local time, in microseconds.
    offset_us: AtomicI64,
    /// Local Unix time of the last measurement, in microseconds; 0: never.
    measured_us: AtomicI64,
}

/// Local Unix time in microseconds.
fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl ServerClock {
    /// The server's time now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64 {
        self.ms_at(unix_us())
    }

    /// The server's time at local Unix time `local_us`, in milliseconds.
    fn ms_at(&self, local_us: i64) -> u64 {
        let us = local_us.saturating_add(self.offset_us.load(Ordering::Acquire));
        u64::try_from(us / 1000).unwrap_or(0)
    }

    /// Records a `TIME` reply received between local times `sent` and
    /// `received` (µs): the server read its clock about halfway.
    fn record(&self, sent: i64, received: i64, (secs, micros): (i64, i64)) {
        let server = secs.saturating_mul(1_000_000).saturating_add(micros);
        let local = sent + (received - sent) / 2;
        self.offset_us.store(server - local, Ordering::Release);
        self.measured_us.store(received.max(1), Ordering::Release);
    }
}

/// Settings for a [`RedisStore`]; made by [`RedisStore::builder`].
///
/// ```
/// use std::time::Duration;
/// let store = cachelite_redis::RedisStore::builder("redis://127.0.0.1:6379/")
///     .namespace("users")
///     .version(2)
///     .connect_timeout(Duration::from_millis(100))
///     .response_timeout(Duration::from_millis(50))
///     .build()?;
/// assert_eq!(store.redis_key("ada")?, "cachelite:users:v2:ada");
/// # Ok::<(), cachelite_redis::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    kind: Kind,
    namespace: String,
    version: u32,
    codec: Codec,
    connect_timeout: Duration,
    response_timeout: Duration,
    failure_threshold: u32,
    cooldown: Duration,
    tls: TlsSettings,
    compression: Compression,
    keyring: Option<Keyring>,
}

/// Shows every setting but secrets: passwords in URLs are `***`, TLS
/// material and key bytes are left out (a keyring shows its ids).
impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &tls::redacted(&self.url))
            .field("kind", &self.kind)
            .field("namespace", &self.namespace)
            .field("version", &self.version)
            .field("codec", &self.codec)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("failure_threshold", &self.failure_threshold)
            .field("cooldown", &self.cooldown)
            .field("compression", &self.compression)
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

/// What a builder connects to.
#[derive(Clone)]
enum Kind {
    Single,
    Cluster(Vec<String>),
    Sentinel {
        sentinels: Vec<String>,
        service: String,
        master: Option<String>,
    },
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |urls: &[String]| urls.iter().map(|u| tls::redacted(u)).collect::<Vec<_>>();
        match self {
            Kind::Single => f.write_str("Single"),
            Kind::Cluster(nodes) => f.debug_tuple("Cluster").field(&hide(nodes)).finish(),
            Kind::Sentinel {
                sentinels,
                service,
                master,
            } => f
                .debug_struct("Sentinel")
                .field("sentinels", &hide(sentinels))
                .field("service", service)
                .field("master", &master.as_deref().map(tls::redacted))
                .finish(),
        }
    }
}

impl RedisStoreBuilder {
    /// The namespace (default `default`): 1 to 64 characters from
    /// `[A-Za-z0-9_.-]`. Every key lives under `cachelite:{namespace}:`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The schema version (default 1). Bump it when the value type changes
    /// shape: old entries are then simply not seen.
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// The codec for values written (default MessagePack). Entries record
    /// their codec, so stores with different codecs read each other.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Compresses the values written from a size threshold on (default:
    /// none). Any store reads compressed values, whatever its own setting.
    ///
    /// ```
    /// use cachelite_redis::{Compression, RedisStore};
    /// let store = RedisStore::builder("redis://127.0.0.1/")
    ///     .compression(Compression::Lz4 { min_bytes: 2048 })
    ///     .build()?;
    /// # let _ = store;
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Encrypts every value written with the keyring's current key
    /// (XChaCha20-Poly1305, the full Redis key as associated data), and
    /// decrypts with any of its keys. A store with keys reads only
    /// encrypted values: anything else, or a value it cannot decrypt, is a
    /// miss, counted as an error and deleted.
    ///
    /// ```
    /// use cachelite_redis::{Keyring, RedisStore};
    /// # let (key, old_key) = ([1u8; 32], [0u8; 32]);
    /// let store = RedisStore::builder("redis://127.0.0.1/")
    ///     .encryption(Keyring::new(1, key).with_old(0, old_key))
    ///     .build()?;
    /// # let _ = store;
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn encryption(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// How long establishing a connection may take (default 50 ms).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one reply may take (default 20 ms). A cache must fail
    /// faster than the work it saves.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The circuit breaker: after `failures` failed calls in a row, calls
    /// are refused for `cooldown`, then one probe at a time is let through
    /// until one succeeds (defaults: 3 failures, 1 s).
    pub fn circuit_breaker(mut self, failures: u32, cooldown: Duration) -> Self {
        self.failure_threshold = failures;
        self.cooldown = cooldown;
        self
    }

    /// Trusts the CAs in `pem` (one or more PEM certificates) for a
    /// `rediss://` URL, instead of the system's root certificates: for a
    /// server whose certificate a private CA signed.
    ///
    /// Needs the `tls` feature (`redis-tls` on the `cachelite` crate).
    ///
    /// ```no_run
    /// let ca = std::fs::read("/etc/redis/tls/ca.crt").expect("the CA file");
    /// let store = cachelite_redis::RedisStore::builder("rediss://cache.internal:6380/")
    ///     .tls_root_certificate(ca)
    ///     .build()?;
    /// # let _ = store;
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_certificate = Some(pem.into());
        self
    }

    /// Presents this client certificate (PEM chain) and its private key
    /// (PEM) on a `rediss://` connection, for a server that authenticates
    /// its clients (`tls-auth-clients yes`).
    ///
    /// Needs the `tls` feature (`redis-tls` on the `cachelite` crate).
    ///
    /// ```no_run
    /// let read = |p: &str| std::fs::read(p).expect("a TLS file");
    /// let store = cachelite_redis::RedisStore::builder("rediss://cache.internal:6380/")
    ///     .tls_root_certificate(read("ca.crt"))
    ///     .tls_client_certificate(read("client.crt"), read("client.key"))
    ///     .build()?;
    /// # let _ = store;
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client_identity = Some((certificate_pem.into(), key_pem.into()));
        self
    }

    /// Through sentinels: how the master is connected to, as a URL whose
    /// host is ignored (the sentinels name the master): its scheme
    /// (`rediss://` for TLS, with the `tls` feature), database, username
    /// and password, e.g. `redis://:secret@master/2`. By default: plain
    /// TCP, database 0, no credentials.
    ///
    /// ```
    /// let store = cachelite_redis::RedisStore::builder_sentinel(["redis://127.0.0.1:26379/"], "mymaster")
    ///     .sentinel_master_settings("redis://:secret@master/2")
    ///     .build()?;
    /// # let _ = store;
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn sentinel_master_settings(mut self, url: impl Into<String>) -> Self {
        if let Kind::Sentinel { master, .. } = &mut self.kind {
            *master = Some(url.into());
        }
        self
    }

    /// Checks the settings and parses the URL. No connection is made here:
    /// the first call connects, from inside a tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid namespace, a zero timeout or
    /// threshold, a URL redis-rs does not accept, a `rediss://` URL in a
    /// build without the `tls` feature, or TLS certificates that are not
    /// PEM or come with a URL other than `rediss://`; for a cluster or
    /// sentinels, an empty list of URLs, an empty service name, or custom
    /// TLS certificates (only the system's roots are used there); zstd
    /// compression in a build without the `zstd` feature or with a level
    /// outside 1 to 22, a key id given twice.
    pub fn build(self) -> Result<RedisStore, Error> {
        check_namespace(&self.namespace)?;
        if self.connect_timeout.is_zero() || self.response_timeout.is_zero() {
            return Err(Error::Config("timeouts must be greater than zero".into()));
        }
        if self.failure_threshold == 0 {
            return Err(Error::Config(
                "the circuit breaker needs a threshold of at least one failure".into(),
            ));
        }
        let (client, topology) = self.topology()?;
        let layers = Layers::new(self.compression, self.keyring)?;
        Ok(RedisStore {
            inner: Arc::new(StoreInner {
                client,
                topology,
                conn: Mutex::new(Link::new()),
                connected: AtomicBool::new(false),
                keys: Keyspace::new(&self.namespace, self.version),
                namespace: self.namespace,
                version: self.version,
                codec: self.codec,
                layers,
                connect_timeout: self.connect_timeout,
                response_timeout: self.response_timeout,
                breaker: Breaker::new(self.failure_threshold, self.cooldown),
                origin: fastrand::u64(..),
                counters: Counters::default(),
                clock: ServerClock::default(),
            }),
        })
    }

    /// The client of the first URL, and where commands go.
    fn topology(&self) -> Result<(redis::Client, Topology), Error> {
        let urls = match &self.kind {
            Kind::Single => return Ok((tls::client(&self.url, &self.tls)?, Topology::Single)),
            Kind::Cluster(urls)
            | Kind::Sentinel {
                sentinels: urls, ..
            } => urls,
        };
        if urls.is_empty() {
            return Err(Error::Config(
                "a cluster or a set of sentinels needs at least one URL".into(),
            ));
        }
        if self.tls.is_custom() {
            return Err(Error::Config(
                "custom TLS certificates are for a single server; a cluster or sentinels \
                 use the system's root certificates"
                    .into(),
            ));
        }
        let clients = urls
            .iter()
            .map(|u| tls::client(u, &self.tls))
            .collect::<Result<Vec<_>, _>>()?;
        let first = clients[0].clone();
        let topology = match &self.kind {
            Kind::Single => Topology::Single,
            Kind::Cluster(urls) => {
                let connect_ms =
                    u64::try_from(self.connect_timeout.as_millis()).unwrap_or(u64::MAX);
                let client = ClusterClient::builder(urls.iter().map(String::as_str))
                    .connection_timeout(self.connect_timeout)
                    .response_timeout(self.response_timeout)
                    .overall_response_timeout(None)
                    .retries(3)
                    .min_retry_wait(5)
                    .max_retry_wait(connect_ms.max(5))
                    .build()
                    .map_err(|e| Error::Config(format!("cannot use the cluster's URLs: {e}")))?;
                Topology::Cluster(Box::new(Cluster {
                    client,
                    nodes: clients,
                }))
            }
            Kind::Sentinel {
                service, master, ..
            } => {
                if service.is_empty() {
                    return Err(Error::Config("the sentinel service name is empty".into()));
                }
                let master = master.as_deref().unwrap_or("redis://127.0.0.1/");
                let template = tls::client(master, &TlsSettings::default())?
                    .get_connection_info()
                    .clone();
                if !matches!(
                    template.addr(),
                    redis::ConnectionAddr::Tcp(..) | redis::ConnectionAddr::TcpTls { .. }
                ) {
                    return Err(Error::Config(
                        "the sentinel master settings must be a redis:// or rediss:// URL".into(),
                    ));
                }
                Topology::Sentinel(Arc::new(Sentinels::new(clients, service.clone(), template)))
            }
        };
        Ok((first, topology))
    }
}

/// One namespace of a Redis server, used as a cache: typed values under
/// encoded keys, with millisecond TTLs, tags, glob invalidation, and an
/// invalidation message published for every write.
///
/// Cheap to clone (clones share the connection and the counters). Calls
/// must run inside a tokio runtime. Each call is bounded by the connect and
/// response timeouts and guarded by a circuit breaker.
///
/// On its own it is a remote cache; [`TieredCache`](crate::TieredCache)
/// puts a local cache in front of it.
///
/// ```no_run
/// # async fn demo() -> Result<(), cachelite_redis::Error> {
/// use std::time::Duration;
/// let store = cachelite_redis::RedisStore::builder("redis://127.0.0.1/").namespace("demo").build()?;
/// store.set(&"greeting", &"hello".to_string(), Some(Duration::from_millis(1500))).await?;
/// let v: Option<String> = store.get(&"greeting").await?;
/// assert_eq!(v.as_deref(), Some("hello"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<StoreInner>,
}

/// The namespace, version, codec, layers (a keyring by its ids) and
/// state; never a URL, credentials or key bytes.
impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.inner.namespace)
            .field("version", &self.inner.version)
            .field("codec", &self.inner.codec)
            .field("compression", &self.compression())
            .field("keyring", &self.keyring())
            .field("breaker_open", &self.is_breaker_open())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

struct StoreInner {
    client: redis::Client,
    /// One server, a cluster, or the master sentinels name.
    topology: Topology,
    /// Made on first use, inside the caller's runtime; to one server,
    /// dropped after a call on it fails at the transport level (the next
    /// call connects again); dropped too when the breaker opens, so a
    /// wedged connection is replaced by the next probe, and through
    /// sentinels after any failure, when the master it is to is no longer
    /// the one they name, or when it refuses a write (`READONLY`).
    conn: Mutex<Link>,
    /// The current connection has answered at least once: calls then get
    /// one response timeout, not a connect timeout on top.
    connected: AtomicBool,
    keys: Keyspace,
    namespace: String,
    version: u32,
    codec: Codec,
    layers: Layers,
    connect_timeout: Duration,
    response_timeout: Duration,
    breaker: Breaker,
    origin: u64,
    counters: Counters,
    clock: ServerClock,
}

fn is_transport(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}

enum Req<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
    /// In a cluster, to the node `RoutingInfo` names (a scan of one
    /// master); elsewhere, a plain command.
    At(&'a Cmd, &'a RoutingInfo),
}

/// A new builder with the default settings.
fn new_builder(url: String, kind: Kind) -> RedisStoreBuilder {
    RedisStoreBuilder {
        url,
        kind,
        namespace: "default".into(),
        version: 1,
        codec: Codec::default(),
        connect_timeout: Duration::from_millis(50),
        response_timeout: Duration::from_millis(20),
        failure_threshold: 3,
        cooldown: Duration::from_secs(1),
        tls: TlsSettings::default(),
        compression: Compression::None,
        keyring: None,
    }
}

impl RedisStore {
    /// A builder for a store at `url`: `redis://host:port/db`,
    /// `redis+unix:///path/to/socket` (or `unix://`), or over TLS
    /// `rediss://host:port/db` with the `tls` feature (`redis-tls` on the
    /// `cachelite` crate); `rediss://host:port/#insecure` skips verifying
    /// the server's certificate.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        new_builder(url.into(), Kind::Single)
    }

    /// A builder for a store over a Redis Cluster, given the URLs of some
    /// of its nodes (the rest are found from them). The same cache as on
    /// one server: entries spread over the masters by hash slot, no command
    /// names keys of two slots, globs and clears scan every master, and
    /// the subscriber of a two-tier cache listens on one node at a time
    /// (a message published on any node reaches every node), moving to
    /// another when that node fails (those listed, and those the node it
    /// listened on knew of). List several, for the first connection.
    ///
    /// ```
    /// let store = cachelite_redis::RedisStore::builder_cluster([
    ///     "redis://10.0.0.1:7000",
    ///     "redis://10.0.0.2:7000",
    ///     "redis://10.0.0.3:7000",
    /// ])
    /// .namespace("users")
    /// .build()?;
    /// assert_eq!(store.namespace(), "users");
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn builder_cluster<I, S>(nodes: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let nodes: Vec<String> = nodes.into_iter().map(Into::into).collect();
        let first = nodes.first().cloned().unwrap_or_default();
        new_builder(first, Kind::Cluster(nodes))
    }

    /// A builder for a store on the master of `service`, found through
    /// Redis Sentinel at the URLs given. After a failover the store
    /// follows the new master (a connection to a master the sentinels no
    /// longer name, or one that refuses a write with `READONLY`, is
    /// replaced), and a two-tier cache's local tier is cleared and off
    /// until its subscriber has subscribed on the new master.
    ///
    /// ```
    /// let store = cachelite_redis::RedisStore::builder_sentinel(
    ///     ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"],
    ///     "mymaster",
    /// )
    /// .build()?;
    /// # let _ = store;
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn builder_sentinel<I, S>(sentinels: I, service: impl Into<String>) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let sentinels: Vec<String> = sentinels.into_iter().map(Into::into).collect();
        let first = sentinels.first().cloned().unwrap_or_default();
        new_builder(
            first,
            Kind::Sentinel {
                sentinels,
                service: service.into(),
                master: None,
            },
        )
    }

    /// A store at `url` in `namespace`, with the default settings.
    ///
    /// # Errors
    /// As [`RedisStoreBuilder::build`].
    ///
    /// ```
    /// let store = cachelite_redis::RedisStore::open("redis://127.0.0.1/", "sessions")?;
    /// assert_eq!(store.namespace(), "sessions");
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn open(url: impl Into<String>, namespace: &str) -> Result<Self, Error> {
        Self::builder(url).namespace(namespace).build()
    }

    /// The namespace.
    ///
    /// ```
    /// # let store = cachelite_redis::RedisStore::open("redis://127.0.0.1/", "n")?;
    /// assert_eq!(store.namespace(), "n");
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The schema version.
    ///
    /// ```
    /// # let store = cachelite_redis::RedisStore::open("redis://127.0.0.1/", "n")?;
    /// assert_eq!(store.version(), 1);
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[must_use]
    pub fn version(&self) -> u32 {
        self.inner.version
    }

    /// The codec values are written with.
    ///
    /// ```
    /// # let store = cachelite_redis::RedisStore::open("redis://127.0.0.1/", "n")?;
    /// assert_eq!(store.codec(), cachelite_redis::Codec::MessagePack);
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[must_use]
    pub fn codec(&self) -> Codec {
        self.inner.codec
    }

    /// The compression of values written.
    ///
    /// ```
    /// # let store = cachelite_redis::RedisStore::open("redis://127.0.0.1/", "n")?;
    /// assert_eq!(store.compression(), cachelite_redis::Compression::None);
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[must_use]
    pub fn compression(&self) -> Compression {
        self.inner.layers.compression()
    }

    /// The keys values are encrypted with, if any.
    ///
    /// ```
    /// # let store = cachelite_redis::RedisStore::open("redis://127.0.0.1/", "n")?;
    /// assert!(store.keyring().is_none());
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[must_use]
    pub fn keyring(&self) -> Option<&Keyring> {
        self.inner.layers.keyring()
    }

    /// The pub/sub channel invalidations are published on.
    ///
    /// ```
    /// # let store = cachelite_redis::RedisStore::open("redis://127.0.0.1/", "n")?;
    /// assert_eq!(store.channel(), "cachelite:n:v1#events");
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[must_use]
    pub fn channel(&self) -> String {
        self.inner.keys.channel()
    }

    /// The Redis key an entry for `key` lives under: strings as they are
    /// (a leading `#` or `%` percent-escaped), anything else as `#` and its
    /// JSON. Globs match the part after `cachelite:{namespace}:v{version}:`.
    ///
    /// # Errors
    /// [`Error::Key`] if the key's `Serialize` impl fails (a map with
    /// non-string keys, for instance).
    ///
    /// ```
    /// # let store = cachelite_redis::RedisStore::open("redis://127.0.0.1/", "n")?;
    /// assert_eq!(store.redis_key("user:1")?, "cachelite:n:v1:user:1");
    /// assert_eq!(store.redis_key(&(7, "a"))?, "cachelite:n:v1:#[7,\"a\"]");
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn redis_key<K: Serialize + ?Sized>(&self, key: &K) -> Result<String, Error> {
        Ok(self.inner.keys.entry(&render_key(key)?))
    }

    /// The counters, shared by every clone of this store.
    ///
    /// ```
    /// # let store = cachelite_redis::RedisStore::open("redis://127.0.0.1/", "n")?;
    /// assert_eq!(store.stats().hits, 0);
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> StoreStats {
        let c = &self.inner.counters;
        StoreStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
        }
    }

    /// Whether the circuit breaker is open (calls are being refused).
    ///
    /// ```
    /// # let store = cachelite_redis::RedisStore::open("redis://127.0.0.1/", "n")?;
    /// assert!(!store.is_breaker_open());
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[must_use]
    pub fn is_breaker_open(&self) -> bool {
        self.inner.breaker.is_open()
    }

    /// The redis-rs client, for commands this type does not offer: of the
    /// server; for a cluster, of the first node listed; through sentinels,
    /// of the first sentinel listed.
    ///
    /// ```
    /// # let store = cachelite_redis::RedisStore::open("redis://127.0.0.1:6380/", "n")?;
    /// assert_eq!(store.client().get_connection_info().addr().to_string(), "127.0.0.1:6380");
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    #[must_use]
    pub fn client(&self) -> &redis::Client {
        &self.inner.client
    }

    /// Sends `PING`; returns the round trip.
    ///
    /// # Errors
    /// When Redis is unreachable, slow or the breaker is open.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::RedisStore) -> Result<(), cachelite_redis::Error> {
    /// let rtt = store.ping().await?;
    /// println!("redis answered in {rtt:?}");
    /// # Ok(()) }
    /// ```
    pub async fn ping(&self) -> Result<Duration, Error> {
        let start = Instant::now();
        self.run::<String>(Req::Cmd(&redis::cmd("PING"))).await?;
        Ok(start.elapsed())
    }

    /// The value for `key`, if Redis holds one that decodes as `V`. A value
    /// that does not decode is deleted and read as a miss (and counted as
    /// an error).
    ///
    /// # Errors
    /// When Redis cannot be reached or the key cannot be encoded.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::RedisStore) -> Result<(), cachelite_redis::Error> {
    /// let v: Option<u64> = store.get(&"counter").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get<K, V>(&self, key: &K) -> Result<Option<V>, Error>
    where
        K: Serialize + ?Sized,
        V: DeserializeOwned,
    {
        let rendered = render_key(key)?;
        Ok(remote::fetch(self, &rendered).await?.map(|f| f.value))
    }

    /// Stores `value` under `key`, expiring after `ttl` (`None`: never),
    /// and publishes the write so local tiers drop their copy.
    ///
    /// # Errors
    /// When Redis cannot be reached or the key or value cannot be encoded.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::RedisStore) -> Result<(), cachelite_redis::Error> {
    /// store.set(&"k", &vec![1u8, 2], Some(std::time::Duration::from_millis(250))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set<K, V>(&self, key: &K, value: &V, ttl: Option<Duration>) -> Result<(), Error>
    where
        K: Serialize + ?Sized,
        V: Serialize + ?Sized,
    {
        self.set_with_tags(key, value, ttl, &[] as &[&str]).await
    }

    /// [`RedisStore::set`] with tags, for [`RedisStore::invalidate_tags`].
    ///
    /// # Errors
    /// As [`RedisStore::set`].
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::RedisStore) -> Result<(), cachelite_redis::Error> {
    /// store.set_with_tags(&"post:1", &"body", None, &["user:7"]).await?;
    /// store.invalidate_tags(&["user:7"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_with_tags<K, V, T>(
        &self,
        key: &K,
        value: &V,
        ttl: Option<Duration>,
        tags: &[T],
    ) -> Result<(), Error>
    where
        K: Serialize + ?Sized,
        V: Serialize + ?Sized,
        T: AsRef<str>,
    {
        let rendered = render_key(key)?;
        let tags: Vec<String> = tags.iter().map(|t| t.as_ref().to_owned()).collect();
        let mode = Put::Announce {
            origin: self.inner.origin,
        };
        remote::put_value(self, &rendered, value, ttl, &tags, mode)
            .await
            .map(drop)
    }

    /// Deletes `key`; returns whether Redis held it. Published.
    ///
    /// # Errors
    /// When Redis cannot be reached or the key cannot be encoded.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::RedisStore) -> Result<(), cachelite_redis::Error> {
    /// let was_there = store.remove(&"k").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove<K: Serialize + ?Sized>(&self, key: &K) -> Result<bool, Error> {
        let rendered = render_key(key)?;
        self.remove_rendered(&rendered, self.inner.origin).await
    }

    /// Deletes every entry carrying any of `tags` (in batches: `SSCAN`,
    /// `UNLINK`); returns how many entries were deleted. Published.
    ///
    /// # Errors
    /// When Redis cannot be reached; entries deleted before the failure
    /// stay deleted.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::RedisStore) -> Result<(), cachelite_redis::Error> {
    /// let n = store.invalidate_tags(&["user:7", "posts"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_tags<T: AsRef<str>>(&self, tags: &[T]) -> Result<usize, Error> {
        let tags: Vec<String> = tags.iter().map(|t| t.as_ref().to_owned()).collect();
        self.invalidate_tags_from(&tags, self.inner.origin).await
    }

    /// Deletes every entry whose key (as [`RedisStore::redis_key`] renders
    /// it, after the namespace prefix) matches a Redis glob, by `SCAN
    /// MATCH` (never `KEYS`); returns how many were deleted. The pattern is
    /// appended to this namespace's literal prefix, so no pattern reaches
    /// another namespace. Published.
    ///
    /// # Errors
    /// [`Error::Glob`] for a pattern over the length limit; otherwise when
    /// Redis cannot be reached.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::RedisStore) -> Result<(), cachelite_redis::Error> {
    /// let n = store.invalidate_glob("user:*").await?;
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_glob(&self, pattern: &str) -> Result<usize, Error> {
        self.invalidate_glob_from(pattern, self.inner.origin).await
    }

    /// Deletes everything of this namespace and version (entries, tag sets,
    /// leases) and nothing else; returns how many keys went. Published.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    ///
    /// ```no_run
    /// # async fn demo(store: cachelite_redis::RedisStore) -> Result<(), cachelite_redis::Error> {
    /// store.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn clear(&self) -> Result<usize, Error> {
        self.clear_from(self.inner.origin).await
    }

    // ---- crate-internal operations, by rendered key and with an origin ----

    /// The server's time now (ms since the Unix epoch), as this process
    /// estimates it. Measured with `TIME` on first use; afterwards one
    /// caller at a time refreshes an estimate older than a minute while the
    /// others go on with it, so the steady state costs no round trip.
    async fn server_now_ms(&self) -> Result<u64, Error> {
        let clock = &self.inner.clock;
        let measured = clock.measured_us.load(Ordering::Acquire);
        let now = unix_us();
        let resync = i64::try_from(CLOCK_RESYNC.as_micros()).unwrap_or(i64::MAX);
        // A local clock that stepped back also calls for a new measurement.
        if measured == 0 || now.saturating_sub(measured) > resync || now < measured {
            let first = measured == 0;
            let ours = first
                || clock
                    .measured_us
                    .compare_exchange(measured, now.max(1), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
            if ours {
                // In a cluster, every process reads the clock of one node:
                // the one serving the namespace's channel name.
                let node = conn::to_key(self.inner.keys.channel().as_bytes());
                let time = redis::cmd("TIME");
                let mut best: Option<(i64, i64, (i64, i64))> = None;
                for _ in 0..CLOCK_SAMPLES {
                    let sent = unix_us();
                    match self.run::<(i64, i64)>(Req::At(&time, &node)).await {
                        Ok(t) => {
                            let sample = (sent, unix_us(), t);
                            if best.is_none_or(|(s, r, _)| sample.1 - sample.0 < r - s) {
                                best = Some(sample);
                            }
                        }
                        Err(e) if first && best.is_none() => return Err(e),
                        Err(_) => break,
                    }
                }
                if let Some((sent, received, time)) = best {
                    clock.record(sent, received, time);
                }
                return Ok(clock.now_ms());
            }
        }
        // The steady state: the clock read once, for the check and the answer.
        Ok(clock.ms_at(now))
    }

    /// Writes an encoded entry: `SET` and `PUBLISH` from the origin in one
    /// round trip, or for [`Put::IfAbsent`] `SET NX` alone; returns whether
    /// the entry was stored. The TTL is sent as `PX` milliseconds.
    ///
    /// An [`Put::IfAbsent`] write (a computed value) need not be announced:
    /// no local tier can hold a copy of an absent key. Every copy came
    /// from Redis or from a write, an entry's local copy ends no later
    /// than the entry, and every removal made through cachelite is
    /// published. A value that lost the race to another writer is not
    /// stored at all. (A key that Redis evicted under memory pressure, or
    /// that was deleted outside cachelite, may still have copies; the new
    /// value is then another result of the same computation, and those
    /// copies end with their TTL.)
    async fn put_entry(
        &self,
        rendered: &str,
        bytes: Vec<u8>,
        ttl: Option<Duration>,
        tags: &[String],
        mode: Put,
    ) -> Result<bool, Error> {
        let origin = match mode {
            Put::Announce { origin } => Some(origin),
            Put::IfAbsent => None,
        };
        let keys = &self.inner.keys;
        if tags.is_empty() && origin.is_none() && !self.inner.topology.is_cluster() {
            // One command: sent as such, without a pipeline's framing,
            // built in buffers of the right size, the key written in place.
            let key = keys.entry_arg(rendered);
            let mut set = Cmd::with_capacity(6, 3 + key.len() + bytes.len() + 2 + 20 + 2);
            set.arg("SET").arg(key).arg(bytes);
            if let Some(ttl) = ttl {
                set.arg("PX").arg(px(ttl));
            }
            set.arg("NX");
            // `OK` when stored; nil when `NX` found the key.
            let stored: redis::Value = self.run(Req::Cmd(&set)).await?;
            return Ok(!matches!(stored, redis::Value::Nil));
        }
        let key = keys.entry(rendered);
        if self.inner.topology.is_cluster() {
            return self
                .put_split(rendered, &key, bytes, ttl, tags, origin)
                .await;
        }
        let mut pipe = redis::pipe();
        if tags.is_empty() {
            let set = pipe.cmd("SET").arg(&key).arg(bytes);
            if let Some(ttl) = ttl {
                set.arg("PX").arg(px(ttl));
            }
            if origin.is_none() {
                set.arg("NX");
            }
        } else {
            let cmd = pipe
                .cmd("EVAL")
                .arg(INSERT_TAGGED)
                .arg(1 + tags.len())
                .arg(&key);
            for t in tags {
                cmd.arg(keys.tag(t));
            }
            cmd.arg(bytes)
                .arg(ttl.map_or(0, px))
                .arg(if origin.is_some() { "" } else { "NX" });
        }
        if let Some(origin) = origin {
            let msg = Message {
                origin,
                op: Op::Keys(vec![rendered.to_owned()]),
            };
            pipe.cmd("PUBLISH")
                .arg(keys.channel())
                .arg(msg.encode())
                .ignore();
        }
        // `OK` or 1 when stored; nil or 0 when `NX` found the key.
        let (stored,): (redis::Value,) = self.run(Req::Pipe(&pipe)).await?;
        Ok(!matches!(stored, redis::Value::Nil | redis::Value::Int(0)))
    }

    async fn remove_rendered(&self, rendered: &str, origin: u64) -> Result<bool, Error> {
        if self.inner.topology.is_cluster() {
            return self.remove_split(rendered, origin).await;
        }
        let msg = Message {
            origin,
            op: Op::Keys(vec![rendered.to_owned()]),
        }
        .encode();
        let mut pipe = redis::pipe();
        pipe.cmd("UNLINK")
            .arg(self.inner.keys.entry(rendered))
            .arg(self.inner.keys.counter(rendered))
            .cmd("PUBLISH")
            .arg(self.inner.keys.channel())
            .arg(msg)
            .ignore();
        let (n,): (u64,) = self.run(Req::Pipe(&pipe)).await?;
        Ok(n > 0)
    }

    async fn invalidate_tags_from(&self, tags: &[String], origin: u64) -> Result<usize, Error> {
        let mut deleted = 0;
        let mut outcome = Ok(());
        for tag in tags {
            match self.unlink_tag(tag).await {
                Ok(n) => deleted += n,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        // Published even after a partial failure: what was deleted must
        // leave the local tiers too.
        let published = self.publish(Op::Tags(tags.to_vec()), origin).await;
        outcome.and(published).map(|()| deleted)
    }

    async fn unlink_tag(&self, tag: &str) -> Result<usize, Error> {
        let set = self.inner.keys.tag(tag);
        let mut cursor = 0u64;
        let mut deleted = 0;
        loop {
            let mut scan = redis::cmd("SSCAN");
            scan.arg(&set).arg(cursor).arg("COUNT").arg(BATCH);
            let (next, members): (u64, Vec<Vec<u8>>) = self.run(Req::Cmd(&scan)).await?;
            // Members are our own entry keys; anything else is left alone.
            let members: Vec<Vec<u8>> = members
                .into_iter()
                .filter(|m| self.inner.keys.rendered_of(m).is_some())
                .collect();
            deleted += self.unlink(&members).await?;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        self.unlink(&[set.into_bytes()]).await?;
        Ok(deleted)
    }

    async fn invalidate_glob_from(&self, pattern: &str, origin: u64) -> Result<usize, Error> {
        let glob = cachelite_runtime::Glob::new(pattern).map_err(|e| Error::Glob(e.to_string()))?;
        let keys = &self.inner.keys;
        let outcome = self
            .unlink_scanned(&keys.entry_pattern(pattern), |k| {
                // Redis matched it already; check again with the same glob
                // on the rendered key, so nothing outside the namespace or
                // outside the pattern can go.
                keys.rendered_of(k).is_some_and(|r| glob.is_match(r))
            })
            .await;
        let published = self.publish(Op::Glob(pattern.to_owned()), origin).await;
        outcome.and_then(|n| published.map(|()| n))
    }

    async fn clear_from(&self, origin: u64) -> Result<usize, Error> {
        let keys = &self.inner.keys;
        let outcome = self
            .unlink_scanned(&keys.everything(), |k| keys.owns(k))
            .await;
        let published = self.publish(Op::Clear, origin).await;
        outcome.and_then(|n| published.map(|()| n))
    }

    async fn unlink_scanned(
        &self,
        pattern: &str,
        keep: impl Fn(&[u8]) -> bool,
    ) -> Result<usize, Error> {
        if self.inner.topology.is_cluster() {
            // Each master holds its own keys: scan them all.
            let mut deleted = 0;
            for node in self.masters().await? {
                deleted += self.unlink_scanned_at(pattern, &keep, &node).await?;
            }
            return Ok(deleted);
        }
        // One server: there is no node to choose.
        let only = RoutingInfo::SingleNode(redis::cluster_routing::SingleNodeRoutingInfo::Random);
        self.unlink_scanned_at(pattern, &keep, &only).await
    }

    /// Scans one node (the only one, or one master of a cluster).
    async fn unlink_scanned_at(
        &self,
        pattern: &str,
        keep: &impl Fn(&[u8]) -> bool,
        node: &RoutingInfo,
    ) -> Result<usize, Error> {
        let mut cursor = 0u64;
        let mut deleted = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(BATCH);
            // Keys as bytes: a binary key elsewhere must not break the scan.
            let (next, found): (u64, Vec<Vec<u8>>) = self.run(Req::At(&scan, node)).await?;
            let found: Vec<Vec<u8>> = found.into_iter().filter(|k| keep(k)).collect();
            deleted += self.unlink(&found).await?;
            cursor = next;
            if cursor == 0 {
                return Ok(deleted);
            }
        }
    }

    async fn unlink(&self, keys: &[Vec<u8>]) -> Result<usize, Error> {
        if self.inner.topology.is_cluster() {
            return self.unlink_by_slot(keys).await;
        }
        let mut deleted = 0;
        for chunk in keys.chunks(BATCH) {
            let mut cmd = redis::cmd("UNLINK");
            for k in chunk {
                cmd.arg(k.as_slice());
            }
            deleted += self.run::<usize>(Req::Cmd(&cmd)).await?;
        }
        Ok(deleted)
    }

    async fn publish(&self, op: Op, origin: u64) -> Result<(), Error> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(self.inner.keys.channel())
            .arg(Message { origin, op }.encode());
        self.run::<i64>(Req::Cmd(&cmd)).await.map(drop)
    }

    /// Tries to take the lease on `rendered` for `ttl`; `Some(token)` if
    /// taken.
    async fn try_lease_raw(&self, rendered: &str, ttl: Duration) -> Result<Option<String>, Error> {
        let token = format!("{:032x}", fastrand::u128(..));
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.inner.keys.lock(rendered))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(px(ttl));
        let ok: Option<String> = self.run(Req::Cmd(&cmd)).await?;
        Ok(ok.map(|_| token))
    }

    /// Releases a lease if it is still ours (compare and delete).
    async fn release_lease_raw(&self, rendered: &str, token: &str) -> Result<(), Error> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(DELETE_IF_EQUAL)
            .arg(1)
            .arg(self.inner.keys.lock(rendered))
            .arg(token);
        self.run::<i64>(Req::Cmd(&cmd)).await.map(drop)
    }

    /// One poll of a waiter: the entry if it has landed, and whether the
    /// lease is still held, in one round trip.
    async fn poll_lease_raw(&self, rendered: &str) -> Result<(Option<Vec<u8>>, bool), Error> {
        let keys = &self.inner.keys;
        let key = keys.entry(rendered);
        if self.inner.topology.is_cluster() {
            return self.poll_split(&key, &keys.lock(rendered)).await;
        }
        let mut pipe = redis::pipe();
        pipe.cmd("GET")
            .arg(&key)
            .cmd("EXISTS")
            .arg(keys.lock(rendered));
        self.run(Req::Pipe(&pipe)).await
    }

    async fn get_raw(&self, rendered: &str) -> Result<Option<Vec<u8>>, Error> {
        // Built in buffers of the right size, the key written in place.
        let key = self.inner.keys.entry_arg(rendered);
        let mut get = Cmd::with_capacity(2, 3 + key.len());
        get.arg("GET").arg(key);
        self.run(Req::Cmd(&get)).await
    }

    async fn get_many_raw(&self, rendered: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        if rendered.is_empty() {
            return Ok(Vec::new());
        }
        if self.inner.topology.is_cluster() {
            let keys: Vec<String> = rendered.iter().map(|r| self.inner.keys.entry(r)).collect();
            return self.get_many_split(&keys).await;
        }
        let mut pipe = redis::pipe();
        for r in rendered {
            pipe.cmd("GET").arg(self.inner.keys.entry(r));
        }
        self.run(Req::Pipe(&pipe)).await
    }

    async fn delete_if_equal_raw(&self, rendered: &str, entry: &[u8]) -> Result<bool, Error> {
        let mut del = redis::cmd("EVAL");
        del.arg(DELETE_IF_EQUAL)
            .arg(1)
            .arg(self.inner.keys.entry(rendered))
            .arg(entry);
        self.run::<i64>(Req::Cmd(&del)).await.map(|n| n > 0)
    }

    async fn incr_raw(
        &self,
        rendered: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> Result<i64, Error> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(INCR_COUNTER)
            .arg(1)
            .arg(self.inner.keys.counter(rendered))
            .arg(delta)
            .arg(ttl_on_create.map_or(0, px));
        self.run(Req::Cmd(&cmd)).await
    }

    // ---- the guarded call ----

    /// Where a two-tier cache's subscriber listens.
    pub(crate) fn subscription(&self) -> Subscription {
        match &self.inner.topology {
            Topology::Single => Subscription::single(self.inner.client.clone()),
            Topology::Cluster(c) => Subscription::cluster(c.nodes.clone()),
            Topology::Sentinel(s) => Subscription::sentinel(s.clone()),
        }
    }

    fn timeouts_for_connect(&self) -> Timeouts {
        Timeouts {
            connect: self.inner.connect_timeout,
            response: self.inner.response_timeout,
        }
    }

    /// The held connection and its id, or a new one. Callers that come
    /// while a connection is being made wait for that one: one attempt at
    /// a time. Through sentinels, a connection to a master they no longer
    /// name is replaced.
    async fn connection(&self, used: &mut u64) -> Result<Conn, Error> {
        let inner = &self.inner;
        let ask = inner.connect_timeout + inner.response_timeout;
        let (id, made) = {
            let mut link = inner.conn.lock();
            match &link.state {
                State::Ready(id, held) if inner.topology.is_current(held, ask) => {
                    *used = *id;
                    return Ok(held.conn.clone());
                }
                State::Connecting(id, made) => (*id, made.clone()),
                State::Ready(..) | State::Empty => {
                    let id = link.next_id();
                    inner.connected.store(false, Ordering::Release);
                    match inner
                        .topology
                        .connect(&inner.client, self.timeouts_for_connect())
                    {
                        Pending::Ready(held) => {
                            *used = id;
                            let conn = held.conn.clone();
                            link.state = State::Ready(id, held);
                            return Ok(conn);
                        }
                        Pending::Connecting(f) => {
                            let made = f.map(|r| r.map_err(Arc::new)).boxed().shared();
                            link.state = State::Connecting(id, made.clone());
                            (id, made)
                        }
                    }
                }
            }
        };
        *used = id;
        let made = made.await;
        let mut link = inner.conn.lock();
        let ours = matches!(link.state, State::Connecting(at, _) if at == id);
        match made {
            Ok(held) => {
                let conn = held.conn.clone();
                if ours {
                    link.state = State::Ready(id, held);
                }
                Ok(conn)
            }
            Err(e) => {
                if ours {
                    // The next call tries again.
                    link.state = State::Empty;
                }
                Err(conn::copy_error(&e))
            }
        }
    }

    /// Drops connection `id` if it is still the one held or being made:
    /// the next call makes a new one.
    fn disconnect(&self, id: u64) {
        let mut link = self.inner.conn.lock();
        if link.id() == Some(id) {
            link.state = State::Empty;
            self.inner.connected.store(false, Ordering::Release);
        }
    }

    /// After a failed call on connection `id` (0: none was had).
    fn failed(&self, id: u64) {
        self.inner.breaker.failure();
        // The next probe starts from a fresh connection. Through sentinels
        // every failure does: the master may have moved.
        if self.inner.breaker.is_open() || matches!(self.inner.topology, Topology::Sentinel(_)) {
            self.disconnect(id);
        }
    }

    /// Runs one command or pipeline under the breaker and a deadline: one
    /// response timeout once the connection has answered, one connect plus
    /// one response timeout before (through sentinels, twice that: asking
    /// them comes first).
    async fn run<T: FromRedisValue>(&self, req: Req<'_>) -> Result<T, Error> {
        let c = &self.inner.counters;
        if !self.inner.breaker.allow() {
            bump(&c.skipped);
            return Err(Error::Unavailable);
        }
        if tokio::runtime::Handle::try_current().is_err() {
            bump(&c.errors);
            return Err(Error::NoRuntime);
        }
        let deadline = if self.inner.connected.load(Ordering::Acquire) {
            self.inner.response_timeout
        } else if matches!(self.inner.topology, Topology::Sentinel(_)) {
            (self.inner.connect_timeout + self.inner.response_timeout) * 2
        } else {
            self.inner.connect_timeout + self.inner.response_timeout
        };
        // The id of the connection the call used or waited for.
        let mut used = 0;
        let call = async {
            let conn = self.connection(&mut used).await?;
            query::<T>(conn, req).await.map_err(Error::Redis)
        };
        let outcome = tokio::time::timeout(deadline, call).await;
        match outcome {
            Ok(Ok(v)) => {
                self.inner.breaker.success();
                if !self.inner.connected.load(Ordering::Relaxed) {
                    self.inner.connected.store(true, Ordering::Release);
                }
                Ok(v)
            }
            Ok(Err(Error::Redis(e))) => {
                bump(&c.errors);
                if is_transport(&e) {
                    // A connection to one server that failed is replaced
                    // (a cluster's connection reconnects by itself).
                    if !self.inner.topology.is_cluster() {
                        self.disconnect(used);
                    }
                    self.failed(used);
                } else {
                    // Redis answered: it is alive, whatever it said.
                    self.inner.breaker.success();
                    if e.code() == Some("READONLY")
                        && matches!(self.inner.topology, Topology::Sentinel(_))
                    {
                        // A master turned replica: ask the sentinels again.
                        self.disconnect(used);
                    }
                }
                Err(Error::Redis(e))
            }
            Ok(Err(e)) => {
                // No connection could be made (the sentinels did not say
                // where the master is).
                bump(&c.errors);
                self.failed(used);
                Err(e)
            }
            Err(_) => {
                bump(&c.errors);
                self.failed(used);
                Err(Error::Timeout)
            }
        }
    }
}

impl Store for RedisStore {
    type Feed = RedisFeed;

    fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    fn version(&self) -> u32 {
        self.inner.version
    }

    fn codec(&self) -> Codec {
        self.inner.codec
    }

    fn seal(&self, key: &str, entry: Vec<u8>) -> Result<Vec<u8>, Error> {
        let layers = &self.inner.layers;
        if layers.keyring().is_none() {
            return layers.seal(entry, &[]);
        }
        layers.seal(entry, self.inner.keys.entry(key).as_bytes())
    }

    fn open<'a>(&self, key: &str, stored: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        let layers = &self.inner.layers;
        if layers.keyring().is_none() {
            return layers.open(stored, &[]);
        }
        layers.open(stored, self.inner.keys.entry(key).as_bytes())
    }

    fn now_ms(&self) -> impl Future<Output = Result<u64, Error>> + Send {
        self.server_now_ms()
    }

    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send {
        self.get_raw(key)
    }

    fn get_many(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>, Error>> + Send {
        self.get_many_raw(keys)
    }

    fn put(
        &self,
        key: &str,
        entry: Vec<u8>,
        ttl: Option<Duration>,
        tags: &[String],
        mode: Put,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.put_entry(key, entry, ttl, tags, mode)
    }

    fn delete_if_equal(
        &self,
        key: &str,
        entry: &[u8],
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.delete_if_equal_raw(key, entry)
    }

    fn remove(&self, key: &str, origin: u64) -> impl Future<Output = Result<bool, Error>> + Send {
        self.remove_rendered(key, origin)
    }

    fn invalidate_tags(
        &self,
        tags: &[String],
        origin: u64,
    ) -> impl Future<Output = Result<usize, Error>> + Send {
        self.invalidate_tags_from(tags, origin)
    }

    fn invalidate_glob(
        &self,
        pattern: &str,
        origin: u64,
    ) -> impl Future<Output = Result<usize, Error>> + Send {
        self.invalidate_glob_from(pattern, origin)
    }

    fn clear(&self, origin: u64) -> impl Future<Output = Result<usize, Error>> + Send {
        self.clear_from(origin)
    }

    fn supports_leases(&self) -> bool {
        true
    }

    fn try_lease(
        &self,
        key: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send {
        self.try_lease_raw(key, ttl)
    }

    fn release_lease(
        &self,
        key: &str,
        token: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.release_lease_raw(key, token)
    }

    fn poll_lease(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<(Option<Vec<u8>>, bool), Error>> + Send {
        self.poll_lease_raw(key)
    }

    fn incr(
        &self,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        self.incr_raw(key, delta, ttl_on_create)
    }

    fn ping(&self) -> impl Future<Output = Result<Duration, Error>> + Send {
        RedisStore::ping(self)
    }

    fn stats(&self) -> StoreStats {
        RedisStore::stats(self)
    }

    fn count(&self, outcome: Outcome) {
        let c = &self.inner.counters;
        bump(match outcome {
            Outcome::Hit => &c.hits,
            Outcome::Miss => &c.misses,
            Outcome::Error => &c.errors,
        });
    }

    fn is_breaker_open(&self) -> bool {
        RedisStore::is_breaker_open(self)
    }

    fn subscribe(&self, heartbeat: Duration) -> RedisFeed {
        RedisFeed {
            source: self.subscription(),
            channel: self.inner.keys.channel(),
            timeout: self.inner.connect_timeout.max(Duration::from_secs(1)),
            heartbeat,
            conn: None,
            backoff: None,
        }
    }
}

/// The invalidation feed of a [`RedisStore`]: one pub/sub connection
/// subscribed to the namespace's channel, pinged every heartbeat (a
/// connection that stops answering counts as dropped), reconnected with a
/// backoff of 10 ms doubling to 500 ms.
///
/// ```no_run
/// # async fn demo() -> Result<(), cachelite_redis::Error> {
/// use cachelite_redis::{Event, Feed, RedisStore, Store};
/// let store = RedisStore::open("redis://127.0.0.1/", "demo")?;
/// let mut feed = store.subscribe(std::time::Duration::from_secs(1));
/// assert_eq!(feed.next().await, Event::Connected);
/// # Ok(()) }
/// ```
pub struct RedisFeed {
    source: Subscription,
    channel: String,
    timeout: Duration,
    heartbeat: Duration,
    conn: Option<(PubSubSink, PubSubStream, tokio::time::Interval)>,
    /// The pause before the next connection attempt; `None` before the
    /// first.
    backoff: Option<Duration>,
}

impl std::fmt::Debug for RedisFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFeed")
            .field("channel", &self.channel)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisFeed {
    async fn connect(&mut self) -> Option<(PubSubSink, PubSubStream)> {
        self.source.connect(&self.channel, self.timeout).await
    }

    fn dropped(&mut self) -> Event {
        self.conn = None;
        Event::Disconnected
    }
}

impl Feed for RedisFeed {
    async fn next(&mut self) -> Event {
        loop {
            let Some((sink, stream, beat)) = &mut self.conn else {
                if let Some(pause) = self.backoff {
                    tokio::time::sleep(pause).await;
                }
                if let Some((sink, stream)) = self.connect().await {
                    self.backoff = Some(Duration::from_millis(10));
                    let beat = tokio::time::interval_at(
                        tokio::time::Instant::now() + self.heartbeat,
                        self.heartbeat,
                    );
                    self.conn = Some((sink, stream, beat));
                    return Event::Connected;
                }
                self.backoff = Some(match self.backoff {
                    None => Duration::from_millis(10),
                    Some(b) => (b * 2).min(Duration::from_millis(500)),
                });
                continue;
            };
            tokio::select! {
                msg = stream.next() => {
                    return match msg {
                        Some(m) => Message::decode(m.get_payload_bytes())
                            .map_or(Event::Unreadable, Event::Message),
                        None => self.dropped(),
                    };
                }
                _ = beat.tick() => {
                    let pong = tokio::time::timeout(
                        self.heartbeat.max(self.timeout),
                        sink.ping::<redis::Value>(),
                    )
                    .await;
                    // Through sentinels, also whether the master it
                    // listens on is still the master.
                    if !matches!(pong, Ok(Ok(_))) {
                        return self.dropped();
                    }
                    if !self.source.is_current(self.timeout).await {
                        return self.dropped();
                    }
                }
            }
        }
    }
}

/// One command or pipeline on a connection of any kind.
async fn query<T: FromRedisValue>(conn: Conn, req: Req<'_>) -> redis::RedisResult<T> {
    match conn {
        Conn::Server(mut m) => match req {
            // Straight to the connection: `Cmd::query_async` would box
            // the call's future.
            Req::Cmd(cmd) | Req::At(cmd, _) => {
                let v = m.send_packed_command(cmd).await?;
                Ok(redis::from_redis_value(v.extract_error()?)?)
            }
            Req::Pipe(pipe) => pipe.query_async(&mut m).await,
        },
        // Boxed, so that a single server's calls do not carry the size of
        // the cluster's futures.
        Conn::Cluster(cl) => Box::pin(query_cluster(cl, req)).await,
    }
}

async fn query_cluster<T: FromRedisValue>(
    mut cl: redis::cluster_async::ClusterConnection,
    req: Req<'_>,
) -> redis::RedisResult<T> {
    match req {
        Req::Cmd(cmd) => cmd.query_async(&mut cl).await,
        Req::Pipe(pipe) => pipe.query_async(&mut cl).await,
        Req::At(cmd, route) => {
            let v = cl.route_command(cmd.clone(), route.clone()).await?;
            Ok(T::from_redis_value(v)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_password() {
        let single = RedisStore::builder("redis://ada:hunter2@127.0.0.1:6379/0");
        let cluster = RedisStore::builder_cluster(["redis://ada:hunter2@10.0.0.1:7000"]);
        let sentinel = RedisStore::builder_sentinel(["redis://ada:hunter2@10.0.0.1:26379"], "m")
            .sentinel_master_settings("redis://ada:hunter2@ignored/1");
        for b in [single, cluster, sentinel] {
            let shown = format!("{b:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("ada:***@"), "{shown}");
            let store = format!("{:?}", b.build().unwrap());
            assert!(
                !store.contains("hunter2") && store.contains("RedisStore"),
                "{store}"
            );
        }
    }

    #[test]
    fn the_server_clock_is_estimated_from_time_replies() {
        let clock = ServerClock::default();
        // A server 5 s ahead, read halfway through a 2 ms round trip.
        let sent = unix_us();
        let server = sent + 1_000 + 5_000_000;
        clock.record(sent, sent + 2_000, (server / 1_000_000, server % 1_000_000));
        let offset = clock.offset_us.load(Ordering::Relaxed);
        assert!((offset - 5_000_000).abs() <= 1, "{offset}");
        let local_ms = u64::try_from(unix_us() / 1000).unwrap();
        let ahead = clock.now_ms() - local_ms;
        assert!((4_999..=5_001).contains(&ahead), "{ahead}");
    }

    #[test]
    fn bad_settings_are_errors() {
        let b = || RedisStore::builder("redis://127.0.0.1/");
        assert!(matches!(
            b().namespace("a:b").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            b().response_timeout(Duration::ZERO).build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            b().circuit_breaker(0, Duration::from_secs(1)).build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            RedisStore::open("http://nope", "a"),
            Err(Error::Config(_))
        ));
        // TLS only with the `tls` feature (which the crate's tests enable).
        let tls = RedisStore::open("rediss://127.0.0.1/", "a");
        if cfg!(feature = "tls") {
            assert!(tls.is_ok(), "{tls:?}");
        } else {
            assert!(
                matches!(&tls, Err(Error::Config(m)) if m.contains("`tls` feature")),
                "{tls:?}"
            );
        }
    }

    #[test]
    fn clusters_and_sentinels_need_urls_and_a_service() {
        let none: [&str; 0] = [];
        assert!(matches!(
            RedisStore::builder_cluster(none).build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            RedisStore::builder_sentinel(none, "mymaster").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            RedisStore::builder_sentinel(["redis://127.0.0.1:26379"], "").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            RedisStore::builder_cluster(["redis://127.0.0.1:7000", "http://nope"]).build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            RedisStore::builder_sentinel(["redis://127.0.0.1:26379"], "m")
                .sentinel_master_settings("nonsense")
                .build(),
            Err(Error::Config(_))
        ));
        let cluster =
            RedisStore::builder_cluster(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])
                .build()
                .unwrap();
        assert!(cluster.inner.topology.is_cluster());
        assert_eq!(
            cluster.client().get_connection_info().addr().to_string(),
            "127.0.0.1:7000"
        );
        #[cfg(feature = "tls")]
        assert!(matches!(
            RedisStore::builder_cluster(["rediss://127.0.0.1:7000"])
                .tls_root_certificate(b"pem".to_vec())
                .build(),
            Err(Error::Config(_))
        ));
    }

    #[tokio::test]
    async fn unreachable_sentinels_fail_the_call_and_count() {
        let store = RedisStore::builder_sentinel(["redis://127.0.0.1:1"], "mymaster")
            .build()
            .unwrap();
        assert!(store.ping().await.is_err());
        assert_eq!(store.stats().errors, 1);
    }

    #[test]
    fn calls_outside_a_runtime_are_errors_not_panics() {
        let store = RedisStore::open("redis://127.0.0.1:1/", "a").unwrap();
        let r = futures::executor::block_on(store.ping());
        assert!(matches!(r, Err(Error::NoRuntime)), "{r:?}");
        assert_eq!(store.stats().errors, 1);
    }
}
