//! One placeholder for concurrent computations of a key, shared by threads
//! and tasks.
//!
//! The first caller to miss registers a [`Flight`] in the shard and becomes
//! its leader; later callers for the same key wait on it, parked (threads)
//! or pending (tasks). The leader finishes it with the value it stored, and
//! every waiter gets a clone. If the leader stored nothing (an error, a
//! `None`, a panic, a dropped future), waiters are told to retry, and the
//! first of them to get back to the shard becomes the new leader.

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::thread::Thread;

use parking_lot::Mutex;

enum Waiter {
    Thread(Thread),
    Task(Waker),
}

impl Waiter {
    fn wake(self) {
        match self {
            Waiter::Thread(t) => t.unpark(),
            Waiter::Task(w) => w.wake(),
        }
    }
}

enum State<V> {
    Running(Vec<Waiter>),
    Ready(V),
    Retry,
}

/// A small number naming the current thread, for recursion checks: one
/// thread-local read, where `thread::current()` costs two atomic operations.
pub(crate) fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|t| *t)
}

/// What the waiters of an in-flight computation park on.
pub(crate) struct Flight<V> {
    state: Mutex<State<V>>,
}

impl<V> Flight<V> {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State::Running(Vec::new())),
        }
    }

    /// Ends the flight; waiters get a clone of `value`, or retry on `None`.
    /// Wakers run after the state lock is released.
    pub(crate) fn finish(&self, value: Option<V>) {
        let next = value.map_or(State::Retry, State::Ready);
        let waiters = match std::mem::replace(&mut *self.state.lock(), next) {
            State::Running(w) => w,
            State::Ready(_) | State::Retry => Vec::new(),
        };
        for w in waiters {
            w.wake();
        }
    }
}

impl<V: Clone> Flight<V> {
    /// Blocks the current thread until the flight ends: `Some(value)`, or
    /// `None` when the caller should retry.
    pub(crate) fn wait_blocking(&self) -> Option<V> {
        let mut registered = false;
        loop {
            {
                let mut st = self.state.lock();
                match &mut *st {
                    State::Ready(v) => return Some(v.clone()),
                    State::Retry => return None,
                    State::Running(waiters) => {
                        if !registered {
                            waiters.push(Waiter::Thread(std::thread::current()));
                            registered = true;
                        }
                    }
                }
            }
            std::thread::park();
        }
    }

    /// Waits for the flight without blocking the executor.
    pub(crate) async fn wait_async(&self) -> Option<V> {
        let mut slot: Option<usize> = None;
        poll_fn(|cx| {
            let mut st = self.state.lock();
            match &mut *st {
                State::Ready(v) => Poll::Ready(Some(v.clone())),
                State::Retry => Poll::Ready(None),
                State::Running(waiters) => {
                    match slot {
                        Some(i) => match &mut waiters[i] {
                            Waiter::Task(w) if w.will_wake(cx.waker()) => {}
                            other => *other = Waiter::Task(cx.waker().clone()),
                        },
                        None => {
                            slot = Some(waiters.len());
                            waiters.push(Waiter::Task(cx.waker().clone()));
                        }
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_get_the_leaders_value() {
        let f = Arc::new(Flight::<u32>::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let f = f.clone();
                std::thread::spawn(move || f.wait_blocking())
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        f.finish(Some(7));
        for h in handles {
            assert_eq!(h.join().unwrap(), Some(7));
        }
    }

    #[test]
    fn tasks_are_told_to_retry_when_the_leader_gives_up() {
        let f = Arc::new(Flight::<u32>::new());
        let g = f.clone();
        let t = std::thread::spawn(move || futures::executor::block_on(g.wait_async()));
        std::thread::sleep(std::time::Duration::from_millis(20));
        f.finish(None);
        assert_eq!(t.join().unwrap(), None);
        // Late waiters see the final state at once.
        assert_eq!(f.wait_blocking(), None);
    }

    #[test]
    fn thread_tokens_differ_between_threads_and_stay_put() {
        let mine = thread_token();
        assert_eq!(thread_token(), mine);
        let other = std::thread::spawn(thread_token).join().unwrap();
        assert_ne!(other, mine);
    }
}
