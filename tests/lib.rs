//! Helpers shared by cachelite's integration tests, which live in this
//! crate's `[[test]]` targets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Counts executions of a memoized body.
///
/// ```
/// static RUNS: cachelite_tests::Runs = cachelite_tests::Runs::new();
/// assert_eq!(RUNS.bump(), 1);
/// assert_eq!(RUNS.get(), 1);
/// ```
pub struct Runs(AtomicUsize);

impl Runs {
    /// A counter at zero.
    #[must_use]
    pub const fn new() -> Self {
        Runs(AtomicUsize::new(0))
    }

    /// Counts one more run; returns the new count.
    pub fn bump(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The runs so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Default for Runs {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `f` on its own thread and fails if it does not finish within
/// `secs`: a deadlock shows up as a failure, not a hung test run.
///
/// ```
/// assert_eq!(cachelite_tests::within(5, || 2 + 2), 4);
/// ```
///
/// # Panics
/// If `f` panics (the panic is passed on) or takes longer than `secs`.
pub fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => {
            handle
                .join()
                .expect("the thread sent its result, then panicked");
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the closure neither returned nor panicked"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish in {secs}s: deadlock?"),
    }
}
