//! The one error type of the crate.

use std::fmt;

/// What went wrong talking to the remote tier (Redis, or another store).
///
/// The two-tier cache's read paths never return it: they fail open (the
/// value is computed, the error counted). Writes and invalidations return
/// it, because a failed invalidation means the store may still hold a value the
/// caller wanted gone.
///
/// ```
/// use cachelite_redis::{Error, RedisStore};
/// let err = RedisStore::builder("redis://127.0.0.1/").namespace("no spaces").build().unwrap_err();
/// assert!(matches!(err, Error::Config(_)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A setting is invalid (namespace, URL, timeouts); the message says which.
    Config(String),
    /// The key could not be encoded (its `Serialize` impl failed).
    Key(String),
    /// A value could not be encoded.
    Encode(String),
    /// A glob pattern could not be compiled.
    Glob(String),
    /// Redis answered with an error, or the connection failed.
    Redis(redis::RedisError),
    /// The store did not answer within the configured timeout.
    Timeout,
    /// The circuit breaker is open after repeated failures: the call was not
    /// attempted.
    Unavailable,
    /// No tokio runtime is running on this thread.
    NoRuntime,
    /// A store other than Redis answered with an error, or its connection
    /// failed.
    Store(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "invalid remote tier setting: {m}"),
            Error::Key(m) => write!(f, "cannot encode the cache key: {m}"),
            Error::Encode(m) => write!(f, "cannot encode the value: {m}"),
            Error::Glob(m) => write!(f, "invalid glob pattern: {m}"),
            Error::Redis(e) => write!(f, "Redis error: {e}"),
            Error::Timeout => f.write_str("the store did not answer in time"),
            Error::Unavailable => {
                f.write_str("the store is unavailable (circuit breaker open after repeated failures)")
            }
            Error::Store(e) => write!(f, "store error: {e}"),
            Error::NoRuntime => f.write_str(
                "no tokio runtime: call this from inside a tokio runtime, or use BlockingTieredCache",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis(e) => Some(e),
            Error::Store(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::Redis(e)
    }
}
