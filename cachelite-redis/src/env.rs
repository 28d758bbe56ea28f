//! A [`RedisStoreBuilder`] from `CACHELITE_REDIS_*` environment variables.
//!
//! | variable | accepts |
//! | --- | --- |
//! | `CACHELITE_REDIS_URL` | required: `redis://[user:password@]host[:port][/db]`, `rediss://...` (the `tls` feature), `redis+unix:///path` |
//! | `CACHELITE_REDIS_NAMESPACE` | 1 to 64 characters from `[A-Za-z0-9_.-]` (default `default`) |
//! | `CACHELITE_REDIS_VERSION` | a whole number, 0 or more (default 1) |
//! | `CACHELITE_REDIS_CODEC` | `msgpack` (default) or `json`, any case |
//! | `CACHELITE_REDIS_TIMEOUT_MS` | milliseconds, at least 1: both the connect and the response timeout |
//! | `CACHELITE_REDIS_CONNECT_TIMEOUT_MS` | milliseconds, at least 1 (default 50); wins over `TIMEOUT_MS` |
//! | `CACHELITE_REDIS_RESPONSE_TIMEOUT_MS` | milliseconds, at least 1 (default 20); wins over `TIMEOUT_MS` |
//!
//! An unset or empty variable keeps its default. Any other variable whose
//! name starts with `CACHELITE_REDIS_` is an error that names it, so a typo
//! is never silently ignored. Values are never echoed for the variables
//! that hold secrets, and passwords in URLs are masked.
//!
//! Reserved, and refused while this crate cannot honour them (a store that
//! quietly ignored an encryption key would write values in the clear):
//! `CACHELITE_REDIS_CLUSTER` (`host:port,...`), `CACHELITE_REDIS_SENTINELS`
//! and `CACHELITE_REDIS_SENTINEL_SERVICE`, `CACHELITE_REDIS_KEY` and
//! `CACHELITE_REDIS_KEY_FILE`.

use std::collections::HashMap;
use std::time::Duration;

use crate::{Codec, Error, RedisStore, RedisStoreBuilder};

/// What every variable of this tier starts with.
const PREFIX: &str = "CACHELITE_REDIS_";

const URL: &str = "CACHELITE_REDIS_URL";
const NAMESPACE: &str = "CACHELITE_REDIS_NAMESPACE";
const VERSION: &str = "CACHELITE_REDIS_VERSION";
const CODEC: &str = "CACHELITE_REDIS_CODEC";
const TIMEOUT_MS: &str = "CACHELITE_REDIS_TIMEOUT_MS";
const CONNECT_TIMEOUT_MS: &str = "CACHELITE_REDIS_CONNECT_TIMEOUT_MS";
const RESPONSE_TIMEOUT_MS: &str = "CACHELITE_REDIS_RESPONSE_TIMEOUT_MS";

// Room for the topologies and layers being added to the builder: each
// variable is known (so it is no typo) and refused until the builder can
// honour it, at which point `from_vars` reads it like the others.
const CLUSTER: &str = "CACHELITE_REDIS_CLUSTER";
const SENTINELS: &str = "CACHELITE_REDIS_SENTINELS";
const SENTINEL_SERVICE: &str = "CACHELITE_REDIS_SENTINEL_SERVICE";
const KEY: &str = "CACHELITE_REDIS_KEY";
const KEY_FILE: &str = "CACHELITE_REDIS_KEY_FILE";

/// Read today.
const SUPPORTED: [&str; 7] = [
    URL,
    NAMESPACE,
    VERSION,
    CODEC,
    TIMEOUT_MS,
    CONNECT_TIMEOUT_MS,
    RESPONSE_TIMEOUT_MS,
];

/// Known, refused for now: the variable and what it would turn on.
const RESERVED: [(&str, &str); 5] = [
    (CLUSTER, "Redis Cluster"),
    (SENTINELS, "Redis Sentinel"),
    (SENTINEL_SERVICE, "Redis Sentinel"),
    (KEY, "encrypted values"),
    (KEY_FILE, "encrypted values"),
];

/// Variables whose values are secrets: never part of a message.
const SECRET: [&str; 2] = [KEY, KEY_FILE];

fn invalid(variable: &str, value: &str, expected: &str) -> Error {
    if SECRET.contains(&variable) {
        return Error::Config(format!("{variable} is not valid: expected {expected}"));
    }
    Error::Config(format!(
        "{variable}={value:?} is not valid: expected {expected}"
    ))
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

impl RedisStoreBuilder {
    /// A builder configured by the process's `CACHELITE_REDIS_*`
    /// environment variables (see the table below); the builder's methods
    /// can still change any setting before [`RedisStoreBuilder::build`].
    ///
    /// | variable | accepts |
    /// | --- | --- |
    /// | `CACHELITE_REDIS_URL` | required: `redis://[user:password@]host[:port][/db]`, `rediss://...` (the `tls` feature), `redis+unix:///path` |
    /// | `CACHELITE_REDIS_NAMESPACE` | 1 to 64 characters from `[A-Za-z0-9_.-]` |
    /// | `CACHELITE_REDIS_VERSION` | a whole number, 0 or more |
    /// | `CACHELITE_REDIS_CODEC` | `msgpack` or `json`, any case |
    /// | `CACHELITE_REDIS_TIMEOUT_MS` | milliseconds, at least 1: connect and response timeouts |
    /// | `CACHELITE_REDIS_CONNECT_TIMEOUT_MS`, `CACHELITE_REDIS_RESPONSE_TIMEOUT_MS` | milliseconds, at least 1; each wins over `TIMEOUT_MS` |
    ///
    /// An unset or empty variable keeps its default.
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable and what it accepts: the URL
    /// unset, a value its setting does not accept or that is not UTF-8, a
    /// `CACHELITE_REDIS_*` variable this crate does not know (a typo), or
    /// one it reserves for a feature it does not offer yet
    /// (`CACHELITE_REDIS_CLUSTER`, `CACHELITE_REDIS_SENTINELS`,
    /// `CACHELITE_REDIS_SENTINEL_SERVICE`, `CACHELITE_REDIS_KEY`,
    /// `CACHELITE_REDIS_KEY_FILE`).
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
    /// use cachelite_redis::{Codec, RedisStoreBuilder};
    ///
    /// let vars = HashMap::from([
    ///     ("CACHELITE_REDIS_URL", "redis://127.0.0.1:6379/"),
    ///     ("CACHELITE_REDIS_NAMESPACE", "billing"),
    ///     ("CACHELITE_REDIS_VERSION", "3"),
    ///     ("CACHELITE_REDIS_CODEC", "json"),
    /// ]);
    /// let store = RedisStoreBuilder::from_vars(|n| vars.get(n).map(|v| v.to_string()))?.build()?;
    /// assert_eq!(store.redis_key("k")?, "cachelite:billing:v3:k");
    /// assert_eq!(store.codec(), Codec::Json);
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
        for (name, what) in RESERVED {
            if get(name).is_some() {
                return Err(Error::Config(format!(
                    "{name} is set, but this version of cachelite-redis does not offer {what} yet; unset it"
                )));
            }
        }
        let url = get(URL).ok_or_else(|| {
            Error::Config(format!(
                "{URL} is not set: expected a Redis URL (redis://host:port/db, \
                 rediss://host:port/db, redis+unix:///path/to/socket)"
            ))
        })?;
        // The URL's own message masks any password.
        crate::tls::client(&url, &crate::tls::TlsSettings::default()).map_err(|e| match e {
            Error::Config(why) => Error::Config(format!("{URL} is not valid: {why}")),
            other => other,
        })?;
        let mut b = RedisStore::builder(url);
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
            .filter(|n| !SUPPORTED.contains(n) && !RESERVED.iter().any(|(r, _)| r == n))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort_unstable();
        unknown.dedup();
        let known: Vec<&str> = SUPPORTED
            .iter()
            .copied()
            .chain(RESERVED.iter().map(|(n, _)| *n))
            .collect();
        let (noun, names) = match unknown.as_slice() {
            [one] => ("variable", (*one).to_owned()),
            many => ("variables", many.join(", ")),
        };
        Err(Error::Config(format!(
            "unknown {noun} {names}: the Redis tier reads {}",
            known.join(", ")
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
    fn reserved_variables_are_refused_until_supported() {
        for (name, what) in RESERVED {
            let m = message(&[LOCAL, (name, "s3cret-value")]);
            assert!(m.contains(name), "{m}");
            assert!(m.contains(what), "{m}");
            assert!(!m.contains("s3cret-value"), "a value leaked: {m}");
        }
    }

    #[test]
    fn secrets_never_appear_in_messages() {
        let m = invalid(KEY, "s3cret", "32 bytes").to_string();
        assert!(
            m.contains("CACHELITE_REDIS_KEY is not valid") && !m.contains("s3cret"),
            "{m}"
        );
        let m = invalid(KEY_FILE, "/run/s3cret", "a file").to_string();
        assert!(!m.contains("s3cret"), "{m}");
    }

    #[test]
    fn unknown_variables_are_named() {
        let ok = RedisStoreBuilder::check_env_names(
            SUPPORTED
                .iter()
                .copied()
                .chain(RESERVED.iter().map(|(n, _)| *n))
                .chain(["PATH", "CACHELITE_STORE", "CACHELITE_TOKEN"]),
        );
        assert!(ok.is_ok());
        let m = RedisStoreBuilder::check_env_names(["CACHELITE_REDIS_NAMESPAC", URL])
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("unknown variable CACHELITE_REDIS_NAMESPAC:"),
            "{m}"
        );
        assert!(
            m.contains("CACHELITE_REDIS_NAMESPACE"),
            "the known ones are listed: {m}"
        );
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
}
