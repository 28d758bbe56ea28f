//! A [`RedisStoreBuilder`] from `CACHELITE_REDIS_*` environment variables.
//!
//! | variable | accepts |
//! | --- | --- |
//! | `CACHELITE_REDIS_URL` | one server: `redis://[user:password@]host[:port][/db]`, `rediss://...` (the `tls` feature), `redis+unix:///path`; with sentinels, the master's settings (see below) |
//! | `CACHELITE_REDIS_CLUSTER` | a Redis Cluster: some of its nodes, comma-separated, as URLs or bare `host:port` (read as `redis://host:port`) |
//! | `CACHELITE_REDIS_SENTINELS` | Redis Sentinel: the sentinels, comma-separated, as URLs or bare `host:port`; needs `CACHELITE_REDIS_SENTINEL_SERVICE` |
//! | `CACHELITE_REDIS_SENTINEL_SERVICE` | the name of the master the sentinels watch (e.g. `mymaster`); needs `CACHELITE_REDIS_SENTINELS` |
//! | `CACHELITE_REDIS_NAMESPACE` | 1 to 64 characters from `[A-Za-z0-9_.-]` (default `default`) |
//! | `CACHELITE_REDIS_VERSION` | a whole number, 0 or more (default 1) |
//! | `CACHELITE_REDIS_CODEC` | `msgpack` (default) or `json`, any case |
//! | `CACHELITE_REDIS_COMPRESSION` | `none` (default), `lz4` or `zstd` (the `zstd` feature), any case, optionally with the size in bytes from which values are compressed: `lz4:2048` (default 1024) |
//! | `CACHELITE_REDIS_KEY` | an encryption key: 32 bytes as 64 hex digits or base64; values are then encrypted |
//! | `CACHELITE_REDIS_KEY_FILE` | the path of a file holding the key (32 raw bytes, hex or base64); instead of `CACHELITE_REDIS_KEY` |
//! | `CACHELITE_REDIS_KEY_ID` | the key's id, 0 to 65535 (default 1), written beside each value |
//! | `CACHELITE_REDIS_OLD_KEYS` | keys that only decrypt, for rotation: `id:key,id:key`, each key as in `CACHELITE_REDIS_KEY` |
//! | `CACHELITE_REDIS_TIMEOUT_MS` | milliseconds, at least 1: both the connect and the response timeout |
//! | `CACHELITE_REDIS_CONNECT_TIMEOUT_MS` | milliseconds, at least 1 (default 50); wins over `TIMEOUT_MS` |
//! | `CACHELITE_REDIS_RESPONSE_TIMEOUT_MS` | milliseconds, at least 1 (default 20); wins over `TIMEOUT_MS` |
//!
//! An unset or empty variable keeps its default. Any other variable whose
//! name starts with `CACHELITE_REDIS_` is an error that names it, so a typo
//! is never silently ignored.
//!
//! **Where the store is.** Exactly one of: `CACHELITE_REDIS_URL` alone (one
//! server), `CACHELITE_REDIS_CLUSTER` (without the URL: the nodes are the
//! cluster's addresses), or `CACHELITE_REDIS_SENTINELS` with
//! `CACHELITE_REDIS_SENTINEL_SERVICE`. With sentinels, the URL is optional
//! and gives the master's connection settings: its scheme (`rediss://` for
//! TLS), database, username and password, e.g. `redis://:secret@master/2`;
//! its host is ignored, since the sentinels name the master (see
//! [`RedisStoreBuilder::sentinel_master_settings`]).
//!
//! **Secrets.** The values of `CACHELITE_REDIS_KEY` and
//! `CACHELITE_REDIS_OLD_KEYS` and the contents of the key file never
//! appear in a message, and passwords in URLs are masked. The builder's
//! `Debug` shows key ids only.
//!
//! **Rotation.** Give every process the new key in `CACHELITE_REDIS_OLD_KEYS`
//! first, then make it `CACHELITE_REDIS_KEY` (with its `KEY_ID`) and move
//! the previous key to `OLD_KEYS`; drop it once what it encrypted has
//! expired (see [`Keyring`]).

use std::collections::HashMap;
use std::time::Duration;

use crate::{Codec, Compression, Error, Keyring, RedisStore, RedisStoreBuilder};

/// What every variable of this tier starts with.
const PREFIX: &str = "CACHELITE_REDIS_";

const URL: &str = "CACHELITE_REDIS_URL";
const CLUSTER: &str = "CACHELITE_REDIS_CLUSTER";
const SENTINELS: &str = "CACHELITE_REDIS_SENTINELS";
const SENTINEL_SERVICE: &str = "CACHELITE_REDIS_SENTINEL_SERVICE";
const NAMESPACE: &str = "CACHELITE_REDIS_NAMESPACE";
const VERSION: &str = "CACHELITE_REDIS_VERSION";
const CODEC: &str = "CACHELITE_REDIS_CODEC";
const COMPRESSION: &str = "CACHELITE_REDIS_COMPRESSION";
const KEY: &str = "CACHELITE_REDIS_KEY";
const KEY_FILE: &str = "CACHELITE_REDIS_KEY_FILE";
const KEY_ID: &str = "CACHELITE_REDIS_KEY_ID";
const OLD_KEYS: &str = "CACHELITE_REDIS_OLD_KEYS";
const TIMEOUT_MS: &str = "CACHELITE_REDIS_TIMEOUT_MS";
const CONNECT_TIMEOUT_MS: &str = "CACHELITE_REDIS_CONNECT_TIMEOUT_MS";
const RESPONSE_TIMEOUT_MS: &str = "CACHELITE_REDIS_RESPONSE_TIMEOUT_MS";

/// Every variable this tier reads.
const KNOWN: [&str; 15] = [
    URL,
    CLUSTER,
    SENTINELS,
    SENTINEL_SERVICE,
    NAMESPACE,
    VERSION,
    CODEC,
    COMPRESSION,
    KEY,
    KEY_FILE,
    KEY_ID,
    OLD_KEYS,
    TIMEOUT_MS,
    CONNECT_TIMEOUT_MS,
    RESPONSE_TIMEOUT_MS,
];

/// Variables whose values are secrets: never part of a message.
const SECRET: [&str; 2] = [KEY, OLD_KEYS];

/// The ways to say where the store is, for the messages.
const TOPOLOGIES: &str = "set CACHELITE_REDIS_URL (one server), CACHELITE_REDIS_CLUSTER \
     (a cluster's nodes), or CACHELITE_REDIS_SENTINELS with CACHELITE_REDIS_SENTINEL_SERVICE \
     (Redis Sentinel)";

/// What a key looks like, for the messages.
const KEY_FORM: &str = "32 bytes, written as 64 hex digits or in base64";

fn invalid(variable: &str, value: &str, expected: &str) -> Error {
    if SECRET.contains(&variable) {
        return Error::Config(format!("{variable} is not valid: expected {expected}"));
    }
    Error::Config(format!(
        "{variable}={value:?} is not valid: expected {expected}"
    ))
}

/// The text of an error, without the `Display` prefix.
fn reason(e: Error) -> String {
    match e {
        Error::Config(m) => m,
        other => other.to_string(),
    }
}

fn millis(variable: &str, value: &str) -> Result<Duration, Error> {
    match value.replace('_', "").parse::<u64>() {
        Ok(n) if n > 0 => Ok(Duration::from_millis(n)),
        _ => Err(invalid(
            variable,
            value,
            "a whole number of milliseconds, at least 1 (e.g. 50)",
        )),
    }
}

/// Checks a URL, blaming `variable`; the URL's own message masks any
/// password.
fn checked_url(variable: &str, url: &str) -> Result<redis::Client, Error> {
    crate::tls::client(url, &crate::tls::TlsSettings::default())
        .map_err(|e| Error::Config(format!("{variable} is not valid: {}", reason(e))))
}

/// A comma-separated list of nodes: URLs, or bare `host:port` read as
/// `redis://host:port`. Empty entries (a trailing comma) are skipped.
fn nodes(variable: &str, value: &str) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let url = if entry.contains("://") {
            entry.to_owned()
        } else {
            format!("redis://{entry}")
        };
        checked_url(variable, &url).map_err(|e| {
            Error::Config(format!(
                "{} (entry {}: expected redis://host:port, rediss://host:port or host:port)",
                reason(e),
                out.len() + 1
            ))
        })?;
        out.push(url);
    }
    if out.is_empty() {
        return Err(invalid(
            variable,
            value,
            "one or more comma-separated host:port or redis:// URLs",
        ));
    }
    Ok(out)
}

/// A key id: 0 to 65535.
fn key_id(text: &str) -> Option<u16> {
    text.trim().replace('_', "").parse().ok()
}

/// `none`, `lz4` or `zstd`, optionally `:min_bytes`.
fn compression(value: &str) -> Result<Compression, Error> {
    const EXPECTED: &str = "none, lz4 or zstd, optionally with the size in bytes from which \
         values are compressed (e.g. lz4:2048)";
    let lower = value.to_ascii_lowercase();
    let (kind, min) = match lower.split_once(':') {
        Some((k, m)) => (k.trim(), Some(m.trim())),
        None => (lower.as_str(), None),
    };
    let min_bytes = match min {
        None => Compression::DEFAULT_MIN_BYTES,
        Some(m) => m
            .replace('_', "")
            .parse::<usize>()
            .map_err(|_| invalid(COMPRESSION, value, EXPECTED))?,
    };
    match (kind, min) {
        ("none", None) => Ok(Compression::None),
        ("lz4", _) => Ok(Compression::Lz4 { min_bytes }),
        // zstd's own default level, as `Compression::zstd()`.
        ("zstd", _) => Ok(Compression::Zstd {
            min_bytes,
            level: 3,
        }),
        _ => Err(invalid(COMPRESSION, value, EXPECTED)),
    }
}

/// The keyring `CACHELITE_REDIS_KEY*` and `CACHELITE_REDIS_OLD_KEYS`
/// describe, if any. No message contains a key.
fn keyring(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Keyring>, Error> {
    let key = match (get(KEY), get(KEY_FILE)) {
        (Some(_), Some(_)) => {
            return Err(Error::Config(format!(
                "{KEY} and {KEY_FILE} are both set: give the key one way, unset one of them"
            )));
        }
        (Some(text), None) => Some(
            Keyring::parse_key(&text)
                .map_err(|_| Error::Config(format!("{KEY} is not valid: expected {KEY_FORM}")))?,
        ),
        (None, Some(path)) => Some(
            Keyring::key_from_file(&path)
                .map_err(|e| Error::Config(format!("{KEY_FILE}: {}", reason(e))))?,
        ),
        (None, None) => None,
    };
    let Some(key) = key else {
        for name in [KEY_ID, OLD_KEYS] {
            if get(name).is_some() {
                return Err(Error::Config(format!(
                    "{name} is set, but no key is: set {KEY} or {KEY_FILE} to encrypt values"
                )));
            }
        }
        return Ok(None);
    };
    let id = match get(KEY_ID) {
        None => 1,
        Some(text) => key_id(&text)
            .ok_or_else(|| invalid(KEY_ID, &text, "a whole number, 0 to 65535 (e.g. 2)"))?,
    };
    let mut ring = Keyring::new(id, key);
    let mut ids = vec![id];
    if let Some(old) = get(OLD_KEYS) {
        let entries = old.split(',').map(str::trim).filter(|e| !e.is_empty());
        for (n, entry) in entries.enumerate() {
            let bad = || {
                Error::Config(format!(
                    "{OLD_KEYS} is not valid: entry {} is not id:key (expected comma-separated \
                     id:key pairs, each id 0 to 65535 and each key {KEY_FORM})",
                    n + 1
                ))
            };
            let (id_text, key_text) = entry.split_once(':').ok_or_else(bad)?;
            let old_id = key_id(id_text).ok_or_else(bad)?;
            let old_key = Keyring::parse_key(key_text).map_err(|_| bad())?;
            if ids.contains(&old_id) {
                return Err(Error::Config(format!(
                    "{OLD_KEYS} is not valid: key id {old_id} is given twice (the current key's id \
                     is {id}); each key needs its own id"
                )));
            }
            ids.push(old_id);
            ring = ring.with_old(old_id, old_key);
        }
    }
    Ok(Some(ring))
}

/// The builder for the topology the variables name: one server, a
/// cluster, or sentinels.
fn topology(get: &dyn Fn(&str) -> Option<String>) -> Result<RedisStoreBuilder, Error> {
    let url = get(URL);
    let cluster = get(CLUSTER);
    let sentinel = match (get(SENTINELS), get(SENTINEL_SERVICE)) {
        (Some(list), Some(service)) => Some((list, service)),
        (Some(_), None) => {
            return Err(Error::Config(format!(
                "{SENTINELS} is set without {SENTINEL_SERVICE}: set it to the name of the \
                 master the sentinels watch (e.g. mymaster)"
            )));
        }
        (None, Some(_)) => {
            return Err(Error::Config(format!(
                "{SENTINEL_SERVICE} is set without {SENTINELS}: set it to the sentinels' \
                 addresses (e.g. redis://10.0.0.1:26379,redis://10.0.0.2:26379)"
            )));
        }
        (None, None) => None,
    };
    match (url, cluster, sentinel) {
        (_, Some(_), Some(_)) => Err(Error::Config(format!(
            "{CLUSTER} and {SENTINELS} are both set: the store is either on a cluster or \
             behind sentinels; unset one of them"
        ))),
        (Some(_), Some(_), None) => Err(Error::Config(format!(
            "{URL} and {CLUSTER} are both set: a cluster's nodes are all given in {CLUSTER}; \
             unset {URL}"
        ))),
        (None, None, None) => Err(Error::Config(format!(
            "{URL} is not set: expected a Redis URL (redis://host:port/db, \
             rediss://host:port/db, redis+unix:///path/to/socket); to say where the store \
             is, {TOPOLOGIES}"
        ))),
        (Some(url), None, None) => {
            checked_url(URL, &url)?;
            Ok(RedisStore::builder(url))
        }
        (None, Some(list), None) => Ok(RedisStore::builder_cluster(nodes(CLUSTER, &list)?)),
        (master, None, Some((list, service))) => {
            let mut b = RedisStore::builder_sentinel(nodes(SENTINELS, &list)?, service);
            if let Some(master) = master {
                let client = checked_url(URL, &master)?;
                if !matches!(
                    client.get_connection_info().addr(),
                    redis::ConnectionAddr::Tcp(..) | redis::ConnectionAddr::TcpTls { .. }
                ) {
                    return Err(Error::Config(format!(
                        "{URL} is not valid with sentinels: expected the master's settings as a \
                         redis:// or rediss:// URL (its host is ignored), e.g. \
                         redis://:password@master/2"
                    )));
                }
                b = b.sentinel_master_settings(master);
            }
            Ok(b)
        }
    }
}

impl RedisStoreBuilder {
    /// A builder configured by the process's `CACHELITE_REDIS_*`
    /// environment variables (see the table below); the builder's methods
    /// can still change any setting before [`RedisStoreBuilder::build`].
    ///
    /// | variable | accepts |
    /// | --- | --- |
    /// | `CACHELITE_REDIS_URL` | one server: `redis://[user:password@]host[:port][/db]`, `rediss://...` (the `tls` feature), `redis+unix:///path`; with sentinels, the master's settings |
    /// | `CACHELITE_REDIS_CLUSTER` | a cluster's nodes: `redis://h1:7000,redis://h2:7000` or `h1:7000,h2:7000` |
    /// | `CACHELITE_REDIS_SENTINELS`, `CACHELITE_REDIS_SENTINEL_SERVICE` | the sentinels (as the cluster's nodes) and the master's name; both or neither |
    /// | `CACHELITE_REDIS_NAMESPACE` | 1 to 64 characters from `[A-Za-z0-9_.-]` |
    /// | `CACHELITE_REDIS_VERSION` | a whole number, 0 or more |
    /// | `CACHELITE_REDIS_CODEC` | `msgpack` or `json`, any case |
    /// | `CACHELITE_REDIS_COMPRESSION` | `none`, `lz4` or `zstd`, optionally `:min_bytes` (e.g. `zstd:4096`) |
    /// | `CACHELITE_REDIS_KEY` or `CACHELITE_REDIS_KEY_FILE` | an encryption key (hex or base64 of 32 bytes), or the path of a file holding one |
    /// | `CACHELITE_REDIS_KEY_ID` | the key's id, 0 to 65535 (default 1) |
    /// | `CACHELITE_REDIS_OLD_KEYS` | decrypt-only keys: `id:key,id:key` |
    /// | `CACHELITE_REDIS_TIMEOUT_MS` | milliseconds, at least 1: connect and response timeouts |
    /// | `CACHELITE_REDIS_CONNECT_TIMEOUT_MS`, `CACHELITE_REDIS_RESPONSE_TIMEOUT_MS` | milliseconds, at least 1; each wins over `TIMEOUT_MS` |
    ///
    /// An unset or empty variable keeps its default. Exactly one of the URL
    /// alone, the cluster, or the sentinels says where the store is; with
    /// sentinels, the URL (optional) gives the master's scheme, database
    /// and credentials, its host ignored.
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable and what it accepts: no
    /// topology or two of them, sentinels without a service or the reverse,
    /// a value its setting does not accept or that is not UTF-8, a key that
    /// is not 32 bytes (the message never contains it), a key file that
    /// cannot be read, both `KEY` and `KEY_FILE`, `KEY_ID` or `OLD_KEYS`
    /// without a key, a key id given twice, or a `CACHELITE_REDIS_*`
    /// variable this crate does not know (a typo). `zstd` in a build
    /// without the `zstd` feature is refused by
    /// [`RedisStoreBuilder::build`].
    ///
    /// ```no_run
    /// // CACHELITE_REDIS_URL=redis://cache.internal:6379/0 CACHELITE_REDIS_NAMESPACE=billing
    /// let store = cachelite_redis::RedisStoreBuilder::from_env()?.build()?;
    /// println!("namespace {}", store.namespace());
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        let mut vars = HashMap::new();
        for (name, value) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if !name.starts_with(PREFIX) {
                continue;
            }
            match value.into_string() {
                Ok(v) => {
                    vars.insert(name, v);
                }
                Err(_) => {
                    return Err(Error::Config(format!(
                        "{name} is not valid: expected UTF-8 text"
                    )));
                }
            }
        }
        Self::check_env_names(vars.keys().map(String::as_str))?;
        Self::from_vars(|name| vars.get(name).cloned())
    }

    /// [`RedisStoreBuilder::from_env`] over any source of variables:
    /// `lookup` is given each variable's full name and returns its value,
    /// if set. Only the known names are asked for; to refuse unknown ones
    /// too, pass the names present to
    /// [`RedisStoreBuilder::check_env_names`].
    ///
    /// # Errors
    /// As [`RedisStoreBuilder::from_env`], unknown names aside.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use cachelite_redis::{Codec, Compression, RedisStoreBuilder};
    ///
    /// let key = "5e".repeat(32);
    /// let vars = HashMap::from([
    ///     ("CACHELITE_REDIS_CLUSTER", "10.0.0.1:7000,10.0.0.2:7000"),
    ///     ("CACHELITE_REDIS_NAMESPACE", "billing"),
    ///     ("CACHELITE_REDIS_VERSION", "3"),
    ///     ("CACHELITE_REDIS_CODEC", "json"),
    ///     ("CACHELITE_REDIS_COMPRESSION", "lz4:2048"),
    ///     ("CACHELITE_REDIS_KEY", key.as_str()),
    ///     ("CACHELITE_REDIS_KEY_ID", "2"),
    /// ]);
    /// let store = RedisStoreBuilder::from_vars(|n| vars.get(n).map(|v| v.to_string()))?.build()?;
    /// assert_eq!(store.redis_key("k")?, "cachelite:billing:v3:k");
    /// assert_eq!(store.codec(), Codec::Json);
    /// assert_eq!(store.compression(), Compression::Lz4 { min_bytes: 2048 });
    /// assert_eq!(store.keyring().map(|k| k.current_id()), Some(2));
    ///
    /// let err = RedisStoreBuilder::from_vars(|n| match n {
    ///     "CACHELITE_REDIS_URL" => Some("redis://127.0.0.1/".to_string()),
    ///     "CACHELITE_REDIS_CODEC" => Some("xml".to_string()),
    ///     _ => None,
    /// })
    /// .unwrap_err();
    /// assert!(err.to_string().contains("CACHELITE_REDIS_CODEC"), "{err}");
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut b = topology(&get)?;
        if let Some(ns) = get(NAMESPACE) {
            crate::key::check_namespace(&ns).map_err(|_| {
                invalid(
                    NAMESPACE,
                    &ns,
                    "1 to 64 characters from letters, digits, '_', '.' and '-' (e.g. billing)",
                )
            })?;
            b = b.namespace(ns);
        }
        if let Some(v) = get(VERSION) {
            let n = v
                .replace('_', "")
                .parse::<u32>()
                .map_err(|_| invalid(VERSION, &v, "a whole number, 0 or more (e.g. 2)"))?;
            b = b.version(n);
        }
        if let Some(v) = get(CODEC) {
            let codec = match v.to_ascii_lowercase().as_str() {
                "msgpack" | "messagepack" => Codec::MessagePack,
                "json" => Codec::Json,
                _ => return Err(invalid(CODEC, &v, "msgpack or json")),
            };
            b = b.codec(codec);
        }
        if let Some(v) = get(COMPRESSION) {
            b = b.compression(compression(&v)?);
        }
        if let Some(ring) = keyring(&get)? {
            b = b.encryption(ring);
        }
        if let Some(v) = get(TIMEOUT_MS) {
            let d = millis(TIMEOUT_MS, &v)?;
            b = b.connect_timeout(d).response_timeout(d);
        }
        if let Some(v) = get(CONNECT_TIMEOUT_MS) {
            b = b.connect_timeout(millis(CONNECT_TIMEOUT_MS, &v)?);
        }
        if let Some(v) = get(RESPONSE_TIMEOUT_MS) {
            b = b.response_timeout(millis(RESPONSE_TIMEOUT_MS, &v)?);
        }
        Ok(b)
    }

    /// Refuses the names among `names` that start with `CACHELITE_REDIS_`
    /// but name no variable this crate knows: a misspelt variable must not
    /// leave its setting silently at the default. Other names are ignored.
    ///
    /// # Errors
    /// [`Error::Config`] naming every unknown variable and listing the
    /// known ones.
    ///
    /// ```
    /// use cachelite_redis::RedisStoreBuilder;
    /// assert!(RedisStoreBuilder::check_env_names(["CACHELITE_REDIS_URL", "HOME"]).is_ok());
    /// let err = RedisStoreBuilder::check_env_names(["CACHELITE_REDIS_NAMESPAC"]).unwrap_err();
    /// assert!(err.to_string().contains("CACHELITE_REDIS_NAMESPAC"), "{err}");
    /// ```
    pub fn check_env_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
        let mut unknown: Vec<&str> = names
            .into_iter()
            .filter(|n| n.starts_with(PREFIX))
            .filter(|n| !KNOWN.contains(n))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort_unstable();
        unknown.dedup();
        let (noun, names) = match unknown.as_slice() {
            [one] => ("variable", (*one).to_owned()),
            many => ("variables", many.join(", ")),
        };
        Err(Error::Config(format!(
            "unknown {noun} {names}: the Redis tier reads {}",
            KNOWN.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<RedisStoreBuilder, Error> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RedisStoreBuilder::from_vars(|n| vars.get(n).cloned())
    }

    fn store(vars: &[(&str, &str)]) -> RedisStore {
        read(vars).unwrap().build().unwrap()
    }

    fn message(vars: &[(&str, &str)]) -> String {
        read(vars).unwrap_err().to_string()
    }

    const LOCAL: (&str, &str) = (URL, "redis://127.0.0.1:6390/");

    #[test]
    fn the_url_alone_gives_the_defaults() {
        let s = store(&[LOCAL]);
        assert_eq!(
            s.client().get_connection_info().addr().to_string(),
            "127.0.0.1:6390"
        );
        assert_eq!(s.namespace(), "default");
        assert_eq!(s.version(), 1);
        assert_eq!(s.codec(), Codec::MessagePack);
        let d = format!("{:?}", RedisStore::builder("redis://127.0.0.1:6390/"));
        assert_eq!(format!("{:?}", read(&[LOCAL]).unwrap()), d);
    }

    #[test]
    fn the_url_is_required_and_checked() {
        let m = message(&[]);
        assert!(m.contains("CACHELITE_REDIS_URL is not set"), "{m}");
        for other in [CLUSTER, SENTINELS, SENTINEL_SERVICE] {
            assert!(m.contains(other), "the other ways are named: {m}");
        }
        assert!(message(&[(URL, "  ")]).contains("is not set"));
        let m = message(&[(URL, "http://user:hunter2@host/")]);
        assert!(m.contains("CACHELITE_REDIS_URL is not valid"), "{m}");
        assert!(!m.contains("hunter2"), "the password leaked: {m}");
        let s = store(&[(URL, " redis+unix:///tmp/redis.sock ")]);
        assert!(
            s.client()
                .get_connection_info()
                .addr()
                .to_string()
                .contains("redis.sock")
        );
    }

    #[test]
    fn namespace_is_read_and_checked() {
        assert_eq!(
            store(&[LOCAL, (NAMESPACE, "billing")]).namespace(),
            "billing"
        );
        let m = message(&[LOCAL, (NAMESPACE, "bad ns")]);
        assert!(
            m.contains("CACHELITE_REDIS_NAMESPACE=\"bad ns\" is not valid"),
            "{m}"
        );
        assert!(m.contains("letters, digits"), "{m}");
        let long = "n".repeat(65);
        assert!(message(&[LOCAL, (NAMESPACE, &long)]).contains("CACHELITE_REDIS_NAMESPACE"));
    }

    #[test]
    fn version_is_a_whole_number() {
        assert_eq!(store(&[LOCAL, (VERSION, "7")]).version(), 7);
        assert_eq!(store(&[LOCAL, (VERSION, "0")]).version(), 0);
        assert_eq!(store(&[LOCAL, (VERSION, "1_000")]).version(), 1000);
        for bad in ["-1", "two", "1.5", "99999999999"] {
            let m = message(&[LOCAL, (VERSION, bad)]);
            assert!(m.contains("CACHELITE_REDIS_VERSION="), "{m}");
            assert!(m.contains("a whole number"), "{m}");
        }
    }

    #[test]
    fn codec_is_msgpack_or_json_in_any_case() {
        assert_eq!(store(&[LOCAL, (CODEC, "JSON")]).codec(), Codec::Json);
        assert_eq!(
            store(&[LOCAL, (CODEC, "msgpack")]).codec(),
            Codec::MessagePack
        );
        assert_eq!(
            store(&[LOCAL, (CODEC, "MessagePack")]).codec(),
            Codec::MessagePack
        );
        let m = message(&[LOCAL, (CODEC, "xml")]);
        assert!(
            m.contains("CACHELITE_REDIS_CODEC=\"xml\" is not valid: expected msgpack or json"),
            "{m}"
        );
    }

    fn timeouts(b: &RedisStoreBuilder) -> String {
        // The builder's settings are private to its module; its Debug shows them.
        let d = format!("{b:?}");
        let pick = |field: &str| {
            let start = d.find(field).unwrap() + field.len() + 2;
            d[start..].split(',').next().unwrap().trim().to_owned()
        };
        format!("{}/{}", pick("connect_timeout"), pick("response_timeout"))
    }

    #[test]
    fn timeouts_are_milliseconds() {
        assert_eq!(timeouts(&read(&[LOCAL]).unwrap()), "50ms/20ms");
        assert_eq!(
            timeouts(&read(&[LOCAL, (TIMEOUT_MS, "250")]).unwrap()),
            "250ms/250ms"
        );
        let both = read(&[
            LOCAL,
            (TIMEOUT_MS, "250"),
            (CONNECT_TIMEOUT_MS, "100"),
            (RESPONSE_TIMEOUT_MS, "1_000"),
        ])
        .unwrap();
        assert_eq!(timeouts(&both), "100ms/1s");
        for var in [TIMEOUT_MS, CONNECT_TIMEOUT_MS, RESPONSE_TIMEOUT_MS] {
            for bad in ["0", "-5", "fast", "1.5"] {
                let m = message(&[LOCAL, (var, bad)]);
                assert!(m.contains(&format!("{var}={bad:?} is not valid")), "{m}");
                assert!(m.contains("milliseconds, at least 1"), "{m}");
            }
        }
    }

    #[test]
    fn empty_variables_keep_their_defaults() {
        let s = store(&[
            LOCAL,
            (NAMESPACE, ""),
            (VERSION, " "),
            (CODEC, ""),
            (TIMEOUT_MS, ""),
        ]);
        assert_eq!(
            (s.namespace(), s.version(), s.codec()),
            ("default", 1, Codec::MessagePack)
        );
    }

    #[test]
    fn secret_variables_are_never_echoed() {
        let m = invalid(KEY, "s3cret", "32 bytes").to_string();
        assert!(
            m.contains("CACHELITE_REDIS_KEY is not valid") && !m.contains("s3cret"),
            "{m}"
        );
        let m = invalid(OLD_KEYS, "1:s3cret", "id:key").to_string();
        assert!(m.contains(OLD_KEYS) && !m.contains("s3cret"), "{m}");
    }

    #[test]
    fn unknown_variables_are_named() {
        let ok = RedisStoreBuilder::check_env_names(KNOWN.iter().copied().chain([
            "PATH",
            "CACHELITE_STORE",
            "CACHELITE_TOKEN",
        ]));
        assert!(ok.is_ok());
        let m = RedisStoreBuilder::check_env_names(["CACHELITE_REDIS_NAMESPAC", URL])
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("unknown variable CACHELITE_REDIS_NAMESPAC:"),
            "{m}"
        );
        for known in KNOWN {
            assert!(m.contains(known), "the known ones are listed: {m}");
        }
        let m = RedisStoreBuilder::check_env_names([
            "CACHELITE_REDIS_TIMEOUT",
            "CACHELITE_REDIS_CODECS",
            "CACHELITE_REDIS_TIMEOUT",
        ])
        .unwrap_err()
        .to_string();
        assert!(
            m.contains("unknown variables CACHELITE_REDIS_CODECS, CACHELITE_REDIS_TIMEOUT:"),
            "{m}"
        );
    }

    #[test]
    fn the_builder_methods_still_apply_after_the_environment() {
        let s = read(&[LOCAL, (NAMESPACE, "a")])
            .unwrap()
            .namespace("b")
            .build()
            .unwrap();
        assert_eq!(s.namespace(), "b");
    }

    fn debug(vars: &[(&str, &str)]) -> String {
        format!("{:?}", read(vars).unwrap())
    }

    #[test]
    fn a_cluster_is_read_from_urls_or_bare_addresses() {
        let d = debug(&[(CLUSTER, "redis://10.0.0.1:7000, 10.0.0.2:7001 ,")]);
        assert!(
            d.contains(r#"kind: Cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7001"])"#),
            "{d}"
        );
        let s = store(&[(CLUSTER, "10.0.0.3:7002"), (NAMESPACE, "c")]);
        assert_eq!(s.namespace(), "c");
        assert_eq!(
            s.client().get_connection_info().addr().to_string(),
            "10.0.0.3:7002"
        );
        let m = message(&[(CLUSTER, " , ")]);
        assert!(
            m.contains("CACHELITE_REDIS_CLUSTER=\",\" is not valid"),
            "{m}"
        );
        let m = message(&[(CLUSTER, "10.0.0.1:7000,http://user:hunter2@h/")]);
        assert!(m.contains("CACHELITE_REDIS_CLUSTER is not valid"), "{m}");
        assert!(m.contains("entry 2"), "{m}");
        assert!(!m.contains("hunter2"), "the password leaked: {m}");
        let m = message(&[(CLUSTER, "10.0.0.1:notaport")]);
        assert!(m.contains("CACHELITE_REDIS_CLUSTER is not valid"), "{m}");
    }

    #[test]
    fn sentinels_need_a_service_and_take_the_url_as_master_settings() {
        let d = debug(&[
            (SENTINELS, "10.0.0.1:26379,redis://10.0.0.2:26379"),
            (SENTINEL_SERVICE, "mymaster"),
        ]);
        assert!(
            d.contains(
                r#"kind: Sentinel { sentinels: ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"], service: "mymaster", master: None }"#
            ),
            "{d}"
        );
        let with_master = [
            (SENTINELS, "10.0.0.1:26379"),
            (SENTINEL_SERVICE, "mymaster"),
            (URL, "redis://:pw@master/2"),
        ];
        let d = debug(&with_master);
        assert!(
            d.contains(r#"master: Some("redis://:***@master/2")"#),
            "{d}"
        );
        assert!(read(&with_master).unwrap().build().is_ok());
        let m = message(&[(SENTINELS, "10.0.0.1:26379")]);
        assert!(
            m.contains("CACHELITE_REDIS_SENTINELS is set without CACHELITE_REDIS_SENTINEL_SERVICE"),
            "{m}"
        );
        let m = message(&[LOCAL, (SENTINEL_SERVICE, "mymaster")]);
        assert!(
            m.contains("CACHELITE_REDIS_SENTINEL_SERVICE is set without CACHELITE_REDIS_SENTINELS"),
            "{m}"
        );
        let m = message(&[
            (SENTINELS, "10.0.0.1:26379"),
            (SENTINEL_SERVICE, "mymaster"),
            (URL, "redis+unix:///tmp/redis.sock"),
        ]);
        assert!(
            m.contains("CACHELITE_REDIS_URL is not valid with sentinels"),
            "{m}"
        );
        let m = message(&[
            (SENTINELS, "10.0.0.1:26379"),
            (SENTINEL_SERVICE, "mymaster"),
            (URL, "http://:hunter2@master/"),
        ]);
        assert!(m.contains("CACHELITE_REDIS_URL is not valid"), "{m}");
        assert!(!m.contains("hunter2"), "the password leaked: {m}");
        let m = message(&[(SENTINELS, ","), (SENTINEL_SERVICE, "mymaster")]);
        assert!(m.contains("CACHELITE_REDIS_SENTINELS"), "{m}");
    }

    #[test]
    fn exactly_one_topology() {
        let m = message(&[LOCAL, (CLUSTER, "10.0.0.1:7000")]);
        assert!(
            m.contains("CACHELITE_REDIS_URL and CACHELITE_REDIS_CLUSTER are both set"),
            "{m}"
        );
        for url in [None, Some(LOCAL)] {
            let mut vars = vec![
                (CLUSTER, "10.0.0.1:7000"),
                (SENTINELS, "10.0.0.1:26379"),
                (SENTINEL_SERVICE, "mymaster"),
            ];
            vars.extend(url);
            let m = message(&vars);
            assert!(
                m.contains("CACHELITE_REDIS_CLUSTER and CACHELITE_REDIS_SENTINELS are both set"),
                "{m}"
            );
        }
    }

    #[test]
    fn compression_is_a_kind_and_an_optional_threshold() {
        let c = |v: &str| read(&[LOCAL, (COMPRESSION, v)]).map(|b| format!("{b:?}"));
        assert!(c("none").unwrap().contains("compression: None"));
        assert!(
            c("LZ4")
                .unwrap()
                .contains("compression: Lz4 { min_bytes: 1024 }"),
            "the default threshold"
        );
        assert!(c("lz4:0").unwrap().contains("Lz4 { min_bytes: 0 }"));
        assert!(
            c("lz4 : 4_096")
                .unwrap()
                .contains("Lz4 { min_bytes: 4096 }")
        );
        assert!(
            c("zstd:2048")
                .unwrap()
                .contains("Zstd { min_bytes: 2048, level: 3 }")
        );
        assert!(
            c("zstd")
                .unwrap()
                .contains("Zstd { min_bytes: 1024, level: 3 }")
        );
        assert_eq!(
            store(&[LOCAL, (COMPRESSION, "lz4:100")]).compression(),
            Compression::Lz4 { min_bytes: 100 }
        );
        for bad in ["gzip", "lz4:", "lz4:-1", "lz4:big", "none:10", "zstd:1:2"] {
            let m = message(&[LOCAL, (COMPRESSION, bad)]);
            assert!(
                m.contains(&format!("CACHELITE_REDIS_COMPRESSION={bad:?} is not valid")),
                "{m}"
            );
            assert!(m.contains("none, lz4 or zstd"), "{m}");
        }
        let zstd = read(&[LOCAL, (COMPRESSION, "zstd")]).unwrap().build();
        if cfg!(feature = "zstd") {
            assert_eq!(zstd.unwrap().compression(), Compression::zstd());
        } else {
            let m = zstd.unwrap_err().to_string();
            assert!(m.contains("the `zstd` feature"), "{m}");
        }
    }

    const HEX_KEY: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
    /// 32 bytes of 0x7f, in base64.
    const B64_KEY: &str = "f39/f39/f39/f39/f39/f39/f39/f39/f39/f39/f38=";

    fn key_ids(vars: &[(&str, &str)]) -> (u16, Vec<u16>) {
        let s = store(vars);
        let ring = s.keyring().expect("a keyring");
        (ring.current_id(), ring.ids())
    }

    #[test]
    fn a_key_turns_on_encryption() {
        assert!(store(&[LOCAL]).keyring().is_none());
        assert_eq!(key_ids(&[LOCAL, (KEY, HEX_KEY)]), (1, vec![1]));
        assert_eq!(
            key_ids(&[LOCAL, (KEY, B64_KEY), (KEY_ID, "7")]),
            (7, vec![7])
        );
        assert_eq!(
            key_ids(&[
                LOCAL,
                (KEY, HEX_KEY),
                (KEY_ID, "3"),
                (OLD_KEYS, &format!("2:{B64_KEY}, 0:{HEX_KEY},"))
            ]),
            (3, vec![3, 2, 0])
        );
        let d = debug(&[LOCAL, (KEY, HEX_KEY), (OLD_KEYS, &format!("2:{B64_KEY}"))]);
        assert!(
            d.contains("keyring: Some(Keyring { current: 1, ids: [1, 2] })"),
            "{d}"
        );
        assert!(
            !d.contains("5e5e") && !d.contains("f39/"),
            "a key leaked: {d}"
        );
    }

    /// A file under the temporary directory, removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &[u8]) -> Self {
            let path =
                std::env::temp_dir().join(format!("cachelite-env-{}-{name}", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn a_key_file_holds_the_key() {
        let hex = TempFile::new("hex", format!("{HEX_KEY}\n").as_bytes());
        let raw = TempFile::new("raw", &[9u8; 32]);
        assert_eq!(key_ids(&[LOCAL, (KEY_FILE, hex.path())]), (1, vec![1]));
        assert_eq!(
            key_ids(&[
                LOCAL,
                (KEY_FILE, raw.path()),
                (KEY_ID, "4"),
                (OLD_KEYS, &format!("1:{HEX_KEY}"))
            ]),
            (4, vec![4, 1])
        );
        let bad = TempFile::new("bad", b"s3cret-not-a-key");
        let m = message(&[LOCAL, (KEY_FILE, bad.path())]);
        assert!(m.contains("CACHELITE_REDIS_KEY_FILE:"), "{m}");
        assert!(m.contains(bad.path()), "the file is named: {m}");
        assert!(!m.contains("s3cret"), "the contents leaked: {m}");
        let missing = std::env::temp_dir().join("cachelite-env-no-such-key-file");
        let m = message(&[LOCAL, (KEY_FILE, missing.to_str().unwrap())]);
        assert!(
            m.contains("CACHELITE_REDIS_KEY_FILE: cannot read the key file"),
            "{m}"
        );
    }

    #[test]
    fn key_mistakes_are_named_without_the_key() {
        let leaks = |m: &str| {
            ["s3cret", HEX_KEY, B64_KEY, "5e5e", "f39/"]
                .iter()
                .any(|k| m.contains(k))
        };
        let file = TempFile::new("both", HEX_KEY.as_bytes());
        let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
            (
                vec![(KEY, "s3cret".into())],
                "CACHELITE_REDIS_KEY is not valid: expected 32 bytes",
            ),
            (
                vec![(KEY, format!("{HEX_KEY}00"))],
                "CACHELITE_REDIS_KEY is not valid",
            ),
            (
                vec![(KEY, HEX_KEY.into()), (KEY_FILE, file.path().into())],
                "CACHELITE_REDIS_KEY and CACHELITE_REDIS_KEY_FILE are both set",
            ),
            (
                vec![(KEY_ID, "2".into())],
                "CACHELITE_REDIS_KEY_ID is set, but no key is",
            ),
            (
                vec![(OLD_KEYS, format!("1:{HEX_KEY}"))],
                "CACHELITE_REDIS_OLD_KEYS is set, but no key is",
            ),
            (
                vec![(KEY, HEX_KEY.into()), (KEY_ID, "65536".into())],
                "CACHELITE_REDIS_KEY_ID=\"65536\" is not valid: expected a whole number, 0 to 65535",
            ),
            (
                vec![(KEY, HEX_KEY.into()), (KEY_ID, "-1".into())],
                "CACHELITE_REDIS_KEY_ID=\"-1\" is not valid",
            ),
            (
                vec![(KEY, HEX_KEY.into()), (OLD_KEYS, B64_KEY.into())],
                "CACHELITE_REDIS_OLD_KEYS is not valid: entry 1 is not id:key",
            ),
            (
                vec![
                    (KEY, HEX_KEY.into()),
                    (OLD_KEYS, format!("2:{B64_KEY},x:{HEX_KEY}")),
                ],
                "CACHELITE_REDIS_OLD_KEYS is not valid: entry 2 is not id:key",
            ),
            (
                vec![(KEY, HEX_KEY.into()), (OLD_KEYS, "2:s3cret".into())],
                "CACHELITE_REDIS_OLD_KEYS is not valid: entry 1 is not id:key",
            ),
            (
                vec![(KEY, HEX_KEY.into()), (OLD_KEYS, format!("1:{B64_KEY}"))],
                "key id 1 is given twice",
            ),
            (
                vec![
                    (KEY, HEX_KEY.into()),
                    (OLD_KEYS, format!("2:{B64_KEY},2:{HEX_KEY}")),
                ],
                "key id 2 is given twice",
            ),
        ];
        for (vars, expected) in cases {
            let mut all = vec![LOCAL];
            all.extend(vars.iter().map(|(k, v)| (*k, v.as_str())));
            let m = message(&all);
            assert!(m.contains(expected), "{expected:?} not in {m}");
            assert!(!leaks(&m), "a key leaked: {m}");
        }
    }
}
