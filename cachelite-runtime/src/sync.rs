//! The locks the shards are built from, and the condition variable and
//! threads of the background refresher.
//!
//! `ShardLock` is a read-mostly lock: on machines with many hardware
//! threads, one whose readers write only their own stripe of it
//! (crossbeam's `ShardedLock`), so readers of one shard on different cores
//! share no written cache line; on small ones, parking_lot's `RwLock`,
//! whose writers are cheaper. `Mutex` is parking_lot's.
//!
//! Test builds swap in model-checkable twins: a lock made while a shuttle
//! test is running is shuttle's, so the model checker explores every
//! interleaving of the engine's own lock operations; any other lock is the
//! real one. Release builds use the real locks directly.

pub(crate) use imp::*;

/// Keeps its contents on their own cache lines.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(not(test))]
mod imp {
    use std::sync::PoisonError;

    pub(crate) use parking_lot::{Mutex, MutexGuard};
    pub(crate) use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64};

    /// A condition variable over [`Mutex`]'s guards.
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(parking_lot::Condvar::new())
        }

        /// Releases `guard` until notified or `timeout` has passed, and
        /// relocks; `true` if it timed out. `_mutex` is `guard`'s (the
        /// model-checked twin relocks it).
        #[inline]
        pub(crate) fn wait_for<'a, T>(
            &self,
            _mutex: &'a Mutex<T>,
            mut guard: MutexGuard<'a, T>,
            timeout: std::time::Duration,
        ) -> (MutexGuard<'a, T>, bool) {
            let timed_out = self.0.wait_for(&mut guard, timeout).timed_out();
            (guard, timed_out)
        }

        #[inline]
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
    }

    /// Starts a detached thread named `name` running `f`.
    pub(crate) fn spawn_named(
        name: &str,
        f: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map(drop)
    }

    /// Runs `f`; in test builds, with every lock it makes a real one.
    #[inline]
    pub(crate) fn unmodelled<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    /// What a blocked waiter is woken through.
    pub(crate) type Parker = std::thread::Thread;

    #[inline]
    pub(crate) fn current_parker() -> Parker {
        std::thread::current()
    }

    #[inline]
    pub(crate) fn park() {
        std::thread::park();
    }

    #[inline]
    pub(crate) fn park_timeout(d: std::time::Duration) {
        std::thread::park_timeout(d);
    }

    /// Runs `f` on this thread's list of the flights it leads.
    #[inline]
    pub(crate) fn with_leading<R>(f: impl FnOnce(&std::cell::RefCell<Vec<u64>>) -> R) -> Option<R> {
        thread_local! {
            static LEADING: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        LEADING.try_with(f).ok()
    }

    /// A read-mostly lock, of one of two kinds, chosen once per process by
    /// the number of hardware threads.
    ///
    /// A plain read-write lock costs a reader one shared counter: cheap on
    /// a few cores, a bottleneck on many, where every read writes the same
    /// cache line. A striped lock (crossbeam's `ShardedLock`) gives each
    /// reader a stripe of its own and so scales with cores, but a writer
    /// takes every stripe, which on a small machine more than doubles the
    /// cost of inserts (measured in the lab's concurrency suite). So small
    /// machines get the plain lock and large ones the striped one.
    pub(crate) enum ShardLock<T> {
        Plain(parking_lot::RwLock<T>),
        Striped(crossbeam_utils::sync::ShardedLock<T>),
    }

    pub(crate) enum ReadGuard<'a, T> {
        Plain(parking_lot::RwLockReadGuard<'a, T>),
        Striped(crossbeam_utils::sync::ShardedLockReadGuard<'a, T>),
    }

    pub(crate) enum WriteGuard<'a, T> {
        Plain(parking_lot::RwLockWriteGuard<'a, T>),
        Striped(crossbeam_utils::sync::ShardedLockWriteGuard<'a, T>),
    }

    /// From this many hardware threads on, shards use the striped lock.
    const STRIPED_FROM: usize = 8;

    fn striped_by_default() -> bool {
        static STRIPED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *STRIPED.get_or_init(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
                >= STRIPED_FROM
        })
    }

    impl<T> ShardLock<T> {
        /// `striped`: `Some` to choose, `None` for this machine's default.
        pub(crate) fn new(value: T, striped: Option<bool>) -> Self {
            if striped.unwrap_or_else(striped_by_default) {
                Self::Striped(crossbeam_utils::sync::ShardedLock::new(value))
            } else {
                Self::Plain(parking_lot::RwLock::new(value))
            }
        }

        /// Poisoning is ignored: no user code runs under the lock.
        #[inline]
        pub(crate) fn read(&self) -> ReadGuard<'_, T> {
            match self {
                Self::Plain(l) => ReadGuard::Plain(l.read()),
                Self::Striped(l) => {
                    ReadGuard::Striped(l.read().unwrap_or_else(PoisonError::into_inner))
                }
            }
        }

        #[inline]
        pub(crate) fn write(&self) -> WriteGuard<'_, T> {
            match self {
                Self::Plain(l) => WriteGuard::Plain(l.write()),
                Self::Striped(l) => {
                    WriteGuard::Striped(l.write().unwrap_or_else(PoisonError::into_inner))
                }
            }
        }
    }

    impl<T> std::ops::Deref for ReadGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            match self {
                Self::Plain(g) => g,
                Self::Striped(g) => g,
            }
        }
    }

    impl<T> std::ops::Deref for WriteGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            match self {
                Self::Plain(g) => g,
                Self::Striped(g) => g,
            }
        }
    }

    impl<T> std::ops::DerefMut for WriteGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            match self {
                Self::Plain(g) => g,
                Self::Striped(g) => g,
            }
        }
    }
}

#[cfg(test)]
mod imp {
    //! Each lock is either the real one or shuttle's, chosen when it is
    //! made (see [`model_checked`]).
    use std::cell::Cell;
    use std::ops::{Deref, DerefMut};
    use std::sync::PoisonError;

    thread_local! {
        static MODEL: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `f` with every lock it makes being shuttle's. Shuttle runs its
    /// threads as coroutines on the calling thread, so they see the flag.
    pub(crate) fn model_checked<R>(f: impl FnOnce() -> R) -> R {
        let before = MODEL.with(|m| m.replace(true));
        let out = f();
        MODEL.with(|m| m.set(before));
        out
    }

    /// Runs `f` with every lock it makes a real one, as for a pool that
    /// outlives the model-checked test that happened to start it.
    pub(crate) fn unmodelled<R>(f: impl FnOnce() -> R) -> R {
        let before = MODEL.with(|m| m.replace(false));
        let out = f();
        MODEL.with(|m| m.set(before));
        out
    }

    fn modelled() -> bool {
        MODEL.with(Cell::get)
    }

    macro_rules! dual_atomic {
        ($name:ident, $int:ty) => {
            pub(crate) enum $name {
                Real(std::sync::atomic::$name),
                Model(shuttle::sync::atomic::$name),
            }

            #[allow(dead_code, reason = "each width uses a subset")]
            impl $name {
                pub(crate) fn new(v: $int) -> Self {
                    if modelled() {
                        Self::Model(shuttle::sync::atomic::$name::new(v))
                    } else {
                        Self::Real(std::sync::atomic::$name::new(v))
                    }
                }

                pub(crate) fn load(&self, o: Ordering) -> $int {
                    match self {
                        Self::Real(a) => a.load(o),
                        Self::Model(a) => a.load(o),
                    }
                }

                pub(crate) fn store(&self, v: $int, o: Ordering) {
                    match self {
                        Self::Real(a) => a.store(v, o),
                        Self::Model(a) => a.store(v, o),
                    }
                }

                pub(crate) fn swap(&self, v: $int, o: Ordering) -> $int {
                    match self {
                        Self::Real(a) => a.swap(v, o),
                        Self::Model(a) => a.swap(v, o),
                    }
                }

                pub(crate) fn fetch_add(&self, v: $int, o: Ordering) -> $int {
                    match self {
                        Self::Real(a) => a.fetch_add(v, o),
                        Self::Model(a) => a.fetch_add(v, o),
                    }
                }

                pub(crate) fn get_mut(&mut self) -> &mut $int {
                    match self {
                        Self::Real(a) => a.get_mut(),
                        Self::Model(a) => a.get_mut(),
                    }
                }
            }
        };
    }

    use std::sync::atomic::Ordering;
    dual_atomic!(AtomicU32, u32);
    dual_atomic!(AtomicU64, u64);
    dual_atomic!(AtomicU8, u8);

    pub(crate) enum Parker {
        Real(std::thread::Thread),
        Model(shuttle::thread::Thread),
    }

    impl Parker {
        pub(crate) fn unpark(&self) {
            match self {
                Self::Real(t) => t.unpark(),
                Self::Model(t) => t.unpark(),
            }
        }
    }

    pub(crate) fn current_parker() -> Parker {
        if modelled() {
            Parker::Model(shuttle::thread::current())
        } else {
            Parker::Real(std::thread::current())
        }
    }

    pub(crate) fn park() {
        if modelled() {
            shuttle::thread::park();
        } else {
            std::thread::park();
        }
    }

    pub(crate) fn park_timeout(d: std::time::Duration) {
        if modelled() {
            shuttle::thread::park_timeout(d);
        } else {
            std::thread::park_timeout(d);
        }
    }

    /// Runs `f` on this thread's list of the flights it leads (per
    /// shuttle thread inside a shuttle test).
    pub(crate) fn with_leading<R>(f: impl FnOnce(&std::cell::RefCell<Vec<u64>>) -> R) -> Option<R> {
        use std::cell::RefCell;
        thread_local! {
            static LEADING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
        }
        shuttle::thread_local! {
            static MODEL_LEADING: RefCell<Vec<u64>> = RefCell::new(Vec::new());
        }
        if modelled() {
            Some(MODEL_LEADING.with(f))
        } else {
            LEADING.try_with(f).ok()
        }
    }

    /// Inside a shuttle test, a token per shuttle thread (they all share
    /// one OS thread, and so its thread-locals).
    pub(crate) fn model_thread_token() -> Option<u64> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1 << 40);
        shuttle::thread_local! {
            static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        modelled().then(|| TOKEN.with(|t| *t))
    }

    pub(crate) enum Mutex<T> {
        Real(parking_lot::Mutex<T>),
        Model(shuttle::sync::Mutex<T>),
    }

    pub(crate) enum MutexGuard<'a, T> {
        Real(parking_lot::MutexGuard<'a, T>),
        Model(shuttle::sync::MutexGuard<'a, T>),
    }

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            if modelled() {
                Self::Model(shuttle::sync::Mutex::new(value))
            } else {
                Self::Real(parking_lot::Mutex::new(value))
            }
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            match self {
                Self::Real(m) => MutexGuard::Real(m.lock()),
                Self::Model(m) => {
                    MutexGuard::Model(m.lock().unwrap_or_else(PoisonError::into_inner))
                }
            }
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            match self {
                Self::Real(m) => m.try_lock().map(MutexGuard::Real),
                Self::Model(m) => m.try_lock().ok().map(MutexGuard::Model),
            }
        }

        pub(crate) fn get_mut(&mut self) -> &mut T {
            match self {
                Self::Real(m) => m.get_mut(),
                Self::Model(m) => m.get_mut().unwrap_or_else(PoisonError::into_inner),
            }
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            match self {
                Self::Real(g) => g,
                Self::Model(g) => g,
            }
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            match self {
                Self::Real(g) => &mut *g,
                Self::Model(g) => &mut *g,
            }
        }
    }

    pub(crate) enum Condvar {
        Real(parking_lot::Condvar),
        Model(shuttle::sync::Condvar),
    }

    impl Condvar {
        pub(crate) fn new() -> Self {
            if modelled() {
                Self::Model(shuttle::sync::Condvar::new())
            } else {
                Self::Real(parking_lot::Condvar::new())
            }
        }

        /// Releases `guard` until notified or `timeout` has passed, and
        /// relocks `mutex` (`guard`'s); `true` if it timed out.
        ///
        /// Shuttle's own timed wait never times out, so the model chooses
        /// (as the scheduler's data, replayable) between a wait that ends
        /// only when notified and a timeout that fires at once: the lock is
        /// released, other threads may run, and the waiter relocks. A test
        /// whose threads must all finish wakes the waiters left at its end
        /// until they time out.
        pub(crate) fn wait_for<'a, T>(
            &self,
            mutex: &'a Mutex<T>,
            guard: MutexGuard<'a, T>,
            timeout: std::time::Duration,
        ) -> (MutexGuard<'a, T>, bool) {
            match (self, guard) {
                (Self::Real(cv), MutexGuard::Real(mut g)) => {
                    let timed_out = cv.wait_for(&mut g, timeout).timed_out();
                    (MutexGuard::Real(g), timed_out)
                }
                (Self::Model(cv), MutexGuard::Model(g)) => {
                    use shuttle::rand::RngCore;
                    if shuttle::rand::thread_rng().next_u64() & 1 == 0 {
                        let g = cv.wait(g).unwrap_or_else(PoisonError::into_inner);
                        (MutexGuard::Model(g), false)
                    } else {
                        drop(g);
                        shuttle::thread::yield_now();
                        (mutex.lock(), true)
                    }
                }
                _ => unreachable!("a condvar waits with a lock of its own kind"),
            }
        }

        pub(crate) fn notify_one(&self) {
            match self {
                Self::Real(cv) => {
                    cv.notify_one();
                }
                Self::Model(cv) => cv.notify_one(),
            }
        }
    }

    /// Starts a detached thread named `name` running `f`: a shuttle
    /// thread inside a model-checked test.
    pub(crate) fn spawn_named(
        name: &str,
        f: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<()> {
        if modelled() {
            shuttle::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map(drop)
        } else {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map(drop)
        }
    }

    pub(crate) enum ShardLock<T> {
        Real(crossbeam_utils::sync::ShardedLock<T>),
        Model(shuttle::sync::RwLock<T>),
    }

    pub(crate) enum ReadGuard<'a, T> {
        Real(crossbeam_utils::sync::ShardedLockReadGuard<'a, T>),
        Model(shuttle::sync::RwLockReadGuard<'a, T>),
    }

    pub(crate) enum WriteGuard<'a, T> {
        Real(crossbeam_utils::sync::ShardedLockWriteGuard<'a, T>),
        Model(shuttle::sync::RwLockWriteGuard<'a, T>),
    }

    impl<T> ShardLock<T> {
        /// Test builds model the lock as one kind; the real one is striped.
        pub(crate) fn new(value: T, _striped: Option<bool>) -> Self {
            if modelled() {
                Self::Model(shuttle::sync::RwLock::new(value))
            } else {
                Self::Real(crossbeam_utils::sync::ShardedLock::new(value))
            }
        }

        pub(crate) fn read(&self) -> ReadGuard<'_, T> {
            match self {
                Self::Real(l) => ReadGuard::Real(l.read().unwrap_or_else(PoisonError::into_inner)),
                Self::Model(l) => {
                    ReadGuard::Model(l.read().unwrap_or_else(PoisonError::into_inner))
                }
            }
        }

        pub(crate) fn write(&self) -> WriteGuard<'_, T> {
            match self {
                Self::Real(l) => {
                    WriteGuard::Real(l.write().unwrap_or_else(PoisonError::into_inner))
                }
                Self::Model(l) => {
                    WriteGuard::Model(l.write().unwrap_or_else(PoisonError::into_inner))
                }
            }
        }
    }

    impl<T> Deref for ReadGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            match self {
                Self::Real(g) => g,
                Self::Model(g) => g,
            }
        }
    }

    impl<T> Deref for WriteGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            match self {
                Self::Real(g) => g,
                Self::Model(g) => g,
            }
        }
    }

    impl<T> DerefMut for WriteGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            match self {
                Self::Real(g) => &mut *g,
                Self::Model(g) => &mut *g,
            }
        }
    }
}
