//! Cache events and their listeners.

use std::cell::RefCell;
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
/// back into the cache: any method, including the read-throughs. What such
/// a call does is not reported again, so a listener never sees the
/// consequences of its own calls and cannot re-enter itself: while a
/// thread delivers an event of a cache, the events that cache raises on
/// that thread (from the listener and from anything it calls) reach no
/// listener of that cache. Other threads' events are delivered as usual,
/// and so are other caches' events: a listener of cache A that writes to
/// cache B is seen by B's listeners (and if one of those calls A in turn,
/// that goes unreported, as A is already delivering on the thread).
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
    /// Names this set among all others, for [`Delivering`].
    id: u64,
}

fn next_listeners_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl<K, V> Default for Listeners<K, V> {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            panics: AtomicU64::new(0),
            id: next_listeners_id(),
        }
    }
}

impl<K, V> Clone for Listeners<K, V> {
    fn clone(&self) -> Self {
        Self {
            list: self.list.clone(),
            panics: AtomicU64::new(0),
            id: next_listeners_id(),
        }
    }
}

thread_local! {
    /// The listener sets this thread is delivering events of, innermost last.
    static DELIVERING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Marks a listener set as delivering on this thread, until dropped.
struct Delivering(u64);

impl Delivering {
    /// `None` when `id` is already delivering on this thread: the event
    /// comes from a listener's own call and is not delivered again.
    fn enter(id: u64) -> Option<Self> {
        DELIVERING
            .try_with(|d| {
                let mut d = d.borrow_mut();
                if d.contains(&id) {
                    None
                } else {
                    d.push(id);
                    Some(Delivering(id))
                }
            })
            // Thread-locals are being torn down: nothing can be re-entering.
            .unwrap_or(Some(Delivering(0)))
    }
}

impl Drop for Delivering {
    fn drop(&mut self) {
        let _ = DELIVERING.try_with(|d| {
            let mut d = d.borrow_mut();
            if let Some(i) = d.iter().rposition(|&x| x == self.0) {
                d.remove(i);
            }
        });
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

    /// Delivers `event` to every listener, unless this thread is already
    /// delivering this set's events (the event then comes from a listener's
    /// own call). A panic in one listener is caught and counted, and the
    /// others still run.
    pub(crate) fn emit(&self, event: &Event<'_, K, V>) {
        let Some(_delivering) = Delivering::enter(self.id) else {
            return;
        };
        for l in &self.list {
            if catch_unwind(AssertUnwindSafe(|| l(event))).is_err() {
                self.panics.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    pub(crate) fn reset_panics(&self) {
        self.panics.store(0, Ordering::Relaxed);
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

    #[test]
    fn a_listener_emitting_on_its_own_set_is_not_called_again() {
        let calls = Arc::new(AtomicU64::new(0));
        let ls: Arc<std::sync::OnceLock<Listeners<u8, u8>>> = Arc::default();
        let mut set: Listeners<u8, u8> = Listeners::default();
        let (c, inner) = (calls.clone(), ls.clone());
        set.push(Arc::new(move |_| {
            c.fetch_add(1, Ordering::Relaxed);
            inner.get().unwrap().emit(&Event::Miss { key: None });
        }));
        assert!(ls.set(set).is_ok());
        ls.get().unwrap().emit(&Event::Miss { key: None });
        ls.get().unwrap().emit(&Event::Miss { key: None });
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }
}
