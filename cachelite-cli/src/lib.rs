//! The `cachelite` command line and HTTP server.
//!
//! The binary has two faces:
//!
//! - **A file-backed key-value store.** `cachelite set`, `get`, `del`,
//!   `ttl`, `keys`, `invalidate`, `stats` and `flush` work on a store file
//!   (`./.cachelite/store.json` by default, `--store PATH` or
//!   `CACHELITE_STORE` otherwise). Each invocation restores the file into a
//!   [`cachelite::Cache`], applies the command, and writes the file back
//!   atomically, all under an exclusive lock on a sidecar `.lock` file, so
//!   concurrent invocations never lose a write. TTLs survive between
//!   invocations. See [`store`].
//! - **An HTTP server.** `cachelite serve` puts one cache behind a small
//!   JSON API (`GET`/`PUT`/`DELETE /cache/{key}`, `/keys`, `/invalidate`,
//!   `/flush`, `/snapshot`, `/stats`, `/metrics`, `/health`), optionally
//!   saved to a snapshot file, or shared by several servers through Redis
//!   (`--redis`, see [`shared`]). See [`server`]; [`server::router`] and
//!   [`server::serve`] embed it in another program or a test.
//!
//! `cachelite demo` shows the engine at work without touching any file.
//!
//! # Values
//!
//! Values are JSON ([`serde_json::Value`]). On the command line, a `VALUE`
//! that parses as JSON is stored as that JSON; anything else is stored as a
//! string (see [`parse_value`]). `get` prints a string value as raw text
//! and any other value as compact JSON, so shell scripts get plain text.
//!
//! # Exit codes
//!
//! | code | meaning                                            |
//! |------|----------------------------------------------------|
//! | 0    | success (the key was found, the command ran)       |
//! | 1    | the key was not found (`get`, `del`, `ttl`)        |
//! | 2    | usage error, unreadable store, or other I/O error  |

#![forbid(unsafe_code)]

pub mod cli;
pub mod demo;
mod format;
mod limits;
pub mod server;
pub mod shared;
pub mod store;

use std::time::Duration;

use serde_json::Value;

/// The cache type behind both the store and the server.
pub type JsonCache = cachelite::Cache<String, Value>;

/// Reads a command-line `VALUE`: JSON when it parses as JSON, a string
/// otherwise.
///
/// ```
/// use cachelite_cli::parse_value;
/// use serde_json::json;
///
/// assert_eq!(parse_value("42"), json!(42));
/// assert_eq!(parse_value(r#"{"name":"Ada"}"#), json!({"name": "Ada"}));
/// assert_eq!(parse_value(r#""quoted""#), json!("quoted"));
/// assert_eq!(parse_value("hello world"), json!("hello world"));
/// ```
#[must_use]
pub fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// What an entry weighs towards a byte bound: the key's length plus the
/// length of the value's compact JSON encoding.
///
/// ```
/// use serde_json::json;
/// assert_eq!(cachelite_cli::weigh("k", &json!([1, 2])), 1 + 5);
/// ```
#[must_use]
pub fn weigh(key: &str, value: &Value) -> usize {
    key.len() + json_len(value)
}

/// What an entry weighs towards the server's byte bound: the key's length
/// plus the larger of the value's compact JSON size and an estimate of the
/// memory its decoded form holds. A JSON array of small numbers takes
/// about 2 bytes a number as text but 32 in memory; weighing only the text
/// would let a client hold 16 times the bound.
///
/// ```
/// use serde_json::json;
/// let small = json!("hello");
/// assert!(cachelite_cli::memory_weight("k", &small) >= cachelite_cli::weigh("k", &small));
/// let numbers = json!(vec![0; 1000]);
/// assert!(cachelite_cli::memory_weight("k", &numbers) >= 1000 * 32);
/// ```
#[must_use]
pub fn memory_weight(key: &str, value: &Value) -> usize {
    key.len() + json_len(value).max(decoded_size(value))
}

/// Bytes a decoded value holds: its own slot plus what it owns. Map entries
/// also pay for their key's `String` and a share of the tree's nodes.
fn decoded_size(value: &Value) -> usize {
    const SLOT: usize = std::mem::size_of::<Value>();
    const MAP_ENTRY: usize = std::mem::size_of::<String>() + 16;
    SLOT + match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(decoded_size).sum(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| MAP_ENTRY + k.len() + decoded_size(v))
            .sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// The length of `value`'s compact JSON encoding, without building it.
fn json_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a Value into a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Parses a duration: a number of seconds (`30`, `0.25`) or a number with a
/// unit (`500ms`, `30s`, `5m`, `2h`, `1d`). It must be positive and finite.
///
/// # Errors
/// A message saying what is wrong, for clap and for the server.
///
/// ```
/// use cachelite_cli::parse_duration;
/// use std::time::Duration;
///
/// assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
/// assert!(parse_duration("-1").is_err());
/// assert!(parse_duration("0").is_err());
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => {
            return Err(format!(
                "invalid duration `{text}`: unknown unit `{unit}` (use ms, s, m, h or d)"
            ));
        }
    };
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration `{text}`: expected a number of seconds"))?;
    secs_to_duration(n * scale).map_err(|e| format!("invalid duration `{text}`: {e}"))
}

/// Turns seconds into a [`Duration`], refusing zero, negative, NaN,
/// infinite and absurdly large values.
///
/// # Errors
/// A short reason.
///
/// ```
/// use cachelite_cli::secs_to_duration;
/// assert!(secs_to_duration(0.05).is_ok());
/// assert!(secs_to_duration(f64::NAN).is_err());
/// assert!(secs_to_duration(-3.0).is_err());
/// assert!(secs_to_duration(1e300).is_err());
/// ```
pub fn secs_to_duration(secs: f64) -> Result<Duration, String> {
    if secs.is_nan() || secs <= 0.0 {
        return Err("must be a positive number of seconds".to_owned());
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be at least one nanosecond".to_owned()),
        Err(_) => Err("is too large".to_owned()),
    }
}

/// Parses a byte size: a plain number of bytes or a number with a unit
/// (`kb`/`k` = 1,000, `kib` = 1,024, and so on up to `gib`).
///
/// # Errors
/// A message saying what is wrong, for clap.
///
/// ```
/// use cachelite_cli::parse_bytes;
/// assert_eq!(parse_bytes("4096"), Ok(4096));
/// assert_eq!(parse_bytes("64KiB"), Ok(64 * 1024));
/// assert_eq!(parse_bytes("1mb"), Ok(1_000_000));
/// assert!(parse_bytes("0").is_err());
/// assert!(parse_bytes("lots").is_err());
/// ```
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size `{text}`: unknown unit `{unit}` (use B, KB, KiB, MB, MiB, GB or GiB)"
            ));
        }
    };
    let n: u64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid size `{text}`: expected a whole number of bytes"))?;
    match n.checked_mul(scale) {
        Some(0) => Err(format!("invalid size `{text}`: must be at least 1 byte")),
        Some(b) => Ok(b),
        None => Err(format!("invalid size `{text}`: too large")),
    }
}

/// A duration as seconds, rounded to the millisecond, for JSON output.
pub(crate) fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
