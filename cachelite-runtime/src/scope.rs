//! Hierarchical scopes: a cache declares levels (organization → user →
//! session), and each entry's key carries a path down them
//! ([`Scoped`]). Two paths never share an entry, and
//! [`Cache::invalidate_scope`] drops everything under a path.
//!
//! The index by path is the tag index: an entry under `org:42/user:7`
//! carries one reserved tag per prefix of its path (`org:42`, then
//! `org:42/user:7`), added wherever a value is stored, so dropping a
//! scope takes the slots filed under its tag, in time proportional to
//! what it removes.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use crate::builder::{BuildError, CacheBuilder};
use crate::cache::Cache;
use crate::shard::Tag;

/// Starts every scope tag: no tag a user passes by accident.
const TAG_PREFIX: char = '\u{1e}';
/// Separates the segments of a path in its tag.
const TAG_SEPARATOR: char = '\u{1f}';

/// Reads the scope tags of a key.
type TagsOf<K> = Arc<dyn Fn(&K) -> Vec<Tag> + Send + Sync>;

/// The declared levels of a cache, and how to read a key's scope tags.
pub(crate) struct Levels<K> {
    names: Arc<[Arc<str>]>,
    tags_of: TagsOf<K>,
}

impl<K> Clone for Levels<K> {
    fn clone(&self) -> Self {
        Self {
            names: self.names.clone(),
            tags_of: self.tags_of.clone(),
        }
    }
}

impl<K> Levels<K> {
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        let bad = |why: String| Err(BuildError::BadScopeLevels(why));
        if self.names.is_empty() {
            return bad(
                "declare at least one level, e.g. scope_levels([\"org\", \"user\"])".into(),
            );
        }
        for (i, name) in self.names.iter().enumerate() {
            if name.is_empty() || name.contains(':') || name.contains(TAG_SEPARATOR) {
                return bad(format!(
                    "level `{name}` must be a non-empty name without `:` (paths are written `{}:<id>`)",
                    if name.is_empty() {
                        "level"
                    } else {
                        name.split(':').next().unwrap_or("level")
                    }
                ));
            }
            if self.names[..i].contains(name) {
                return bad(format!("level `{name}` is declared twice"));
            }
        }
        Ok(())
    }
}

/// The tags an entry is stored with: its own, plus its key's scope tags.
pub(crate) fn entry_tags<K>(
    mut tags: Vec<Tag>,
    scopes: Option<&Levels<K>>,
    key: &K,
) -> Option<Box<[Tag]>> {
    if let Some(levels) = scopes {
        tags.extend((levels.tags_of)(key));
    }
    (!tags.is_empty()).then(|| tags.into_boxed_slice())
}

/// The tag of one path (a whole path, or a prefix of one).
fn scope_tag(segments: &[Arc<str>]) -> Tag {
    let mut tag = String::from(TAG_PREFIX);
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            tag.push(TAG_SEPARATOR);
        }
        tag.push_str(s);
    }
    Tag::from(tag)
}

/// Why a scope path was refused.
///
/// ```
/// use cachelite_runtime::{Cache, Scoped, ScopeError};
///
/// let c: Cache<Scoped<u32>, u32> = Cache::builder().scope_levels(["org", "user"]).build();
/// let err = c.scope(&["user:7"]).unwrap_err();
/// assert!(matches!(err, ScopeError::SkippedLevel { .. }));
/// assert_eq!(err.to_string(), "scope path segment 1 (`user:7`) is at level `user`, but level `org` comes first: a path goes down the declared levels (org → user) without skipping one");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeError {
    /// The cache declares no scope levels (`CacheBuilder::scope_levels`).
    NoLevels,
    /// An empty path: an entry lives under at least the first level.
    Empty,
    /// A segment that is not `level:id` with both parts non-empty.
    Malformed(String),
    /// A segment names a level the cache does not declare.
    UndeclaredLevel {
        /// The level named.
        level: String,
        /// The declared levels, top first.
        declared: Vec<String>,
    },
    /// A segment names a declared level out of its place: the path skipped
    /// (or repeated, or reordered) a level.
    SkippedLevel {
        /// The segment's place in the path, from 1.
        position: usize,
        /// The segment.
        segment: String,
        /// The level due at this place, if the path is not already
        /// deeper than the declared levels.
        expected: Option<String>,
        /// The declared levels, top first.
        declared: Vec<String>,
    },
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::NoLevels => f.write_str(
                "this cache declares no scope levels: build it with scope_levels([\"org\", \"user\", ...])",
            ),
            ScopeError::Empty => f.write_str("a scope path needs at least one segment, e.g. [\"org:42\"]"),
            ScopeError::Malformed(s) => write!(
                f,
                "scope path segment `{s}` is not `level:id` (e.g. `org:42`)"
            ),
            ScopeError::UndeclaredLevel { level, declared } => write!(
                f,
                "scope level `{level}` is not declared; declared levels: {}",
                declared.join(" → ")
            ),
            ScopeError::SkippedLevel {
                position,
                segment,
                expected,
                declared,
            } => {
                let level = segment.split(':').next().unwrap_or_default();
                match expected {
                    Some(e) => write!(
                        f,
                        "scope path segment {position} (`{segment}`) is at level `{level}`, but level `{e}` comes {}: a path goes down the declared levels ({}) without skipping one",
                        if *position == 1 { "first" } else { "there" },
                        declared.join(" → ")
                    ),
                    None => write!(
                        f,
                        "scope path segment {position} (`{segment}`) goes deeper than the declared levels ({})",
                        declared.join(" → ")
                    ),
                }
            }
        }
    }
}

impl std::error::Error for ScopeError {}

/// A checked path down a cache's scope levels, such as `org:42 → user:7`;
/// [`Cache::scope`] makes one. Paths compare by their segments.
///
/// ```
/// use cachelite_runtime::{Cache, Scoped};
///
/// let c: Cache<Scoped<&str>, u32> = Cache::builder().scope_levels(["org", "user"]).build();
/// let path = c.scope(&["org:42", "user:7"]).unwrap();
/// assert_eq!(path.segments().collect::<Vec<_>>(), ["org:42", "user:7"]);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ScopePath(Arc<[Arc<str>]>);

impl ScopePath {
    /// The segments, top level first.
    ///
    /// ```
    /// # use cachelite_runtime::{Cache, Scoped};
    /// # let c: Cache<Scoped<u8>, u8> = Cache::builder().scope_levels(["org"]).build();
    /// assert_eq!(c.scope(&["org:1"]).unwrap().segments().count(), 1);
    /// ```
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| &**s)
    }

    /// `key` under this path: the key of a scoped cache's entry.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Scoped};
    ///
    /// let c: Cache<Scoped<&str>, u32> = Cache::builder().scope_levels(["org"]).build();
    /// let (a, b) = (c.scope(&["org:1"]).unwrap(), c.scope(&["org:2"]).unwrap());
    /// c.insert(a.key("plan"), 1);
    /// c.insert(b.key("plan"), 2);
    /// assert_eq!((c.get(&a.key("plan")), c.get(&b.key("plan"))), (Some(1), Some(2)));
    /// ```
    #[must_use]
    pub fn key<K>(&self, key: K) -> Scoped<K> {
        Scoped {
            path: self.clone(),
            key,
        }
    }

    /// A path from segments taken as they are. Not public API: for
    /// `#[memoize(scope(..))]`, whose paths follow the levels it declares.
    #[doc(hidden)]
    pub fn __from_declared(segments: Vec<String>) -> Self {
        ScopePath(segments.into_iter().map(Arc::from).collect())
    }

    /// The tags an entry under this path carries: one per prefix.
    fn tags(&self) -> Vec<Tag> {
        (1..=self.0.len())
            .map(|n| scope_tag(&self.0[..n]))
            .collect()
    }
}

impl fmt::Debug for ScopePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.segments()).finish()
    }
}

/// A key under a scope path: the key type of a cache with scope levels.
/// Equal keys under two paths are two entries.
///
/// It implements `DeepSize` (for `max_bytes`) but not serde's traits: a
/// scoped cache is not snapshotted.
///
/// ```
/// use cachelite_runtime::{Cache, Scoped};
///
/// let c: Cache<Scoped<String>, u32> = Cache::builder().scope_levels(["org", "user"]).build();
/// let k = c.scope(&["org:1", "user:2"]).unwrap().key("theme".to_string());
/// assert_eq!(k.key(), "theme");
/// assert_eq!(k.path().segments().last(), Some("user:2"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Scoped<K> {
    path: ScopePath,
    key: K,
}

impl<K> Scoped<K> {
    /// The path.
    ///
    /// ```
    /// # use cachelite_runtime::{Cache, Scoped};
    /// # let c: Cache<Scoped<u8>, u8> = Cache::builder().scope_levels(["org"]).build();
    /// let k = c.scope(&["org:1"]).unwrap().key(5);
    /// assert_eq!(k.path().segments().next(), Some("org:1"));
    /// ```
    pub fn path(&self) -> &ScopePath {
        &self.path
    }

    /// The key within the path.
    ///
    /// ```
    /// # use cachelite_runtime::{Cache, Scoped};
    /// # let c: Cache<Scoped<u8>, u8> = Cache::builder().scope_levels(["org"]).build();
    /// assert_eq!(*c.scope(&["org:1"]).unwrap().key(5).key(), 5);
    /// ```
    pub fn key(&self) -> &K {
        &self.key
    }
}

impl<K, V, S> CacheBuilder<Scoped<K>, V, S>
where
    K: 'static,
{
    /// Declares the cache's scope levels, top first (organization → user
    /// → session). Its keys are [`Scoped`]: a key under a path such as
    /// `["org:42", "user:7"]`, made by [`Cache::scope`]. Level names are
    /// non-empty, without `:`, and distinct (else [`BuildError::BadScopeLevels`]).
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Scoped};
    ///
    /// let c: Cache<Scoped<String>, String> =
    ///     Cache::builder().scope_levels(["org", "user", "session"]).build();
    /// assert_eq!(c.scope_levels(), ["org", "user", "session"]);
    /// ```
    pub fn scope_levels<I, T>(mut self, levels: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.scopes = Some(Levels {
            names: levels.into_iter().map(|l| Arc::from(l.as_ref())).collect(),
            tags_of: Arc::new(|k: &Scoped<K>| k.path.tags()),
        });
        self
    }
}

impl<K, V, S> Cache<Scoped<K>, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    /// The declared scope levels, top first (empty if none).
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Scoped};
    /// let c: Cache<Scoped<u8>, u8> = Cache::builder().scope_levels(["tenant"]).build();
    /// assert_eq!(c.scope_levels(), ["tenant"]);
    /// ```
    pub fn scope_levels(&self) -> Vec<&str> {
        self.inner
            .scopes
            .as_ref()
            .map(|l| l.names.iter().map(|n| &**n).collect())
            .unwrap_or_default()
    }

    /// Checks a path down the declared levels (`["org:42", "user:7"]`:
    /// each segment `level:id`, from the top level down, none skipped; it
    /// may stop at any level) and returns it, to make keys with
    /// [`ScopePath::key`].
    ///
    /// # Errors
    /// A [`ScopeError`] that says what is wrong: no declared levels, an
    /// empty path, a segment not `level:id`, an undeclared level, or a
    /// skipped one.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Scoped, ScopeError};
    ///
    /// let c: Cache<Scoped<u8>, u8> = Cache::builder().scope_levels(["org", "user", "session"]).build();
    /// assert!(c.scope(&["org:42"]).is_ok());
    /// assert!(c.scope(&["org:42", "user:7", "session:s1"]).is_ok());
    /// assert!(matches!(c.scope(&["org:42", "session:s1"]), Err(ScopeError::SkippedLevel { .. })));
    /// assert!(matches!(c.scope(&["team:1"]), Err(ScopeError::UndeclaredLevel { .. })));
    /// ```
    pub fn scope<T: AsRef<str>>(&self, path: &[T]) -> Result<ScopePath, ScopeError> {
        let levels = self.inner.scopes.as_ref().ok_or(ScopeError::NoLevels)?;
        if path.is_empty() {
            return Err(ScopeError::Empty);
        }
        let declared = || levels.names.iter().map(|n| n.to_string()).collect();
        let mut segments = Vec::with_capacity(path.len());
        for (i, segment) in path.iter().enumerate() {
            let segment = segment.as_ref();
            let level = match segment.split_once(':') {
                Some((level, id)) if !level.is_empty() && !id.is_empty() => level,
                _ => return Err(ScopeError::Malformed(segment.into())),
            };
            if !levels.names.iter().any(|n| &**n == level) {
                return Err(ScopeError::UndeclaredLevel {
                    level: level.into(),
                    declared: declared(),
                });
            }
            let expected = levels.names.get(i);
            if expected.is_none_or(|e| &**e != level) {
                return Err(ScopeError::SkippedLevel {
                    position: i + 1,
                    segment: segment.into(),
                    expected: expected.map(|e| e.to_string()),
                    declared: declared(),
                });
            }
            segments.push(Arc::from(segment));
        }
        Ok(ScopePath(segments.into()))
    }

    /// Removes every entry under a path (the path itself and everything
    /// below it: `["org:42"]` takes its users and their sessions along)
    /// and returns how many were fresh. It takes the entries from an index
    /// by path, so its time grows with what it removes, not with the
    /// cache. Computations in flight under the path finish for their
    /// callers but are not stored.
    ///
    /// # Errors
    /// As [`Cache::scope`], for a path that is not one.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Scoped};
    ///
    /// let c: Cache<Scoped<&str>, u32> = Cache::builder().scope_levels(["org", "user"]).build();
    /// let put = |path: &[&str], v| c.insert(c.scope(path).unwrap().key("k"), v);
    /// put(&["org:1"], 1);
    /// put(&["org:1", "user:7"], 2);
    /// put(&["org:2", "user:7"], 3);
    /// assert_eq!(c.invalidate_scope(&["org:1"]), Ok(2));
    /// assert_eq!(c.len(), 1);
    /// ```
    pub fn invalidate_scope<T: AsRef<str>>(&self, path: &[T]) -> Result<usize, ScopeError> {
        let path = self.scope(path)?;
        Ok(self.invalidate_tags(&[scope_tag(&path.0)]))
    }
}

/// The path's segments, counted in full for every key that shares them
/// (as `Arc` is), so a byte budget errs on the safe side.
impl crate::DeepSize for ScopePath {
    fn deep_size_of_children(&self) -> usize {
        self.0.deep_size_of_children()
    }
}

/// The path's bytes plus the key's.
///
/// ```
/// use cachelite_runtime::{Cache, Scoped};
///
/// let c: Cache<Scoped<String>, String> =
///     Cache::builder().scope_levels(["org"]).max_bytes(1 << 20).build();
/// c.insert(c.scope(&["org:1"]).unwrap().key("k".into()), "v".into());
/// assert!(c.stats().bytes > 0);
/// ```
impl<K: crate::DeepSize> crate::DeepSize for Scoped<K> {
    fn deep_size_of_children(&self) -> usize {
        self.path.deep_size_of_children() + self.key.deep_size_of_children()
    }
}
