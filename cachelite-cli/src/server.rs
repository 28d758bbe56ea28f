//! `cachelite serve`: one cache behind a JSON API.
//!
//! | method   | path              | does                                                         |
//! |----------|-------------------|--------------------------------------------------------------|
//! | `GET`    | `/cache/{key}`    | `{"key", "value", "ttl"}` (ttl: seconds left, or null); 404  |
//! | `PUT`    | `/cache/{key}`    | body `{"value", "ttl"?, "tags"?}`; 201 created, 200 replaced |
//! | `DELETE` | `/cache/{key}`    | 204, or 404                                                  |
//! | `GET`    | `/keys?pattern=`  | `{"keys": [...], "count"}`, sorted; a Redis-style glob        |
//! | `POST`   | `/invalidate`     | body `{"pattern"}` or `{"tags": [...]}`; `{"removed": n}`     |
//! | `POST`   | `/flush`          | removes everything; `{"removed": n}`                         |
//! | `POST`   | `/snapshot`       | saves the snapshot file now; `{"path", "entries"}`           |
//! | `GET`    | `/stats`          | the cache's stats and those of every memoized function       |
//! | `GET`    | `/metrics`        | the same in the Prometheus text format                       |
//! | `GET`    | `/health`         | `{"status": "ok"}`                                           |
//!
//! Keys are the rest of the path after `/cache/`, percent-decoded, so they
//! may contain `/`. A `ttl` is a number of seconds (`90`, `0.5`) or a
//! string with a unit (`"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`), read by
//! the same parser as the command line's `--ttl`; anything else is a 400.
//! Every error is a 4xx with a JSON body
//! `{"error": "..."}`, including axum's own rejections (malformed JSON 400,
//! wrong types 422, missing content type 415, body too large 413); the
//! 5xx are a `POST /snapshot` whose save failed (500) and, with Redis, a
//! write or invalidation Redis did not take (503). With a
//! token, every request other than `GET`/`HEAD` needs
//! `Authorization: Bearer <token>`; the token is compared in constant time.
//!
//! Every limit has a safe default (see [`ServerConfig`]): the cache is
//! bounded in entries and bytes, a connection over
//! [`ServerConfig::max_connections`] is answered 503 and closed, a request
//! head must arrive within [`ServerConfig::header_timeout`] and fit in
//! [`ServerConfig::max_header_bytes`] (else the connection is closed, or
//! answered 431), a request slower than [`ServerConfig::request_timeout`]
//! is answered 408, and a kept-alive connection silent for
//! [`ServerConfig::idle_timeout`] is closed. Each is counted in `/metrics`
//! (`cachelite_server_*`) and under `"server"` in `/stats`.
//!
//! With [`ServerConfig::redis`] (`cachelite serve --redis URL`), several
//! servers share one cache through Redis, each with a local tier kept
//! coherent by the namespace's invalidation channel: see
//! [`crate::shared`].
//!
//! Start it in-process on an ephemeral port:
//!
//! ```no_run
//! use cachelite_cli::server::{ServerConfig, serve};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("listening on {}", listener.local_addr()?);
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(serve(listener, ServerConfig::default(), async move {
//!     let _ = stopped.await;
//! }));
//! // ... talk to it ...
//! let _ = stop.send(());
//! server.await??;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::io;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cachelite::{
    BuildError, CacheInfo, Glob, Insertion, Policy, SnapshotError, SnapshotFormat, Stats,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::limits::{ConnLimits, ServerCounters};
use crate::shared::{RedisConfig, SharedCache};
use crate::{JsonCache, parse_duration, secs, secs_to_duration};

/// The largest request body accepted by default: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// The longest key accepted by default, in bytes.
pub const DEFAULT_MAX_KEY_LEN: usize = 1024;
/// How long requests in flight may take to finish after shutdown begins,
/// by default.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The entry bound when none is given: 100,000 entries. Each entry costs
/// some memory beyond its weight, so the byte bound alone would not bound
/// a cache of many tiny entries.
pub const DEFAULT_MAX_ITEMS: usize = 100_000;
/// The byte bound when none is given: 64 MiB (memcached's default too).
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
/// Concurrent connections accepted by default; the next one is answered
/// 503 and closed.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long a request may take by default, from its head being read to
/// its response (reading the body included); then 408.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request head may take to arrive by default, counted from the
/// connection opening or the head's first byte; then the connection is
/// closed.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a kept-alive connection may stay silent between requests by
/// default; then it is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most connections [`ServerConfig::max_connections`] may allow.
const MAX_CONNECTIONS_LIMIT: usize = (u32::MAX >> 3) as usize;
/// The largest request head (request line and headers) by default: 16 KiB;
/// a larger one is answered 431 and the connection closed.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 << 10;

/// Everything `cachelite serve` can be told.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Bound on the number of entries ([`DEFAULT_MAX_ITEMS`] by default).
    pub max_items: Option<usize>,
    /// Bound on the summed weight of the entries, in bytes
    /// ([`DEFAULT_MAX_BYTES`] by default); see [`crate::memory_weight`].
    pub max_bytes: Option<u64>,
    /// The eviction policy.
    pub policy: Policy,
    /// TTL of entries stored without one.
    pub default_ttl: Option<Duration>,
    /// Interval of the background sweep that removes expired entries.
    pub active_expiry: Option<Duration>,
    /// Snapshot file: restored at start if it exists, saved periodically,
    /// on `POST /snapshot` and at shutdown.
    pub snapshot: Option<PathBuf>,
    /// How often to save the snapshot; `None` saves only at shutdown.
    pub snapshot_interval: Option<Duration>,
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// Longest key, in bytes.
    pub max_key_len: usize,
    /// Bearer token required for writes, if set.
    pub token: Option<String>,
    /// How long requests in flight may take to finish once shutdown
    /// begins; then the server stops regardless (and saves its snapshot).
    pub shutdown_grace: Duration,
    /// Concurrent connections; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Longest time from a request's head to its response; then 408.
    pub request_timeout: Duration,
    /// Longest wait for a complete request head, from the connection
    /// opening or the head's first byte; then the connection is closed.
    pub header_timeout: Duration,
    /// Longest silence between requests on a kept-alive connection; then
    /// it is closed.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers), in bytes; a larger
    /// one is answered 431.
    pub max_header_bytes: usize,
    /// Share the cache through Redis with every server started on the same
    /// namespace: the bounds above then bound each server's local tier
    /// (see [`crate::shared`]). Cannot be combined with a snapshot.
    pub redis: Option<RedisConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_items: Some(DEFAULT_MAX_ITEMS),
            max_bytes: Some(DEFAULT_MAX_BYTES),
            policy: Policy::default(),
            default_ttl: None,
            active_expiry: None,
            snapshot: None,
            snapshot_interval: None,
            max_body: DEFAULT_MAX_BODY,
            max_key_len: DEFAULT_MAX_KEY_LEN,
            token: None,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            redis: None,
        }
    }
}

impl ServerConfig {
    /// Builds the cache this configuration describes (empty: the snapshot
    /// is restored by [`serve`]).
    ///
    /// # Errors
    /// A configuration mistake, such as `max_items` of 0.
    ///
    /// ```
    /// use cachelite_cli::server::ServerConfig;
    /// let cache = ServerConfig { max_items: Some(10), ..Default::default() }.build_cache()?;
    /// assert_eq!(cache.max_items(), Some(10));
    /// # Ok::<(), cachelite::BuildError>(())
    /// ```
    pub fn build_cache(&self) -> Result<JsonCache, BuildError> {
        let mut b = cachelite::Cache::builder()
            .policy(self.policy)
            .weigher(|k: &String, v| crate::memory_weight(k, v));
        if let Some(n) = self.max_items {
            b = b.max_items(n);
        }
        if let Some(n) = self.max_bytes {
            b = b.max_weight(n);
        }
        if let Some(d) = self.default_ttl {
            b = b.default_ttl(d);
        }
        if let Some(d) = self.active_expiry {
            b = b.active_expiry(d);
        }
        b.try_build()
    }
}

/// What the handlers share: the cache and the request limits.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    /// The cache itself, or with `--redis` the shared cache's local tier.
    cache: JsonCache,
    shared: Option<SharedCache>,
    token: Option<Vec<u8>>,
    max_body: usize,
    max_key_len: usize,
    snapshot: Option<PathBuf>,
    request_timeout: Duration,
    default_ttl: Option<Duration>,
    counters: Arc<ServerCounters>,
}

impl AppState {
    /// State serving `cache` with the limits and token of `config`.
    #[must_use]
    pub fn new(cache: JsonCache, config: &ServerConfig) -> Self {
        Self::build(cache, None, config)
    }

    /// State serving a cache shared through Redis (see [`crate::shared`]),
    /// with the limits and token of `config`.
    ///
    /// ```no_run
    /// use cachelite_cli::server::{AppState, ServerConfig, router};
    /// use cachelite_redis::{RedisStore, TieredCache};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::open("redis://127.0.0.1/", "api")?;
    /// let shared = TieredCache::builder(store).build()?;
    /// let app = router(AppState::shared(shared, &ServerConfig::default()));
    /// # let _ = app; Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn shared(cache: SharedCache, config: &ServerConfig) -> Self {
        Self::build(cache.local().clone(), Some(cache), config)
    }

    fn build(cache: JsonCache, shared: Option<SharedCache>, config: &ServerConfig) -> Self {
        Self {
            inner: Arc::new(StateInner {
                cache,
                shared,
                token: config
                    .token
                    .as_ref()
                    .filter(|t| !t.is_empty())
                    .map(|t| t.as_bytes().to_vec()),
                max_body: config.max_body,
                max_key_len: config.max_key_len,
                snapshot: config.snapshot.clone(),
                request_timeout: config.request_timeout,
                default_ttl: config.default_ttl,
                counters: Arc::default(),
            }),
        }
    }

    /// The cache being served; with Redis, the local tier.
    #[must_use]
    pub fn cache(&self) -> &JsonCache {
        &self.inner.cache
    }

    /// The two-tier cache, when the server shares its cache through Redis.
    #[must_use]
    pub fn shared_cache(&self) -> Option<&SharedCache> {
        self.inner.shared.as_ref()
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("cache", &self.inner.cache)
            .field("shared", &self.inner.shared)
            .field("auth", &self.inner.token.is_some())
            .field("max_body", &self.inner.max_body)
            .field("max_key_len", &self.inner.max_key_len)
            .field("snapshot", &self.inner.snapshot)
            .finish()
    }
}

/// The API's routes over `state`, with the body limit, the token check and
/// JSON errors for unknown routes and methods.
pub fn router(state: AppState) -> Router {
    let max_body = state.inner.max_body;
    Router::new()
        .route(
            "/cache/{*key}",
            get(get_entry).put(put_entry).delete(delete_entry),
        )
        .route("/keys", get(list_keys))
        .route("/invalidate", post(invalidate))
        .route("/flush", post(flush))
        .route("/snapshot", post(save_now))
        .route("/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(state.clone(), limit_request))
        .with_state(state)
}

/// The request timeout, and the counts of requests and of the limits they
/// reached. Outermost, so that the time spent reading the body counts.
async fn limit_request(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let counters = &state.inner.counters;
    ServerCounters::bump(&counters.requests);
    let limit = state.inner.request_timeout;
    let resp = match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            let mut resp = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request took longer than {} s (--request-timeout)",
                    secs(limit)
                ),
            )
            .into_response();
            // The body may be half read: the connection cannot carry
            // another request.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
    };
    match resp.status() {
        StatusCode::REQUEST_TIMEOUT => ServerCounters::bump(&counters.request_timeouts),
        StatusCode::PAYLOAD_TOO_LARGE => ServerCounters::bump(&counters.bodies_too_large),
        _ => {}
    }
    resp
}

/// Why [`serve`] stopped with an error.
#[derive(Debug)]
pub enum ServeError {
    /// The configuration does not describe a valid cache.
    Config(BuildError),
    /// The snapshot file's extension names no snapshot format.
    SnapshotPath(PathBuf),
    /// The snapshot file exists but could not be restored.
    Restore(PathBuf, SnapshotError),
    /// The snapshot could not be saved at shutdown.
    Save(PathBuf, String),
    /// The listener failed.
    Io(io::Error),
    /// A connection limit is out of range.
    Limit(&'static str),
    /// The Redis settings are invalid.
    Redis(cachelite_redis::Error),
    /// A snapshot file was given together with Redis.
    SnapshotWithRedis,
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = match self {
            ServeError::Config(e) => format!("invalid cache configuration: {e}"),
            ServeError::SnapshotPath(p) => format!(
                "cannot tell the format of snapshot file {}: name it *.json or *.msgpack (or *.mpk)",
                p.display()
            ),
            ServeError::Restore(p, e) => format!("cannot restore snapshot {}: {e}", p.display()),
            ServeError::Save(p, e) => format!("cannot save snapshot {}: {e}", p.display()),
            ServeError::Io(e) => format!("server error: {e}"),
            ServeError::Limit(why) => format!("invalid server limit: {why}"),
            ServeError::Redis(e) => format!("cannot share the cache through Redis: {e}"),
            ServeError::SnapshotWithRedis => "--snapshot cannot be used with --redis: Redis holds \
                 the shared copy, and a snapshot of one server's local tier would bring back \
                 entries the others have since changed or removed"
                .to_owned(),
        };
        f.write_str(&crate::store::one_line(&line))
    }
}

impl std::error::Error for ServeError {}

impl From<BuildError> for ServeError {
    fn from(e: BuildError) -> Self {
        ServeError::Config(e)
    }
}

/// Serves the API on `listener` until `shutdown` completes, then waits for
/// requests in flight to finish (for [`ServerConfig::shutdown_grace`] at
/// most).
///
/// With [`ServerConfig::snapshot`], the file is restored first if it
/// exists, saved every [`ServerConfig::snapshot_interval`], and saved once
/// more after shutdown, all under the store's lock file so a `cachelite`
/// CLI never reads it half-written.
///
/// # Errors
/// A bad configuration, an unreadable snapshot, a listener failure, or a
/// failed final save.
pub async fn serve<F>(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: F,
) -> Result<(), ServeError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let shared = match &config.redis {
        Some(redis) => Some(build_shared(&config, redis)?),
        None => None,
    };
    let cache = match &shared {
        Some(s) => s.local().clone(),
        None => config.build_cache()?,
    };
    if let Some(path) = &config.snapshot {
        if SnapshotFormat::from_path(path).is_none() {
            return Err(ServeError::SnapshotPath(path.clone()));
        }
        let (c, p) = (cache.clone(), path.clone());
        let restored = tokio::task::spawn_blocking(move || restore_if_present(&c, &p))
            .await
            .map_err(|e| ServeError::Io(io::Error::other(e)))?;
        restored.map_err(|e| ServeError::Restore(path.clone(), e))?;
    }
    if config.max_connections == 0 || config.max_connections > MAX_CONNECTIONS_LIMIT {
        return Err(ServeError::Limit(
            "max_connections must be between 1 and 536870911",
        ));
    }
    if config.max_header_bytes == 0 {
        return Err(ServeError::Limit("max_header_bytes must be at least 1"));
    }
    let state = AppState::build(cache.clone(), shared, &config);
    let counters = state.inner.counters.clone();
    let saver = match (&config.snapshot, config.snapshot_interval) {
        (Some(path), Some(every)) => {
            Some(tokio::spawn(save_every(cache.clone(), path.clone(), every)))
        }
        _ => None,
    };
    // Requests in flight get a grace period once `shutdown` completes; a
    // client that never finishes its request must not keep the snapshot
    // from being saved.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let limits = ConnLimits {
        max_connections: config.max_connections,
        header_timeout: config.header_timeout,
        idle_timeout: config.idle_timeout,
        max_header_bytes: config.max_header_bytes,
    };
    crate::limits::run(
        listener,
        router(state),
        limits,
        counters,
        stop_rx,
        config.shutdown_grace,
    )
    .await;
    if let Some(task) = saver {
        task.abort();
        let _ = task.await;
    }
    if let Some(path) = &config.snapshot {
        save_snapshot(&cache, path)
            .await
            .map_err(|e| ServeError::Save(path.clone(), e))?;
    }
    Ok(())
}

/// The two-tier cache of `--redis`: the local tier bounded as the cache
/// would be, Redis entries with the default TTL.
fn build_shared(config: &ServerConfig, redis: &RedisConfig) -> Result<SharedCache, ServeError> {
    if config.snapshot.is_some() {
        return Err(ServeError::SnapshotWithRedis);
    }
    // The default TTL is the Redis entries' (local copies never outlive
    // them); the local tier's bounds are the server's.
    let local = ServerConfig {
        default_ttl: None,
        redis: None,
        ..config.clone()
    }
    .build_cache()?;
    let store = redis.store.clone().build().map_err(ServeError::Redis)?;
    let mut b = cachelite_redis::TieredCache::builder(store).local(local);
    if let Some(d) = config.default_ttl {
        b = b.ttl(d);
    }
    if let Some(d) = redis.local_ttl {
        b = b.local_ttl(d);
    }
    b.build().map_err(ServeError::Redis)
}

fn restore_if_present(cache: &JsonCache, path: &FsPath) -> Result<usize, SnapshotError> {
    if path.exists() {
        cache.restore(path)
    } else {
        Ok(0)
    }
}

async fn save_every(cache: JsonCache, path: PathBuf, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = save_snapshot(&cache, &path).await {
            eprintln!(
                "cachelite: cannot save snapshot {}: {}",
                path.display(),
                crate::store::one_line(&e)
            );
        }
    }
}

/// Saves off the async threads, under the store's lock. Returns the number
/// of entries written.
async fn save_snapshot(cache: &JsonCache, path: &FsPath) -> Result<usize, String> {
    let (cache, path) = (cache.clone(), path.to_owned());
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let _lock = crate::store::lock_exclusive(&path).map_err(|e| e.to_string())?;
        crate::store::remove_stale_temps(&path);
        cache.snapshot(&path).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

// ---------------------------------------------------------------------------
// Errors and extractors

/// An error response: a status and `{"error": message}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn not_found(key: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("key not found: {key}"))
    }

    /// A write or invalidation Redis did not take: 503, and why. Nothing
    /// is kept locally instead, so the servers never disagree.
    fn shared(e: &cachelite_redis::Error, what: &str) -> Self {
        match e {
            cachelite_redis::Error::Glob(_) => Self::new(StatusCode::BAD_REQUEST, e.to_string()),
            _ => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                crate::store::one_line(&format!(
                    "the shared store is unavailable, {what}: {e}; retry when Redis is back"
                )),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Doc(json!({ "error": self.message }))).into_response()
    }
}

/// A JSON object body decoded into `T`, rejecting with a JSON error
/// instead of axum's plain text: 400 malformed, 413 too large, 415 not
/// JSON, 422 not an object or not the expected fields and types.
struct ApiJson<T>(T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let value = match Json::<Value>::from_request(req, state).await {
            Ok(Json(v)) => v,
            Err(rejection) => return Err(json_rejection(&rejection)),
        };
        // Checked first: serde would also accept a struct written as an array.
        if !value.is_object() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the request body must be a JSON object",
            ));
        }
        serde_path_to_error::deserialize(value)
            .map(Self)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let message = if path == "." {
                    format!("invalid request body: {inner}")
                } else {
                    format!("invalid request body: {path}: {inner}")
                };
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
            })
    }
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    let message = match r {
        JsonRejection::MissingJsonContentType(_) => {
            "expected a JSON body with `Content-Type: application/json`".to_owned()
        }
        JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            "request body is larger than the limit (--max-body)".to_owned()
        }
        _ => r.body_text(),
    };
    ApiError::new(r.status(), message)
}

/// The key: the rest of the path after `/cache/`, percent-decoded.
struct Key(String);

impl FromRequestParts<AppState> for Key {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let axum::extract::Path(key) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|r: PathRejection| ApiError::new(r.status(), r.body_text()))?;
        let limit = state.inner.max_key_len;
        if key.len() > limit {
            return Err(ApiError::new(
                StatusCode::URI_TOO_LONG,
                format!(
                    "key is {} bytes long; the limit is {limit} (--max-key-len)",
                    key.len()
                ),
            ));
        }
        Ok(Self(key))
    }
}

/// A JSON response body, newline-terminated so that `curl` output ends
/// its line.
struct Doc(Value);

impl IntoResponse for Doc {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "application/json")],
            format!("{}\n", self.0),
        )
            .into_response()
    }
}

/// axum's `Query`, rejecting with a JSON error.
struct ApiQuery<T>(T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|r: QueryRejection| ApiError::new(r.status(), r.body_text()))
    }
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route for {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    )
}

// ---------------------------------------------------------------------------
// Authentication

async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = &state.inner.token else {
        return next.run(req).await;
    };
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    if bearer(req.headers()).is_some_and(|given| constant_time_eq(given, token)) {
        return next.run(req).await;
    }
    let mut resp = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "this request needs `Authorization: Bearer <token>` with the server's token",
    )
    .into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

/// Compares secrets without an early exit, so the time taken does not tell
/// how many leading bytes of a guess were right. The length is not secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

// ---------------------------------------------------------------------------
// Handlers

fn ttl_json(cache: &JsonCache, key: &str) -> Value {
    cache.ttl(key).map_or(Value::Null, |d| json!(secs(d)))
}

async fn get_entry(State(state): State<AppState>, Key(key): Key) -> Result<Doc, ApiError> {
    let cache = state.cache();
    let value = match state.shared_cache() {
        // Redis unreachable reads as a miss (fail open).
        Some(shared) => shared.get(key.as_str()).await,
        None => cache.get(key.as_str()),
    }
    .ok_or_else(|| ApiError::not_found(&key))?;
    // With Redis, the TTL of the local copy a read leaves behind: the
    // entry's, unless --local-ttl is shorter.
    let ttl = ttl_json(cache, &key);
    Ok(Doc(json!({ "key": key, "value": value, "ttl": ttl })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    value: Value,
    /// Checked by [`ttl_from_json`], so that a bad TTL gets a message
    /// about TTLs rather than serde's about types.
    #[serde(default)]
    ttl: Option<Value>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

async fn put_entry(
    State(state): State<AppState>,
    Key(key): Key,
    ApiJson(body): ApiJson<PutBody>,
) -> Result<Response, ApiError> {
    let ttl = body
        .ttl
        .as_ref()
        .map(ttl_from_json)
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    if let Some(shared) = state.shared_cache() {
        let default_ttl = state.inner.default_ttl;
        return put_shared(shared, key, body.value, ttl, body.tags, default_ttl).await;
    }
    let mut ins = Insertion::new(body.value);
    if let Some(d) = ttl {
        ins = ins.with_ttl(d);
    }
    if let Some(tags) = body.tags {
        ins = ins.with_tags(tags);
    }
    let cache = state.cache();
    // Another writer may create the key between the check and the insert;
    // both then answer 201, which is harmless for a cache.
    let existed = cache.contains_key(key.as_str());
    if !cache.insert_entry(key.clone(), ins) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the entry alone is larger than the cache's byte budget (--max-bytes)",
        ));
    }
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let ttl = ttl_json(cache, &key);
    let body = json!({ "key": key, "created": !existed, "ttl": ttl });
    Ok((status, Doc(body)).into_response())
}

/// `PUT` with Redis: written there and announced, or 503.
async fn put_shared(
    shared: &SharedCache,
    key: String,
    value: Value,
    ttl: Option<Duration>,
    tags: Option<Vec<String>>,
    default_ttl: Option<Duration>,
) -> Result<Response, ApiError> {
    // As without Redis, a writer racing this one may also answer 201.
    let existed = crate::shared::exists(shared, &key).await;
    let mut ins = cachelite_redis::Insertion::new(value);
    if let Some(d) = ttl {
        ins = ins.with_ttl(d);
    }
    if let Some(tags) = tags {
        ins = ins.with_tags(tags);
    }
    shared
        .insert_entry(key.as_str(), ins)
        .await
        .map_err(|e| ApiError::shared(&e, "the value was not stored"))?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let ttl = ttl.or(default_ttl).map_or(Value::Null, |d| json!(secs(d)));
    let body = json!({ "key": key, "created": !existed, "ttl": ttl });
    Ok((status, Doc(body)).into_response())
}

/// A `ttl` from a request body: a number of seconds, or a string that
/// [`parse_duration`] reads as the command line's `--ttl` does.
fn ttl_from_json(ttl: &Value) -> Result<Duration, String> {
    match ttl {
        Value::Number(n) => {
            let secs = n.as_f64().unwrap_or(f64::NAN);
            secs_to_duration(secs).map_err(|e| format!("ttl {e}"))
        }
        Value::String(s) => parse_duration(s).map_err(|e| format!("ttl: {e}")),
        _ => Err(format!(
            "ttl must be a number of seconds (90, 0.5) or a string with a unit \
             (\"500ms\", \"30s\", \"5m\", \"2h\", \"1d\"), not {ttl}"
        )),
    }
}

async fn delete_entry(
    State(state): State<AppState>,
    Key(key): Key,
) -> Result<StatusCode, ApiError> {
    let removed = match state.shared_cache() {
        Some(shared) => shared
            .remove(key.as_str())
            .await
            .map_err(|e| ApiError::shared(&e, "the key may still be stored"))?,
        None => state.cache().remove(key.as_str()).is_some(),
    };
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(&key))
    }
}

#[derive(Deserialize)]
struct KeysQuery {
    pattern: Option<String>,
}

fn compile_glob(pattern: &str) -> Result<Glob, ApiError> {
    Glob::new(pattern).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

async fn list_keys(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<KeysQuery>,
) -> Result<Doc, ApiError> {
    let cache = state.cache();
    if let Some(shared) = state.shared_cache() {
        let glob = match q.pattern.as_deref() {
            None | Some("*") => None,
            Some(p) => Some(compile_glob(p)?),
        };
        let mut keys = crate::shared::keys(shared, glob.as_ref(), state.inner.request_timeout)
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the shared store is unavailable, no keys listed: {e}"),
                )
            })?;
        keys.sort_unstable();
        return Ok(Doc(json!({ "count": keys.len(), "keys": keys })));
    }
    let mut keys = match q.pattern.as_deref() {
        None | Some("*") => cache.keys(),
        Some(p) => {
            let glob = compile_glob(p)?;
            let mut all = cache.keys();
            all.retain(|k| glob.is_match(k));
            all
        }
    };
    keys.sort_unstable();
    Ok(Doc(json!({ "count": keys.len(), "keys": keys })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidateBody {
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

async fn invalidate(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<InvalidateBody>,
) -> Result<Doc, ApiError> {
    let cache = state.cache();
    if let Some(shared) = state.shared_cache() {
        let removed = match (body.pattern, body.tags) {
            (Some(p), None) => {
                compile_glob(&p)?;
                shared.invalidate_glob(&p).await
            }
            (None, Some(tags)) => shared.invalidate_tags(&tags).await,
            _ => return Err(invalidate_shape()),
        }
        .map_err(|e| ApiError::shared(&e, "entries may still be stored"))?;
        return Ok(Doc(json!({ "removed": removed })));
    }
    let removed = match (body.pattern, body.tags) {
        (Some(p), None) => cache.invalidate_matching(&compile_glob(&p)?),
        (None, Some(tags)) => cache.invalidate_tags(&tags),
        _ => return Err(invalidate_shape()),
    };
    Ok(Doc(json!({ "removed": removed })))
}

fn invalidate_shape() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"give exactly one of {"pattern": "<glob>"} or {"tags": ["<tag>", ...]}"#,
    )
}

async fn flush(State(state): State<AppState>) -> Result<Doc, ApiError> {
    if let Some(shared) = state.shared_cache() {
        // The Redis keys of the namespace: entries, tag sets and counters.
        let removed = shared
            .clear()
            .await
            .map_err(|e| ApiError::shared(&e, "entries may still be stored"))?;
        return Ok(Doc(json!({ "removed": removed })));
    }
    let cache = state.cache();
    let before = cache.len();
    cache.clear();
    Ok(Doc(json!({ "removed": before })))
}

/// `POST /snapshot`: saves the snapshot file now, under the store's lock,
/// so that `cachelite --store PATH ...` then reads the current entries
/// rather than those of the last periodic save.
async fn save_now(State(state): State<AppState>) -> Result<Doc, ApiError> {
    let Some(path) = &state.inner.snapshot else {
        if state.shared_cache().is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "this server shares its cache through Redis, which holds the durable copy: \
                 it has no snapshot file",
            ));
        }
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this server has no snapshot file: start it with --snapshot PATH",
        ));
    };
    let entries = save_snapshot(state.cache(), path).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            crate::store::one_line(&format!("cannot save snapshot {}: {e}", path.display())),
        )
    })?;
    Ok(Doc(
        json!({ "path": path.display().to_string(), "entries": entries }),
    ))
}

async fn health() -> Doc {
    Doc(json!({ "status": "ok" }))
}

/// Stats plus configuration of the served cache, as JSON.
pub(crate) fn cache_stats_json(cache: &JsonCache) -> Value {
    let s: Stats = cache.stats();
    json!({
        "len": s.len,
        "bytes": s.bytes,
        "hits": s.hits,
        "misses": s.misses,
        "hit_rate": s.hit_rate(),
        "inserts": s.inserts,
        "evictions": s.evictions,
        "expirations": s.expirations,
        "invalidations": s.invalidations,
        "rejections": s.rejections,
        "max_items": cache.max_items(),
        "max_bytes": cache.max_bytes(),
        "policy": cache.policy().name(),
    })
}

/// A memoized function's info, as JSON.
pub(crate) fn info_json(i: &CacheInfo) -> Value {
    json!({
        "len": i.stats.len,
        "bytes": i.stats.bytes,
        "hits": i.stats.hits,
        "misses": i.stats.misses,
        "hit_rate": i.hit_rate(),
        "inserts": i.stats.inserts,
        "evictions": i.stats.evictions,
        "expirations": i.stats.expirations,
        "invalidations": i.stats.invalidations,
        "max_items": i.config.max_items,
        "max_bytes": i.config.max_bytes,
        "policy": i.config.policy.name(),
        "ttl": i.config.default_ttl.map(secs),
    })
}

async fn stats(State(state): State<AppState>) -> Doc {
    let memoized: BTreeMap<&str, Value> = cachelite::registry()
        .iter()
        .map(|(name, info)| (*name, info_json(info)))
        .collect();
    let mut doc = json!({
        "cache": cache_stats_json(state.cache()),
        "server": server_stats_json(&state.inner.counters),
        "memoized": memoized,
    });
    if let Some(shared) = state.shared_cache() {
        doc["tiers"] = crate::shared::tiers_json(shared);
    }
    Doc(doc)
}

/// The server's connection and request counters, as JSON.
fn server_stats_json(c: &ServerCounters) -> Value {
    let mut doc = serde_json::Map::new();
    for (name, _, _, read) in SERVER_FAMILIES {
        let key = name
            .trim_start_matches("cachelite_server_")
            .trim_end_matches("_total");
        doc.insert(key.to_owned(), json!(read(c)));
    }
    Value::Object(doc)
}

/// A server-wide metric: name, type, help and how to read it.
type ServerFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ServerCounters) -> u64,
);

const SERVER_FAMILIES: [ServerFamily; 9] = [
    (
        "cachelite_server_connections_total",
        "counter",
        "Connections accepted.",
        |c| ServerCounters::read(&c.connections_accepted),
    ),
    (
        "cachelite_server_connections_open",
        "gauge",
        "Connections open now.",
        |c| ServerCounters::read(&c.connections_open),
    ),
    (
        "cachelite_server_connections_rejected_total",
        "counter",
        "Connections refused (503) because --max-connections were open.",
        |c| ServerCounters::read(&c.connections_rejected),
    ),
    (
        "cachelite_server_idle_closed_total",
        "counter",
        "Connections closed after --idle-timeout without a request.",
        |c| ServerCounters::read(&c.idle_closed),
    ),
    (
        "cachelite_server_header_timeouts_total",
        "counter",
        "Connections closed because a request head took longer than --header-timeout.",
        |c| ServerCounters::read(&c.header_timeouts),
    ),
    (
        "cachelite_server_headers_too_large_total",
        "counter",
        "Requests refused (431) because their head exceeded --max-header-size.",
        |c| ServerCounters::read(&c.headers_too_large),
    ),
    (
        "cachelite_server_requests_total",
        "counter",
        "Requests handled.",
        |c| ServerCounters::read(&c.requests),
    ),
    (
        "cachelite_server_request_timeouts_total",
        "counter",
        "Requests answered 408 because they took longer than --request-timeout.",
        |c| ServerCounters::read(&c.request_timeouts),
    ),
    (
        "cachelite_server_bodies_too_large_total",
        "counter",
        "Requests answered 413 because their body exceeded --max-body.",
        |c| ServerCounters::read(&c.bodies_too_large),
    ),
];

/// The label value of the served cache in `/metrics`.
const SERVER_CACHE: &str = "server";

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render_metrics(
            state.cache(),
            &cachelite::registry(),
            Some(&state.inner.counters),
            state.shared_cache().map(SharedCache::stats).as_ref(),
        ),
    )
}

/// One cache's line in every metric family.
struct MetricRow {
    label: String,
    stats: Stats,
    max_items: Option<usize>,
    max_bytes: Option<u64>,
}

/// A metric family: name, type, help and how to read it from a row.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&MetricRow) -> Option<u64>,
);

const FAMILIES: [Family; 14] = [
    (
        "cachelite_hits_total",
        "counter",
        "Reads that found a live entry.",
        |r| Some(r.stats.hits),
    ),
    (
        "cachelite_misses_total",
        "counter",
        "Reads that found no live entry.",
        |r| Some(r.stats.misses),
    ),
    (
        "cachelite_inserts_total",
        "counter",
        "Values stored.",
        |r| Some(r.stats.inserts),
    ),
    (
        "cachelite_evictions_total",
        "counter",
        "Entries evicted to respect the bounds.",
        |r| Some(r.stats.evictions),
    ),
    (
        "cachelite_expirations_total",
        "counter",
        "Entries removed because their TTL ran out.",
        |r| Some(r.stats.expirations),
    ),
    (
        "cachelite_invalidations_total",
        "counter",
        "Entries removed on request.",
        |r| Some(r.stats.invalidations),
    ),
    (
        "cachelite_rejections_total",
        "counter",
        "Inserts refused because one entry outweighed the byte budget.",
        |r| Some(r.stats.rejections),
    ),
    (
        "cachelite_load_successes_total",
        "counter",
        "Loads (read-through or memoized computations on a miss, refreshes) that gave a value to store.",
        |r| Some(r.stats.load_successes),
    ),
    (
        "cachelite_load_failures_total",
        "counter",
        "Loads that gave nothing to store (an error, a value not cached, a panic).",
        |r| Some(r.stats.load_failures),
    ),
    (
        "cachelite_refreshes_skipped_total",
        "counter",
        "Stale refreshes given up unrun because the background refresh queue was full.",
        |r| Some(r.stats.refreshes_skipped),
    ),
    ("cachelite_entries", "gauge", "Entries held.", |r| {
        Some(r.stats.len as u64)
    }),
    (
        "cachelite_bytes",
        "gauge",
        "Summed weight of the entries held, in bytes.",
        |r| Some(r.stats.bytes),
    ),
    (
        "cachelite_max_entries",
        "gauge",
        "The entry bound, for caches that have one.",
        |r| r.max_items.map(|n| n as u64),
    ),
    (
        "cachelite_max_bytes",
        "gauge",
        "The byte bound, for caches that have one.",
        |r| r.max_bytes,
    ),
];

/// The Prometheus text exposition of the served cache (label
/// `cache="server"`) and of every memoized function (labelled by name),
/// then the server's own counters, then with Redis the tiers' counters.
fn render_metrics(
    cache: &JsonCache,
    memoized: &[(&'static str, CacheInfo)],
    server: Option<&ServerCounters>,
    tiers: Option<&cachelite_redis::TieredStats>,
) -> String {
    let mut rows = vec![MetricRow {
        label: SERVER_CACHE.to_owned(),
        stats: cache.stats(),
        max_items: cache.max_items(),
        max_bytes: cache.max_bytes(),
    }];
    for (name, i) in memoized {
        rows.push(MetricRow {
            label: (*name).to_owned(),
            stats: i.stats,
            max_items: i.config.max_items,
            max_bytes: i.config.max_bytes,
        });
    }
    let mut out = String::new();
    for (name, kind, help, read) in FAMILIES {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for row in &rows {
            if let Some(v) = read(row) {
                let _ = writeln!(out, "{name}{{cache=\"{}\"}} {v}", escape_label(&row.label));
            }
        }
    }
    // In seconds, as Prometheus measures time: the one fractional family.
    let name = "cachelite_load_seconds_total";
    let _ = writeln!(
        out,
        "# HELP {name} Time spent in loads, successes and failures."
    );
    let _ = writeln!(out, "# TYPE {name} counter");
    for row in &rows {
        let secs = row.stats.total_load_time.as_secs_f64();
        let _ = writeln!(
            out,
            "{name}{{cache=\"{}\"}} {secs}",
            escape_label(&row.label)
        );
    }
    if let Some(c) = server {
        for (name, kind, help, read) in SERVER_FAMILIES {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", read(c));
        }
    }
    if let Some(t) = tiers {
        for (name, kind, help, read) in crate::shared::TIER_FAMILIES {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name}{{cache=\"{SERVER_CACHE}\"}} {}", read(t));
        }
    }
    out
}

/// Escapes a Prometheus label value: backslash, double quote, newline.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn bearer_parses_scheme_case_insensitively() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer(&h), Some(&b"abc"[..]));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bear"));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn metrics_have_help_type_and_escaped_labels() {
        let cache = ServerConfig::default().build_cache().unwrap();
        cache.insert("a".into(), json!(1));
        cache.get("a");
        let text = render_metrics(&cache, &[], Some(&ServerCounters::default()), None);
        assert!(text.contains("# HELP cachelite_hits_total "));
        assert!(text.contains("# TYPE cachelite_hits_total counter\n"));
        assert!(text.contains("cachelite_hits_total{cache=\"server\"} 1\n"));
        assert!(text.contains("# TYPE cachelite_entries gauge\n"));
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert!(text.contains("# TYPE cachelite_server_connections_rejected_total counter\n"));
        assert!(text.contains("\ncachelite_server_request_timeouts_total 0\n"));
    }

    #[test]
    fn metrics_carry_load_statistics() {
        let cache = ServerConfig::default().build_cache().unwrap();
        cache.get_or_insert_with("a".into(), || json!(1));
        let _ = cache.try_get_or_insert_with("b".into(), || Err::<serde_json::Value, _>("down"));
        let text = render_metrics(&cache, &[], None, None);
        assert!(text.contains("# TYPE cachelite_load_successes_total counter\n"));
        assert!(text.contains("cachelite_load_successes_total{cache=\"server\"} 1\n"));
        assert!(text.contains("cachelite_load_failures_total{cache=\"server\"} 1\n"));
        assert!(text.contains("# TYPE cachelite_refreshes_skipped_total counter\n"));
        assert!(text.contains("cachelite_refreshes_skipped_total{cache=\"server\"} 0\n"));
        assert!(text.contains("# TYPE cachelite_load_seconds_total counter\n"));
        assert!(text.contains("cachelite_load_seconds_total{cache=\"server\"} "));
    }
}
