//! Cache events and their listeners.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why an entry left the cache.
///
/// ```
/// use cachelite_runtime::RemovalCause;
/// assert!(RemovalCause::Size.was_evicted());
/// assert!(RemovalCause::Expired.was_evicted());
/// assert!(!RemovalCause::Explicit.was_evicted());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RemovalCause {
    /// Evicted by the policy to respect `max_items` or `max_bytes`.
    Size,
    /// Its TTL ran out (found by a read or by the sweeper).
    Expired,
    /// Removed by `remove`, `clear`, tag or glob invalidation.
    Explicit,
    /// Its value was overwritten by a new insert for the same key.
    Replaced,
}

impl RemovalCause {
    /// Whether the cache removed the entry on its own (size or time),
    /// rather than at the caller's request.
    ///
    /// ```
    /// assert!(!cachelite_runtime::RemovalCause::Replaced.was_evicted());
    /// ```
    #[must_use]
    pub fn was_evicted(self) -> bool {
        matches!(self, RemovalCause::Size | RemovalCause::Expired)
    }
}

/// Something that happened in a cache, as seen by an `on_event` listener.
///
/// Listeners run after the cache has released its locks, so they may call
/// back into the cache.
///
/// ```
/// use cachelite_runtime::{Cache, Event, RemovalCause};
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let sink = log.clone();
/// let cache: Cache<String, u32> = Cache::builder()
///     .max_items(1)
///     .on_event(move |e: &Event<'_, String, u32>| {
///         if let Event::Removed { key, cause, .. } = e {
///             sink.lock().unwrap().push((key.to_string(), *cause));
///         }
///     })
///     .build();
/// cache.insert("a".into(), 1);
/// cache.insert("b".into(), 2);
/// assert_eq!(*log.lock().unwrap(), [("a".to_string(), RemovalCause::Size)]);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a, K, V> {
    /// A read found a live entry.
    Hit {
        /// The entry's key.
        key: &'a K,
        /// The value returned.
        value: &'a V,
    },
    /// A read found nothing. `key` is `None` when the caller looked up a
    /// borrowed form (such as `&str` for a `String` key) and the cache never
    /// held an owned key to show.
    Miss {
        /// The key looked up, when the caller passed an owned one.
        key: Option<&'a K>,
    },
    /// A new value was stored (a new key, or a replacement).
    Inserted {
        /// The key.
        key: &'a K,
        /// The stored value.
        value: &'a V,
    },
    /// An entry left the cache.
    Removed {
        /// The key it had.
        key: &'a K,
        /// The value it had.
        value: &'a V,
        /// Why it left.
        cause: RemovalCause,
    },
}

pub(crate) type Listener<K, V> = Arc<dyn Fn(&Event<'_, K, V>) + Send + Sync>;

/// Every registered listener, and a count of those that panicked.
pub(crate) struct Listeners<K, V> {
    list: Vec<Listener<K, V>>,
    panics: AtomicU64,
}

impl<K, V> Default for Listeners<K, V> {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            panics: AtomicU64::new(0),
        }
    }
}

impl<K, V> Clone for Listeners<K, V> {
    fn clone(&self) -> Self {
        Self {
            list: self.list.clone(),
            panics: AtomicU64::new(0),
        }
    }
}

impl<K, V> Listeners<K, V> {
    pub(crate) fn push(&mut self, l: Listener<K, V>) {
        self.list.push(l);
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Delivers `event` to every listener; a panic in one is caught and
    /// counted, and the others still run.
    pub(crate) fn emit(&self, event: &Event<'_, K, V>) {
        for l in &self.list {
            if catch_unwind(AssertUnwindSafe(|| l(event))).is_err() {
                self.panics.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_listener_is_counted_and_others_still_run() {
        let hits = Arc::new(AtomicU64::new(0));
        let mut ls: Listeners<u8, u8> = Listeners::default();
        ls.push(Arc::new(|_| panic!("listener bug")));
        let h = hits.clone();
        ls.push(Arc::new(move |_| {
            h.fetch_add(1, Ordering::Relaxed);
        }));
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        ls.emit(&Event::Miss { key: Some(&1) });
        ls.emit(&Event::Miss { key: None });
        std::panic::set_hook(prev);
        assert_eq!(ls.panics(), 2);
        assert_eq!(hits.load(Ordering::Relaxed), 2);
    }
}
