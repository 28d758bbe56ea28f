//! Counters: [`Cache::incr`] and [`Cache::decr`], atomic read-modify-write
//! of an integer value under its shard's lock.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

use crate::cache::{Cache, Insertion};
use crate::events::{Event, RemovalCause};
use crate::shard::{Evicted, Removed};

/// Why [`Cache::incr`] or [`Cache::decr`] changed nothing.
///
/// ```
/// use cachelite_runtime::{Cache, CounterError};
///
/// let cache: Cache<&str, String> = Cache::new(10);
/// cache.insert("name", "ada".to_string());
/// assert_eq!(cache.incr("name", 1, None), Err(CounterError::NotAnInteger));
/// assert_eq!(cache.get("name").as_deref(), Some("ada"), "left as it was");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CounterError {
    /// The key holds a value that is not an integer (a string that does
    /// not parse as one).
    NotAnInteger,
    /// The result (or the value held) does not fit the value type, or
    /// lies outside `i64`.
    OutOfRange,
    /// The new counter alone outweighs the cache's byte budget, so it was
    /// not stored.
    Rejected,
}

impl fmt::Display for CounterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CounterError::NotAnInteger => {
                "the value is not an integer: counters work on integer values \
                 (integer types, or strings holding a decimal i64)"
            }
            CounterError::OutOfRange => {
                "the counter would leave the range of its value type (or of i64)"
            }
            CounterError::Rejected => "the counter alone outweighs the cache's byte budget",
        })
    }
}

impl std::error::Error for CounterError {}

mod sealed {
    pub trait Sealed {}
}

/// A value type that [`Cache::incr`] can count in: the integer types, and
/// strings holding a decimal integer (`String`, `Box<str>`, `Arc<str>`, as
/// Redis keeps its counters). Sealed: its conversions run under a shard
/// lock, where no user code may run.
///
/// ```
/// use cachelite_runtime::CounterValue;
///
/// assert_eq!(String::from("41").to_count(), Ok(41));
/// assert_eq!(u8::from_count(256).is_err(), true);
/// ```
pub trait CounterValue: sealed::Sealed + Sized {
    /// The count this value holds, or why it holds none.
    ///
    /// # Errors
    /// [`CounterError::NotAnInteger`] for a string that is not a decimal
    /// integer; [`CounterError::OutOfRange`] for one beyond `i64`.
    ///
    /// ```
    /// use cachelite_runtime::{CounterError, CounterValue};
    /// assert_eq!(7u32.to_count(), Ok(7));
    /// assert_eq!(String::from("x").to_count(), Err(CounterError::NotAnInteger));
    /// ```
    fn to_count(&self) -> Result<i64, CounterError>;

    /// The value that holds count `n`.
    ///
    /// # Errors
    /// [`CounterError::OutOfRange`] when the type cannot hold `n`.
    ///
    /// ```
    /// use cachelite_runtime::{CounterError, CounterValue};
    /// assert_eq!(u8::from_count(-1), Err(CounterError::OutOfRange));
    /// assert_eq!(i16::from_count(-1), Ok(-1));
    /// ```
    fn from_count(n: i64) -> Result<Self, CounterError>;
}

macro_rules! integer_counters {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl CounterValue for $t {
            fn to_count(&self) -> Result<i64, CounterError> {
                i64::try_from(*self).map_err(|_| CounterError::OutOfRange)
            }
            fn from_count(n: i64) -> Result<Self, CounterError> {
                <$t>::try_from(n).map_err(|_| CounterError::OutOfRange)
            }
        }
    )*};
}

integer_counters!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

fn parse_count(s: &str) -> Result<i64, CounterError> {
    use std::num::IntErrorKind;
    s.parse::<i64>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => CounterError::OutOfRange,
        _ => CounterError::NotAnInteger,
    })
}

macro_rules! string_counters {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl CounterValue for $t {
            fn to_count(&self) -> Result<i64, CounterError> {
                parse_count(self)
            }
            fn from_count(n: i64) -> Result<Self, CounterError> {
                Ok(n.to_string().into())
            }
        }
    )*};
}

string_counters!(String, Box<str>, Arc<str>);

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone + CounterValue,
    S: BuildHasher,
{
    /// Adds `delta` to the counter at `key` and returns its new count, in
    /// one step under the key's shard lock: concurrent increments never
    /// lose one. A missing (or expired) key starts at `delta`, expiring
    /// `ttl_on_create` from now (`None`: the cache's default TTL); later
    /// increments keep that deadline, so a counter counts over a fixed
    /// window, the rate-limiting recipe.
    ///
    /// An increment is an insert for stats, listeners (an `Inserted` event,
    /// the old value `Removed` as replaced) and the policy (an access). The
    /// counter keeps the weight it was created with.
    ///
    /// # Errors
    /// [`CounterError::NotAnInteger`] if the key holds a value that is not
    /// an integer, [`CounterError::OutOfRange`] if the count would leave
    /// the value type (or `i64`), [`CounterError::Rejected`] if the new
    /// counter alone outweighs the byte budget. The entry is then left as
    /// it was.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, ManualClock};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let hits: Cache<String, u64> = Cache::builder().clock(clock.clone()).build();
    /// let allowed = |user: &str| {
    ///     hits.incr(format!("ratelimit:{user}"), 1, Duration::from_secs(60)).unwrap() <= 2
    /// };
    /// assert!(allowed("u1") && allowed("u1"));
    /// assert!(!allowed("u1"), "a third call inside the minute");
    /// clock.advance(Duration::from_secs(60));
    /// assert!(allowed("u1"), "a new window");
    /// ```
    pub fn incr(
        &self,
        key: K,
        delta: i64,
        ttl_on_create: impl Into<Option<Duration>>,
    ) -> Result<i64, CounterError> {
        let hash = self.hash(&key);
        let created = V::from_count(delta)?;
        let ins = match ttl_on_create.into() {
            Some(ttl) => Insertion::new(created).with_ttl(ttl),
            None => Insertion::new(created),
        };
        // Weighed and given its deadline before the lock: the weigher is
        // user code.
        let item = self.item(hash, key, ins);
        let mut count = delta;
        let mut evicted = Evicted::new();
        let (key, replaced) = {
            let mut g = self.shard(hash).write();
            let updated = g.update_fresh(
                hash,
                &item.key,
                |d| self.inner.clock.now_near(d),
                |old| {
                    count = old
                        .to_count()?
                        .checked_add(delta)
                        .ok_or(CounterError::OutOfRange)?;
                    V::from_count(count)
                },
                &mut evicted,
            );
            match updated {
                Some(Ok(old)) => (item.key, Some(old)),
                Some(Err(e)) => {
                    drop(g);
                    self.finish(evicted);
                    return Err(e);
                }
                None => {
                    let listen = !self.inner.listeners.is_empty();
                    let key = listen.then(|| item.key.clone());
                    let stored = self.store_locked(&mut g, item, &mut evicted);
                    drop(g);
                    if stored.is_err() {
                        self.finish(evicted);
                        return Err(CounterError::Rejected);
                    }
                    if let Some(k) = key {
                        self.report_counted(&k, count);
                    }
                    self.finish(evicted);
                    return Ok(count);
                }
            }
        };
        if !self.inner.listeners.is_empty() {
            self.report_counted(&key, count);
        }
        if let Some(old) = replaced {
            evicted.push(Removed {
                key,
                value: old,
                cause: RemovalCause::Replaced,
            });
        }
        self.finish(evicted);
        Ok(count)
    }

    /// Subtracts `delta` from the counter at `key`: [`Cache::incr`] with
    /// `-delta`, the same atomicity, TTL rule and errors.
    ///
    /// # Errors
    /// As [`Cache::incr`]; also [`CounterError::OutOfRange`] for a `delta`
    /// of `i64::MIN`, whose negation does not exist.
    ///
    /// ```
    /// use cachelite_runtime::Cache;
    ///
    /// let stock: Cache<&str, i32> = Cache::new(100);
    /// stock.insert("widgets", 10);
    /// assert_eq!(stock.decr("widgets", 3, None), Ok(7));
    /// assert_eq!(stock.decr("gadgets", 1, None), Ok(-1), "starts from zero");
    /// ```
    pub fn decr(
        &self,
        key: K,
        delta: i64,
        ttl_on_create: impl Into<Option<Duration>>,
    ) -> Result<i64, CounterError> {
        let delta = delta.checked_neg().ok_or(CounterError::OutOfRange)?;
        self.incr(key, delta, ttl_on_create)
    }

    /// Tells listeners of the value a counter now holds.
    fn report_counted(&self, key: &K, count: i64) {
        if let Ok(value) = V::from_count(count) {
            self.inner
                .listeners
                .emit(&Event::Inserted { key, value: &value });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[test]
    fn every_integer_type_and_string_form_counts() {
        assert_eq!(u64::MAX.to_count(), Err(CounterError::OutOfRange));
        assert_eq!(i128::from_count(-5), Ok(-5));
        assert_eq!(usize::from_count(-5), Err(CounterError::OutOfRange));
        assert_eq!(Box::<str>::from("-12").to_count(), Ok(-12));
        assert_eq!(Arc::<str>::from("+3").to_count(), Ok(3));
        assert_eq!(
            String::from("99999999999999999999").to_count(),
            Err(CounterError::OutOfRange)
        );
        assert_eq!(
            String::from("1.5").to_count(),
            Err(CounterError::NotAnInteger)
        );
        assert_eq!(
            String::from(" 1").to_count(),
            Err(CounterError::NotAnInteger)
        );
        assert_eq!(String::from_count(-7).as_deref(), Ok("-7"));
    }

    #[test]
    fn an_increment_past_the_type_leaves_the_counter_alone() {
        let c: Cache<u8, u8> = Cache::new(10);
        assert_eq!(c.incr(1, 250, None), Ok(250));
        assert_eq!(c.incr(1, 10, None), Err(CounterError::OutOfRange));
        assert_eq!(c.get(&1), Some(250));
        assert_eq!(c.decr(1, i64::MIN, None), Err(CounterError::OutOfRange));
    }

    #[test]
    fn a_stale_counter_restarts_instead_of_being_served() {
        let clock = ManualClock::new();
        let c: Cache<u8, i64> = Cache::builder()
            .clock(clock.clone())
            .stale_ttl(Duration::from_secs(100))
            .build();
        assert_eq!(c.incr(1, 5, Duration::from_secs(10)), Ok(5));
        clock.advance(Duration::from_secs(10));
        assert_eq!(c.incr(1, 1, Duration::from_secs(10)), Ok(1));
        assert_eq!(c.stats().expirations, 1);
    }
}
