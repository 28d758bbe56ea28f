//! Memoized functions for the latency suite: one per memoizer, all over
//! the same cheap body, so a hit measures the memoizer alone.

use std::sync::LazyLock;

use parking_lot::Mutex;

type FoldMap = hashbrown::HashMap<u64, u64, foldhash::fast::RandomState>;
type SipMap = hashbrown::HashMap<u64, u64, std::hash::RandomState>;

/// The memoized body: a few instructions, never inlined away.
#[inline(never)]
#[must_use]
pub fn body(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
}

/// `#[cached]` with its defaults (an unbounded store behind a lock).
#[cached::macros::cached]
pub fn cached_default(x: u64) -> u64 {
    body(x)
}

/// `#[cached(max_size = 4096)]`: an LRU store behind a lock.
#[cached::macros::cached(max_size = 4096)]
pub fn cached_lru(x: u64) -> u64 {
    body(x)
}

/// The `memoize` crate with its defaults (a thread-local `HashMap`).
#[memoize::memoize]
pub(crate) fn memoize_crate(x: u64) -> u64 {
    body(x)
}

/// The `memoize` crate with one cache shared by all threads.
#[memoize::memoize(SharedCache)]
pub(crate) fn memoize_crate_shared(x: u64) -> u64 {
    body(x)
}

static HAND_FOLD: LazyLock<Mutex<FoldMap>> = LazyLock::new(Mutex::default);
static HAND_SIP: LazyLock<Mutex<SipMap>> = LazyLock::new(Mutex::default);

/// A hand-written memo: `Mutex<hashbrown::HashMap>` with hashbrown's
/// default hasher (foldhash).
#[must_use]
pub fn hand_foldhash(x: u64) -> u64 {
    if let Some(&v) = HAND_FOLD.lock().get(&x) {
        return v;
    }
    let v = body(x);
    HAND_FOLD.lock().insert(x, v);
    v
}

/// The same memo with the standard library's SipHash.
#[must_use]
pub fn hand_siphash(x: u64) -> u64 {
    if let Some(&v) = HAND_SIP.lock().get(&x) {
        return v;
    }
    let v = body(x);
    HAND_SIP.lock().insert(x, v);
    v
}

/// `#[cachelite::memoize]` with its defaults.
#[cachelite::memoize]
pub fn cachelite_default(x: u64) -> u64 {
    body(x)
}

/// cachelite's `#[memoize]`, once it expands in this build.
pub const CACHELITE_MEMOIZE: Option<crate::latency::Memoizer> = Some(crate::latency::Memoizer {
    name: crate::latency::CACHELITE_MEMOIZE,
    detail: "cachelite: default (LRU, 10,000 entries, aHash, sharded)",
    call: cachelite_default,
});

/// Why [`CACHELITE_MEMOIZE`] is not measured.
pub const CACHELITE_MEMOIZE_PENDING: &str =
    "pending: `#[cachelite::memoize]` does not expand yet in this build";
