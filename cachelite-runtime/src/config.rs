//! [`CacheConfig`]: every data option of [`CacheBuilder`], as a value that
//! can be read from the environment, deserialized from a file (feature
//! `serde`), and reported back by [`Cache::info`].
//!
//! [`CacheBuilder`]: crate::CacheBuilder
//! [`Cache::info`]: crate::Cache::info

use std::fmt;
use std::time::Duration;

use crate::policy::Policy;

/// Redis's default sample size for active expiry.
pub(crate) const DEFAULT_SWEEP_SAMPLES: usize = 20;

/// Every option of [`CacheBuilder`](crate::CacheBuilder) that is data
/// rather than code (listeners, weighers, clocks and hashers are code):
/// build a cache from it with [`Cache::from_config`](crate::Cache::from_config)
/// or [`CacheBuilder::config`](crate::CacheBuilder::config), read it from
/// environment variables with [`CacheConfig::from_env`], or, with the
/// `serde` feature, from any format serde reads. A cache reports the
/// configuration it runs with in [`CacheInfo::config`](crate::CacheInfo).
///
/// With the `serde` feature, durations are written as strings with a unit
/// (`"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`) and read either that way or
/// as a number of seconds; the policy is its name (`"lru"`); a missing
/// field keeps its default and an unknown one is an error.
///
/// ```
/// use cachelite_runtime::{Cache, CacheConfig, Policy};
/// use std::time::Duration;
///
/// let mut config = CacheConfig::default();
/// config.max_items = Some(10_000);
/// config.policy = Policy::Lfu;
/// config.default_ttl = Some(Duration::from_secs(300));
///
/// let cache: Cache<String, u64> = Cache::from_config(&config)?;
/// assert_eq!(cache.info().config.policy, Policy::Lfu);
/// assert_eq!(cache.info().config.max_items, Some(10_000));
/// # Ok::<(), cachelite_runtime::BuildError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct CacheConfig {
    /// The eviction policy ([`CacheBuilder::policy`](crate::CacheBuilder::policy)).
    pub policy: Policy,
    /// The entry bound, if any ([`CacheBuilder::max_items`](crate::CacheBuilder::max_items)).
    pub max_items: Option<usize>,
    /// The byte bound, if any ([`CacheBuilder::max_bytes`](crate::CacheBuilder::max_bytes));
    /// for a cache built with a weigher, the weight bound
    /// ([`CacheBuilder::max_weight`](crate::CacheBuilder::max_weight)).
    pub max_bytes: Option<u64>,
    /// The TTL of inserts that name none ([`CacheBuilder::default_ttl`](crate::CacheBuilder::default_ttl)).
    #[cfg_attr(feature = "serde", serde(with = "serde_duration"))]
    pub default_ttl: Option<Duration>,
    /// How long past their TTL entries are served stale
    /// ([`CacheBuilder::stale_ttl`](crate::CacheBuilder::stale_ttl)).
    #[cfg_attr(feature = "serde", serde(with = "serde_duration"))]
    pub stale_ttl: Option<Duration>,
    /// The random extra TTL bound ([`CacheBuilder::ttl_jitter`](crate::CacheBuilder::ttl_jitter)).
    #[cfg_attr(feature = "serde", serde(with = "serde_duration"))]
    pub ttl_jitter: Option<Duration>,
    /// The background sweeper's interval, if one runs
    /// ([`CacheBuilder::active_expiry`](crate::CacheBuilder::active_expiry)).
    #[cfg_attr(feature = "serde", serde(with = "serde_duration"))]
    pub active_expiry: Option<Duration>,
    /// Entries one sweep round samples per shard, 20 by default
    /// ([`CacheBuilder::active_expiry_samples`](crate::CacheBuilder::active_expiry_samples)).
    pub active_expiry_samples: usize,
    /// The shard count, `None` to let the cache choose
    /// ([`CacheBuilder::shards`](crate::CacheBuilder::shards)). A built
    /// cache reports the count it uses.
    pub shards: Option<usize>,
    /// The kind of shard lock, `None` for the machine's default
    /// ([`CacheBuilder::striped_locks`](crate::CacheBuilder::striped_locks)).
    pub striped_locks: Option<bool>,
    /// The namespace snapshots are tagged with, if any
    /// ([`CacheBuilder::namespace`](crate::CacheBuilder::namespace)); an
    /// empty one is refused when the cache is built.
    pub namespace: Option<String>,
    /// The version of the cached data, 0 by default
    /// ([`CacheBuilder::version`](crate::CacheBuilder::version)). A built
    /// cache reports the version it runs with, after any
    /// [`Cache::set_version`](crate::Cache::set_version).
    pub version: u64,
}

impl Default for CacheConfig {
    /// What [`Cache::builder`](crate::Cache::builder) starts from: LRU,
    /// unbounded, no TTL, no sweeper, shards and locks chosen by the cache.
    ///
    /// ```
    /// let c = cachelite_runtime::CacheConfig::default();
    /// assert_eq!((c.max_items, c.default_ttl, c.active_expiry_samples), (None, None, 20));
    /// ```
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            max_items: None,
            max_bytes: None,
            default_ttl: None,
            stale_ttl: None,
            ttl_jitter: None,
            active_expiry: None,
            active_expiry_samples: DEFAULT_SWEEP_SAMPLES,
            shards: None,
            striped_locks: None,
            namespace: None,
            version: 0,
        }
    }
}

/// A variable of [`CacheConfig::from_env`] that holds a value its option
/// does not accept.
///
/// ```
/// use cachelite_runtime::CacheConfig;
///
/// let err = CacheConfig::from_lookup("APP_CACHE_", |name| {
///     (name == "APP_CACHE_MAX_ITEMS").then(|| "ten".to_string())
/// })
/// .unwrap_err();
/// assert_eq!(err.variable(), "APP_CACHE_MAX_ITEMS");
/// assert_eq!(
///     err.to_string(),
///     "APP_CACHE_MAX_ITEMS=\"ten\" is not valid: expected a whole number of entries, at least 1 (e.g. 10000)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    variable: String,
    value: String,
    expected: String,
}

impl ConfigError {
    /// The variable's full name, prefix included.
    ///
    /// ```
    /// let err = cachelite_runtime::CacheConfig::from_lookup("X_", |n| {
    ///     (n == "X_POLICY").then(|| "mru".to_string())
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.variable(), "X_POLICY");
    /// ```
    #[must_use]
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// The value that was refused.
    ///
    /// ```
    /// let err = cachelite_runtime::CacheConfig::from_lookup("X_", |n| {
    ///     (n == "X_SHARDS").then(|| "3".to_string())
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.value(), "3");
    /// ```
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is not valid: expected {}",
            self.variable, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

const DURATION_FORMS: &str =
    "a positive duration: seconds (30, 0.5) or a number with a unit (500ms, 30s, 5m, 2h, 1d)";

impl CacheConfig {
    /// Reads a configuration from environment variables named `prefix`
    /// followed by the option's name, starting from the defaults; an unset
    /// or empty variable keeps its default.
    ///
    /// | variable | accepts |
    /// | --- | --- |
    /// | `MAX_ITEMS` | a whole number, at least 1 (`10000`, `10_000`) |
    /// | `MAX_BYTES` | a whole number of bytes, at least 1, with an optional unit: `KB`, `MB`, `GB` (powers of 1000) or `KiB`, `MiB`, `GiB` (powers of 1024) |
    /// | `DEFAULT_TTL`, `STALE_TTL`, `TTL_JITTER`, `ACTIVE_EXPIRY` | a positive duration: seconds (`30`, `0.5`) or a number with a unit (`500ms`, `30s`, `5m`, `2h`, `1d`), as the HTTP API's `ttl` |
    /// | `ACTIVE_EXPIRY_SAMPLES` | a whole number, at least 1 |
    /// | `POLICY` | a policy name: `lru`, `lfu`, `fifo`, `random`, `tinylfu` (any case) |
    /// | `SHARDS` | a power of two |
    /// | `STRIPED_LOCKS` | `true`/`false` (or `1`/`0`, `yes`/`no`, `on`/`off`) |
    /// | `NAMESPACE` | any text (surrounding spaces are trimmed) |
    /// | `VERSION` | a whole number, 0 or more |
    ///
    /// # Errors
    /// The first variable whose value its option does not accept (or that
    /// is not UTF-8), named with what it accepts.
    ///
    /// ```no_run
    /// use cachelite_runtime::{Cache, CacheConfig};
    ///
    /// // MYAPP_CACHE_MAX_ITEMS=50000 MYAPP_CACHE_DEFAULT_TTL=5m MYAPP_CACHE_POLICY=tinylfu
    /// let config = CacheConfig::from_env("MYAPP_CACHE_")?;
    /// let cache: Cache<String, String> = Cache::from_config(&config)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_env(prefix: &str) -> Result<Self, ConfigError> {
        Self::read(prefix, |name| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(v)) => Err(ConfigError {
                variable: name.to_owned(),
                value: v.to_string_lossy().into_owned(),
                expected: "UTF-8 text".to_owned(),
            }),
        })
    }

    /// [`CacheConfig::from_env`] over any source of variables: `lookup`
    /// is given each variable's full name and returns its value, if set
    /// (a `.env` file read into a map, a test's own variables).
    ///
    /// # Errors
    /// As [`CacheConfig::from_env`].
    ///
    /// ```
    /// use cachelite_runtime::{CacheConfig, Policy};
    /// use std::collections::HashMap;
    /// use std::time::Duration;
    ///
    /// let vars = HashMap::from([
    ///     ("APP_CACHE_MAX_ITEMS", "50_000"),
    ///     ("APP_CACHE_MAX_BYTES", "64MiB"),
    ///     ("APP_CACHE_DEFAULT_TTL", "5m"),
    ///     ("APP_CACHE_POLICY", "TinyLFU"),
    /// ]);
    /// let c = CacheConfig::from_lookup("APP_CACHE_", |name| vars.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(c.max_items, Some(50_000));
    /// assert_eq!(c.max_bytes, Some(64 << 20));
    /// assert_eq!(c.default_ttl, Some(Duration::from_secs(300)));
    /// assert_eq!(c.policy, Policy::TinyLfu);
    /// # Ok::<(), cachelite_runtime::ConfigError>(())
    /// ```
    pub fn from_lookup(
        prefix: &str,
        mut lookup: impl FnMut(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::read(prefix, |name| Ok(lookup(name)))
    }

    fn read(
        prefix: &str,
        mut get: impl FnMut(&str) -> Result<Option<String>, ConfigError>,
    ) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        let mut var = |option: &str,
                       expected: &str,
                       apply: &mut dyn FnMut(&str) -> Option<()>|
         -> Result<(), ConfigError> {
            let variable = format!("{prefix}{option}");
            match get(&variable)? {
                Some(value) if !value.trim().is_empty() => match apply(value.trim()) {
                    Some(()) => Ok(()),
                    None => Err(ConfigError {
                        variable,
                        value,
                        expected: expected.to_owned(),
                    }),
                },
                _ => Ok(()),
            }
        };
        var(
            "MAX_ITEMS",
            "a whole number of entries, at least 1 (e.g. 10000)",
            &mut |v| {
                c.max_items = Some(positive(v)?);
                Some(())
            },
        )?;
        var(
            "MAX_BYTES",
            "a whole number of bytes, at least 1, with an optional unit: \
             KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), e.g. 64MiB",
            &mut |v| {
                c.max_bytes = Some(parse_bytes(v)?);
                Some(())
            },
        )?;
        var("DEFAULT_TTL", DURATION_FORMS, &mut |v| {
            c.default_ttl = Some(parse_duration(v)?);
            Some(())
        })?;
        var("STALE_TTL", DURATION_FORMS, &mut |v| {
            c.stale_ttl = Some(parse_duration(v)?);
            Some(())
        })?;
        var("TTL_JITTER", DURATION_FORMS, &mut |v| {
            c.ttl_jitter = Some(parse_duration(v)?);
            Some(())
        })?;
        var("ACTIVE_EXPIRY", DURATION_FORMS, &mut |v| {
            c.active_expiry = Some(parse_duration(v)?);
            Some(())
        })?;
        var(
            "ACTIVE_EXPIRY_SAMPLES",
            "a whole number of entries, at least 1 (e.g. 20)",
            &mut |v| {
                c.active_expiry_samples = positive(v)?;
                Some(())
            },
        )?;
        let policies = format!("one of {}", Policy::valid_names());
        var("POLICY", &policies, &mut |v| {
            c.policy = v.parse().ok()?;
            Some(())
        })?;
        var("SHARDS", "a power of two (1, 2, 4, 8, ...)", &mut |v| {
            c.shards = Some(positive::<usize>(v).filter(|n| n.is_power_of_two())?);
            Some(())
        })?;
        var(
            "STRIPED_LOCKS",
            "true or false (also 1/0, yes/no, on/off)",
            &mut |v| {
                c.striped_locks = Some(parse_bool(v)?);
                Some(())
            },
        )?;
        var("NAMESPACE", "any non-empty text (e.g. billing)", &mut |v| {
            c.namespace = Some(v.to_owned());
            Some(())
        })?;
        var("VERSION", "a whole number, 0 or more (e.g. 3)", &mut |v| {
            c.version = v.replace('_', "").parse().ok()?;
            Some(())
        })?;
        Ok(c)
    }
}

/// A whole number at least 1; `_` may separate digits.
fn positive<T: std::str::FromStr + PartialEq + From<u8>>(v: &str) -> Option<T> {
    let n: T = v.replace('_', "").parse().ok()?;
    (n != T::from(0)).then_some(n)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Bytes: a whole number with an optional unit, as [`CacheConfig::from_env`]
/// documents.
fn parse_bytes(v: &str) -> Option<u64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return None,
    };
    positive::<u64>(number.trim())?.checked_mul(scale)
}

/// A duration as the HTTP API's `ttl` takes it: seconds (`30`, `0.5`) or a
/// number with a unit (`500ms`, `30s`, `5m`, `2h`, `1d`); positive. Decimal
/// fractions are exact to the nanosecond.
pub(crate) fn parse_duration(v: &str) -> Option<Duration> {
    const NANOS: u128 = 1_000_000_000;
    let v = v.trim();
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let scale: u128 = match unit {
        "" | "s" => NANOS,
        "ms" => NANOS / 1_000,
        "m" => 60 * NANOS,
        "h" => 3_600 * NANOS,
        "d" => 86_400 * NANOS,
        _ => return None,
    };
    let (whole, frac) = number.trim().split_once('.').unwrap_or((number.trim(), ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    // Digits past the nanosecond (of the smallest unit, ms) cannot count.
    let frac = &frac[..frac.len().min(12)];
    let frac_value: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let frac_nanos = frac_value * scale / 10u128.pow(u32::try_from(frac.len()).ok()?);
    let nanos = whole.checked_mul(scale)?.checked_add(frac_nanos)?;
    let secs = u64::try_from(nanos / NANOS).ok()?;
    #[allow(clippy::cast_possible_truncation, reason = "below 10^9")]
    let d = Duration::new(secs, (nanos % NANOS) as u32);
    (!d.is_zero()).then_some(d)
}

/// Writes a duration in the largest unit that keeps it exact.
#[cfg_attr(
    not(feature = "serde"),
    allow(dead_code, reason = "only serde uses it")
)]
pub(crate) fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    for (unit, scale) in [
        ("d", 86_400_000_000_000u128),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ] {
        if nanos != 0 && nanos.is_multiple_of(scale) {
            return format!("{}{unit}", nanos / scale);
        }
    }
    let frac = format!("{:09}", d.subsec_nanos());
    format!("{}.{}s", d.as_secs(), frac.trim_end_matches('0'))
}

#[cfg(feature = "serde")]
mod serde_duration {
    //! `Option<Duration>` as a string with a unit, read back from that or
    //! from a number of seconds.
    use std::time::Duration;

    use serde::de::{self, Deserializer, Visitor};
    use serde::{Deserialize, Serializer};

    #[allow(clippy::ref_option, reason = "serde's `with` signature")]
    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<Text>::deserialize(d).map(|t| t.map(|t| t.0))
    }

    struct Text(Duration);

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(TextVisitor).map(Text)
        }
    }

    #[derive(Clone, Copy)]
    struct TextVisitor;

    impl Visitor<'_> for TextVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(super::DURATION_FORMS)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            super::parse_duration(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            (v > 0)
                .then(|| Duration::from_secs(v))
                .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &self))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v)
                .ok()
                .and_then(|v| self.visit_u64::<E>(v).ok())
                .ok_or_else(|| E::invalid_value(de::Unexpected::Signed(v), &self))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_http_apis_forms_exactly() {
        let ms = Duration::from_millis;
        for (text, d) in [
            ("30", ms(30_000)),
            ("0.5", ms(500)),
            (".25", ms(250)),
            ("1.5s", ms(1_500)),
            ("250ms", ms(250)),
            ("0.001ms", Duration::from_nanos(1_000)),
            ("5m", ms(300_000)),
            ("2h", ms(7_200_000)),
            ("1d", ms(86_400_000)),
            (" 7s ", ms(7_000)),
            ("1 m", ms(60_000)),
            ("0.000000001", Duration::from_nanos(1)),
        ] {
            assert_eq!(parse_duration(text), Some(d), "{text}");
        }
        for bad in [
            "",
            "0",
            "0s",
            "-1",
            "1y",
            "s",
            ".",
            "1.2.3",
            "ten",
            "1e3",
            "NaN",
            "5M",
            "1s2",
            "99999999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formatted_durations_read_back_the_same() {
        for d in [
            Duration::from_secs(86_400 * 3),
            Duration::from_secs(7_200),
            Duration::from_secs(90),
            Duration::from_secs(61),
            Duration::from_millis(1_500),
            Duration::from_nanos(1),
            Duration::from_nanos(1_234_567_891),
            Duration::new(u64::MAX / 1_000_000_000, 5),
        ] {
            let text = format_duration(d);
            assert_eq!(parse_duration(&text), Some(d), "{text}");
        }
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1500ms");
    }

    #[test]
    fn byte_counts_take_decimal_and_binary_units() {
        for (text, n) in [
            ("1", 1),
            ("4096", 4_096),
            ("1_000", 1_000),
            ("10B", 10),
            ("2KB", 2_000),
            ("2kib", 2_048),
            ("64MiB", 64 << 20),
            ("3 GB", 3_000_000_000),
            ("1GiB", 1 << 30),
        ] {
            assert_eq!(parse_bytes(text), Some(n), "{text}");
        }
        for bad in ["0", "0MiB", "-1", "1.5MB", "MB", "1TB", "99999999999GiB"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }
}
