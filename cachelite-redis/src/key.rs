//! Key layout in Redis and the encoding of user keys.
//!
//! Every key a store touches starts with `cachelite:{namespace}:v{version}`:
//!
//! | what          | Redis key                                       |
//! |---------------|-------------------------------------------------|
//! | an entry      | `cachelite:{ns}:v{version}:{rendered key}`      |
//! | a tag's set   | `cachelite:{ns}:v{version}#tag:{tag}`           |
//! | a lease lock  | `cachelite:{ns}:v{version}#lock:{rendered key}` |
//! | a counter     | `cachelite:{ns}:v{version}#counter:{rendered key}` |
//! | the channel   | `cachelite:{ns}:v{version}#events` (pub/sub)    |
//!
//! The namespace is restricted to `[A-Za-z0-9_.-]`, so the prefix holds no
//! glob metacharacter and no `:`: a pattern appended to it can never match
//! outside the namespace, and no namespace is a prefix of another's keys.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// The longest namespace accepted.
pub(crate) const MAX_NAMESPACE_LEN: usize = 64;

/// Renders a key from its serde representation, never from a `Hash` impl
/// (whose seed differs per process).
///
/// A key that serializes as a string is kept as it is, so `"user:1"` is
/// stored as `...:user:1` and globs read naturally; a leading `#` or `%` is
/// percent-escaped. Any other key is `#` followed by its JSON (`42` is
/// `#42`, `(1, "a")` is `#[1,"a"]`). Strings never start with `#` once
/// escaped, so two different keys of one type never render alike.
pub(crate) fn render_key<K: Serialize + ?Sized>(key: &K) -> Result<String, Error> {
    let value = serde_json::to_value(key).map_err(|e| Error::Key(e.to_string()))?;
    Ok(match value {
        serde_json::Value::String(s) => escape_string(s),
        other => format!("#{other}"),
    })
}

/// A rendered key, on the stack when it is short: a local hit then costs
/// no allocation.
pub(crate) struct Rendered {
    buf: [u8; Self::CAP],
    range: std::ops::Range<usize>,
    owned: Option<String>,
}

impl Rendered {
    const CAP: usize = 48;

    pub(crate) fn as_str(&self) -> &str {
        match &self.owned {
            Some(s) => s,
            // Only valid UTF-8 is kept in `buf` (checked when it is made).
            None => std::str::from_utf8(&self.buf[self.range.clone()]).unwrap_or_default(),
        }
    }

    pub(crate) fn into_string(self) -> String {
        match self.owned {
            Some(s) => s,
            None => self.as_str().to_owned(),
        }
    }
}

/// [`render_key`], written to the stack for short keys whose JSON form is
/// the same as the rendering: scalars, strings without escapes, and lists
/// of them. Maps and structs (whose fields `render_key` sorts), floats
/// and numbers beyond 64 bits take the general path.
pub(crate) fn render_key_short<K: Serialize + ?Sized>(key: &K) -> Result<Rendered, Error> {
    let mut buf = [0u8; Rendered::CAP];
    buf[0] = b'#';
    let written = {
        let mut w: &mut [u8] = &mut buf[1..];
        let before = w.len();
        serde_json::to_writer(&mut w, key)
            .ok()
            .map(|()| before - w.len())
    };
    let general = || {
        render_key(key).map(|s| Rendered {
            buf: [0; Rendered::CAP],
            range: 0..0,
            owned: Some(s),
        })
    };
    let Some(n) = written else {
        return general();
    };
    let json = &buf[1..=n];
    // One pass over the JSON: maps and structs (`{`), numbers beyond 64
    // bits (more than 19 digits in a row) and anything that may hold a
    // float (a `.`, or an exponent after a digit) take the general path,
    // since a float's digits depend on the path (`to_value` widens an
    // `f32` to `f64`).
    let (mut digits, mut float, mut ascii) = (0usize, false, true);
    for &b in json {
        if b.is_ascii_digit() {
            digits += 1;
            if digits > 19 {
                return general();
            }
            continue;
        }
        match b {
            b'{' => return general(),
            b'.' => float = true,
            b'e' | b'E' if digits > 0 => float = true,
            0x80.. => ascii = false,
            _ => {}
        }
        digits = 0;
    }
    if !ascii && std::str::from_utf8(json).is_err() {
        return general();
    }
    let range = if json.first() == Some(&b'"') {
        let inner = &json[1..json.len() - 1];
        if inner.contains(&b'\\') || matches!(inner.first(), Some(b'#' | b'%')) {
            return general();
        }
        2..n
    } else if float {
        return general();
    } else {
        0..n + 1
    };
    Ok(Rendered {
        buf,
        range,
        owned: None,
    })
}

/// The key a rendering came from, read back: the inverse of
/// [`render_key`] for keys whose serde forms round-trip through JSON.
/// `None` when the rendering is not of a `K`.
///
/// The local tier is keyed by the user's keys and invalidation messages
/// carry renderings; a key enters the local tier only if its rendering
/// reads back as itself, so a message always finds the entry it names.
pub(crate) fn parse_rendered<K: DeserializeOwned>(rendered: &str) -> Option<K> {
    if let Some(json) = rendered.strip_prefix('#') {
        return serde_json::from_str(json).ok();
    }
    let unescaped = if let Some(rest) = rendered.strip_prefix("%23") {
        format!("#{rest}")
    } else if let Some(rest) = rendered.strip_prefix("%25") {
        format!("%{rest}")
    } else if rendered.starts_with('%') {
        // Strings starting with `%` are always escaped.
        return None;
    } else {
        rendered.to_owned()
    };
    serde_json::from_value(serde_json::Value::String(unescaped)).ok()
}

fn escape_string(s: String) -> String {
    match s.as_bytes().first() {
        Some(b'#') => format!("%23{}", &s[1..]),
        Some(b'%') => format!("%25{}", &s[1..]),
        _ => s,
    }
}

/// Checks a namespace: 1 to 64 characters from `[A-Za-z0-9_.-]`.
pub(crate) fn check_namespace(ns: &str) -> Result<(), Error> {
    if ns.is_empty() || ns.len() > MAX_NAMESPACE_LEN {
        return Err(Error::Config(format!(
            "the namespace must be 1 to {MAX_NAMESPACE_LEN} characters long, got {}",
            ns.len()
        )));
    }
    if let Some(c) = ns
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(Error::Config(format!(
            "the namespace {ns:?} contains {c:?}; use only letters, digits, '_', '.' and '-'"
        )));
    }
    Ok(())
}

/// The parts joined in one allocation of the exact size: on the path of
/// every read and write, where `format!` costs several times as much.
fn concat(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// An entry's Redis key, `cachelite:{ns}:v{version}:{rendered}`, as a
/// command argument (see [`Keyspace::entry_arg`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryArg<'a> {
    prefix: &'a str,
    rendered: &'a str,
}

impl EntryArg<'_> {
    /// The key's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.prefix.len() + self.rendered.len()
    }
}

impl redis::ToRedisArgs for EntryArg<'_> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        use std::io::Write as _;
        let mut w = out.writer_for_next_arg();
        // Writing into the command's own buffer cannot fail.
        let _ = w.write_all(self.prefix.as_bytes());
        let _ = w.write_all(self.rendered.as_bytes());
    }
}

/// The names a store uses inside Redis.
#[derive(Debug, Clone)]
pub(crate) struct Keyspace {
    /// `cachelite:{ns}:v{version}`
    base: String,
    /// `cachelite:{ns}:v{version}:`
    entries: String,
}

impl Keyspace {
    pub(crate) fn new(namespace: &str, version: u32) -> Self {
        let base = format!("cachelite:{namespace}:v{version}");
        let entries = format!("{base}:");
        Self { base, entries }
    }

    pub(crate) fn entry(&self, rendered: &str) -> String {
        concat(&[&self.entries, rendered])
    }

    /// An entry's Redis key as a command argument, written straight into
    /// the command: no `String` of its own.
    pub(crate) fn entry_arg<'a>(&'a self, rendered: &'a str) -> EntryArg<'a> {
        EntryArg {
            prefix: &self.entries,
            rendered,
        }
    }

    pub(crate) fn tag(&self, tag: &str) -> String {
        concat(&[&self.base, "#tag:", tag])
    }

    pub(crate) fn lock(&self, rendered: &str) -> String {
        concat(&[&self.base, "#lock:", rendered])
    }

    pub(crate) fn counter(&self, rendered: &str) -> String {
        format!("{}#counter:{rendered}", self.base)
    }

    pub(crate) fn channel(&self) -> String {
        concat(&[&self.base, "#events"])
    }

    /// A `SCAN MATCH` pattern for every key of this namespace and version:
    /// entries, tag sets and locks.
    pub(crate) fn everything(&self) -> String {
        format!("{}[:#]*", self.base)
    }

    /// A `SCAN MATCH` pattern for the entries whose rendered key matches the
    /// user's `pattern`. The prefix is literal, so whatever the pattern
    /// holds, a match starts with this namespace's entry prefix.
    pub(crate) fn entry_pattern(&self, pattern: &str) -> String {
        format!("{}{pattern}", self.entries)
    }

    /// The rendered key of an entry's full Redis key, if it is one of ours.
    pub(crate) fn rendered_of<'a>(&self, full: &'a [u8]) -> Option<&'a str> {
        let rest = full.strip_prefix(self.entries.as_bytes())?;
        std::str::from_utf8(rest).ok()
    }

    /// Whether a full Redis key belongs to this namespace and version.
    pub(crate) fn owns(&self, full: &[u8]) -> bool {
        full.strip_prefix(self.base.as_bytes())
            .is_some_and(|rest| matches!(rest.first(), Some(b':' | b'#')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_render_verbatim_and_others_as_json() {
        assert_eq!(render_key("user:1").unwrap(), "user:1");
        assert_eq!(render_key(&42u64).unwrap(), "#42");
        assert_eq!(render_key(&(1, "a")).unwrap(), "#[1,\"a\"]");
        assert_eq!(render_key(&Option::<u8>::None).unwrap(), "#null");
    }

    #[test]
    fn rendered_keys_never_collide_across_escapes() {
        let keys = ["#42", "%2342", "%23", "#", "%", "%25", "null", "#null", ""];
        let rendered: std::collections::HashSet<String> =
            keys.iter().map(|k| render_key(k).unwrap()).collect();
        assert_eq!(rendered.len(), keys.len());
        assert_ne!(render_key("#42").unwrap(), render_key(&42u8).unwrap());
        assert_ne!(
            render_key(&Some("null")).unwrap(),
            render_key(&Option::<&str>::None).unwrap()
        );
    }

    #[test]
    fn short_renderings_match_the_general_one() {
        fn same<K: Serialize + ?Sized>(k: &K) {
            let general = render_key(k).ok();
            let short = render_key_short(k).ok();
            assert_eq!(short.as_ref().map(Rendered::as_str), general.as_deref());
            assert_eq!(short.map(Rendered::into_string), general);
        }
        same("user:1");
        same("");
        same("#42");
        same("%x");
        same("quote\"inside");
        same("é{}");
        same(&42u64);
        same(&-7i32);
        same(&u128::MAX);
        same(&1.5f64);
        same(&1e300f64);
        same(&3.0f32);
        same(&1.1f32);
        same(&(0.1f32, 7u8));
        same(&f64::NAN);
        same(&true);
        same(&'c');
        same(&(1, "a"));
        same(&Option::<u8>::None);
        same(&vec![3u8; 40]);
        same(&std::collections::HashMap::from([("b", 1), ("a", 2)]));
        same(&"long".repeat(30));
    }

    #[test]
    fn renderings_read_back_as_their_keys() {
        fn back<K>(k: &K)
        where
            K: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
        {
            let r = render_key(k).unwrap();
            assert_eq!(parse_rendered::<K>(&r).as_ref(), Some(k), "{r}");
        }
        for s in [
            "user:1", "", "#42", "%2342", "%", "%25", "null", "#null", "é{}", "a\"b",
        ] {
            back(&s.to_string());
        }
        back(&42u64);
        back(&-7i64);
        back(&1.1f32);
        back(&(1u8, "a".to_string()));
        back(&Some(3u8));
        back(&Option::<u8>::None);
        back(&vec![1u16, 2]);
        back(&'c');
        back(&true);
        // A rendering of another type is not taken for this one.
        assert_eq!(parse_rendered::<u64>("user:1"), None);
        assert_eq!(parse_rendered::<u64>("#\"x\""), None);
        assert_eq!(parse_rendered::<String>("#42"), None);
        assert_eq!(parse_rendered::<String>("%zz"), None);
    }

    #[test]
    fn namespaces_are_checked() {
        assert!(check_namespace("users-v2.prod_1").is_ok());
        for bad in ["", "a:b", "a*", "a b", "a[", "é", &"x".repeat(65)] {
            assert!(
                matches!(check_namespace(bad), Err(Error::Config(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn layout_keeps_kinds_apart() {
        let ks = Keyspace::new("app", 3);
        assert_eq!(ks.entry("k"), "cachelite:app:v3:k");
        assert_eq!(ks.tag("t"), "cachelite:app:v3#tag:t");
        assert_eq!(ks.rendered_of(b"cachelite:app:v3:k"), Some("k"));
        assert_eq!(ks.rendered_of(b"cachelite:app:v3#tag:t"), None);
        assert!(ks.owns(b"cachelite:app:v3#lock:k"));
        assert!(!ks.owns(b"cachelite:app:v31:k"));
        assert!(!ks.owns(b"cachelite:app2:v3:k"));
        assert_eq!(ks.entry_pattern("*"), "cachelite:app:v3:*");
    }
}
