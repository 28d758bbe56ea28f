//! One placeholder for concurrent computations of a key, shared by threads
//! and tasks.
//!
//! The first caller to miss registers a [`Flight`] in the shard and becomes
//! its leader; later callers for the same key wait on it, parked (threads)
//! or pending (tasks). The leader finishes it with the value it stored, and
//! every waiter gets a clone. If the leader stored nothing (an error, a
//! `None`, a panic, a dropped future), waiters are told to retry, and the
//! first of them to get back to the shard becomes the new leader.
//!
//! # Cycles
//!
//! A leader that waits on another flight while a third caller waits on it
//! forms a wait-for chain. If such a chain would close on itself (thread A
//! computes `f(1)`, which needs `f(2)`, which thread B computes and which
//! needs `f(1)`), nobody could ever finish. Each flight has a process-wide
//! id; while a leader's computation runs (a sync closure, or each poll of
//! an async one) its id is on a thread-local stack of leaders. A caller
//! about to wait while that stack is not empty records "these leaders wait
//! on that flight" in a process-wide [`WaitFor`] table, after following
//! the chain from the flight it would wait on: if the chain reaches one of
//! its own leaders, it does not wait but computes (see [`WaitEdge`]).
//! Callers that lead nothing never touch the table (nobody can be waiting
//! on them), and hits never touch it at all.

use hashbrown::HashTable;

use crate::cache::{Cache, Insertion};
use crate::shard::Tag;
use crate::sync::{Mutex, Parker, current_parker, park, park_timeout, with_leading};
use std::borrow::Borrow;
use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::hash::{BuildHasher, Hash};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::time::Duration;

enum Waiter {
    Thread(Parker),
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
    #[cfg(test)]
    if let Some(t) = crate::sync::model_thread_token() {
        return t;
    }
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|t| *t)
}

/// A new flight id, unique in the process. Threads take ids from the
/// shared counter in blocks, so leaders on different cores do not contend.
pub(crate) fn next_flight_id() -> u64 {
    const BLOCK: u64 = 1 << 10;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    RANGE
        .try_with(|r| {
            let (mut next, mut end) = r.get();
            if next == end {
                next = NEXT.fetch_add(BLOCK, Ordering::Relaxed);
                end = next + BLOCK;
            }
            r.set((next + 1, end));
            next
        })
        .unwrap_or_else(|_| NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Marks this thread as running flight `id`'s computation, until dropped.
pub(crate) struct Leading(u64);

impl Leading {
    pub(crate) fn enter(id: u64) -> Self {
        let _ = with_leading(|l| l.borrow_mut().push(id));
        Leading(id)
    }
}

impl Drop for Leading {
    fn drop(&mut self) {
        let _ = with_leading(|l| {
            let mut l = l.borrow_mut();
            if let Some(i) = l.iter().rposition(|&x| x == self.0) {
                l.remove(i);
            }
        });
    }
}

/// Runs a leader's future with flight `id` marked as leading during each
/// of its polls, on whichever thread polls it.
pub(crate) async fn lead_async<F: Future>(id: u64, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        let _leading = Leading::enter(id);
        fut.as_mut().poll(cx)
    })
    .await
}

/// One recorded wait: the leaders `from` (one thread's, or one task's,
/// stack of leaders) wait on flight `to`.
struct Wait {
    ticket: u64,
    from: Box<[u64]>,
    to: u64,
}

/// The wait-for table: which leaders wait on which flights. Only callers
/// that lead something and must wait touch it. It never holds a cycle:
/// each wait is added only after checking that it closes none.
struct WaitFor {
    next_ticket: u64,
    waits: Vec<Wait>,
}

static WAIT_FOR: parking_lot::Mutex<WaitFor> = parking_lot::Mutex::new(WaitFor {
    next_ticket: 0,
    waits: Vec::new(),
});

impl WaitFor {
    /// Whether some chain of waits leads from flight `start` to one of `mine`.
    fn reaches(&self, start: u64, mine: &[u64]) -> bool {
        let mut seen = Vec::new();
        let mut todo = vec![start];
        while let Some(f) = todo.pop() {
            if mine.contains(&f) {
                return true;
            }
            if seen.contains(&f) {
                continue;
            }
            seen.push(f);
            todo.extend(
                self.waits
                    .iter()
                    .filter(|w| w.from.contains(&f))
                    .map(|w| w.to),
            );
        }
        false
    }
}

/// A recorded wait of this thread's (or task's) leaders on one flight,
/// removed from the table when dropped: when the wait ends, or when a
/// waiting future is dropped or a waiting thread unwinds.
pub(crate) struct WaitEdge(Option<u64>);

impl WaitEdge {
    /// Prepares to wait on `flight`. `None` when that wait would close a
    /// cycle: the flight's leader is, through a chain of waits, waiting on
    /// a computation this thread is running. The caller then must not wait.
    pub(crate) fn enter(flight: u64) -> Option<Self> {
        let mine: Vec<u64> = with_leading(|l| l.borrow().clone()).unwrap_or_default();
        if mine.is_empty() {
            // Nobody can be waiting on a caller that leads nothing.
            return Some(WaitEdge(None));
        }
        let mut table = WAIT_FOR.lock();
        if table.reaches(flight, &mine) {
            return None;
        }
        let ticket = table.next_ticket;
        table.next_ticket += 1;
        table.waits.push(Wait {
            ticket,
            from: mine.into_boxed_slice(),
            to: flight,
        });
        Some(WaitEdge(Some(ticket)))
    }
}

impl Drop for WaitEdge {
    fn drop(&mut self) {
        if let Some(ticket) = self.0 {
            let mut table = WAIT_FOR.lock();
            if let Some(i) = table.waits.iter().position(|w| w.ticket == ticket) {
                table.waits.swap_remove(i);
            }
        }
    }
}

/// The caller that computes a key: made when [`Flights::start`] registers
/// its computation. [`Leader::complete`] stores the result and hands it
/// to the waiters; dropping the guard without it (an error, a panic, a
/// cancelled future) tells them to retry, and one of them leads next.
pub(crate) struct Leader<'a, K, V, S> {
    cache: &'a Cache<K, V, S>,
    hash: u64,
    /// `None` once completed.
    key: Option<K>,
    id: u64,
}

impl<'a, K, V, S> Leader<'a, K, V, S> {
    pub(crate) fn new(cache: &'a Cache<K, V, S>, hash: u64, key: K, id: u64) -> Self {
        Self {
            cache,
            hash,
            key: Some(key),
            id,
        }
    }

    /// The computation's id, for the wait-for table.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The key being computed.
    pub(crate) fn key(&self) -> Option<&K> {
        self.key.as_ref()
    }

    /// The flight's hash, key and id, for a leader elsewhere to take it
    /// over; the flight stays open.
    pub(crate) fn disarm(mut self) -> (u64, K, u64) {
        let key = self.key.take().expect("a leader is disarmed once");
        (self.hash, key, self.id)
    }
}

impl<K, V, S> Leader<'_, K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    /// Stores what the leader computed (if anything) and ends the flight.
    pub(crate) fn complete(mut self, ins: Option<Insertion<V>>) {
        let Some(ins) = ins else {
            return; // Drop hands the key to a waiter.
        };
        let key = self.key.take().expect("a leader completes once");
        self.cache.land_flight(self.hash, self.id, key, ins);
    }
}

impl<K, V, S> Drop for Leader<'_, K, V, S> {
    fn drop(&mut self) {
        if self.key.take().is_some() {
            self.cache.abandon_flight(self.hash, self.id);
        }
    }
}

/// One in-flight computation: the key (a clone), and the flight waiters join.
struct FlightSlot<K, V> {
    hash: u64,
    key: K,
    /// Names this computation in the process, past and present.
    id: u64,
    /// The thread token of a sync leader, to catch recursion on its own key.
    leader: Option<u64>,
    /// What waiters park on; created by the first of them.
    flight: Option<Arc<Flight<V>>>,
    /// Set when the key is invalidated mid-computation: the result was
    /// computed from data older than the invalidation, so it is handed to
    /// the callers waiting for it but not stored.
    doomed: bool,
    /// Tags invalidated while this computation ran: its result is not
    /// stored if it carries any of them.
    doomed_tags: Vec<Tag>,
}

/// How a caller that missed joins the computation in flight for its key.
pub(crate) enum Joined<V> {
    /// Wait on this flight (its id names it in the wait-for table).
    Wait(Arc<Flight<V>>, u64),
    /// This very thread leads it: waiting would never end.
    Recursive,
}

/// What a computation's slot recorded while it ran, handed over when it
/// lands.
pub(crate) struct Landing<V> {
    doomed: bool,
    doomed_tags: Vec<Tag>,
    /// The flight its waiters joined, if any did.
    pub(crate) flight: Option<Arc<Flight<V>>>,
}

impl<V> Landing<V> {
    /// Whether a result carrying `tags` must stay out of the cache: its key
    /// or one of its tags was invalidated while it was computed.
    pub(crate) fn doomed(&self, tags: &[Tag]) -> bool {
        self.doomed || tags.iter().any(|t| self.doomed_tags.contains(t))
    }
}

/// A shard's table of computations in flight, with their doom flags.
pub(crate) struct Flights<K, V> {
    table: HashTable<FlightSlot<K, V>>,
}

impl<K, V> Flights<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            table: HashTable::new(),
        }
    }

    /// Whether `key` is being computed.
    pub(crate) fn is_running<Q>(&self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.table.find(hash, |s| s.key.borrow() == key).is_some()
    }

    /// Joins the computation of `key`, if one runs; `me` is a sync
    /// caller's thread token, to catch recursion. The first waiter makes
    /// the flight, so a miss nobody waits on allocates nothing.
    pub(crate) fn join<Q>(&mut self, hash: u64, key: &Q, me: Option<u64>) -> Option<Joined<V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let slot = self.table.find_mut(hash, |s| s.key.borrow() == key)?;
        if me.is_some() && slot.leader == me {
            return Some(Joined::Recursive);
        }
        let flight = slot
            .flight
            .get_or_insert_with(|| Arc::new(Flight::new()))
            .clone();
        Some(Joined::Wait(flight, slot.id))
    }

    /// Registers a computation of `key` (a clone); returns its id.
    pub(crate) fn start(&mut self, hash: u64, key: K, leader: Option<u64>) -> u64 {
        let id = next_flight_id();
        self.table.insert_unique(
            hash,
            FlightSlot {
                hash,
                key,
                id,
                leader,
                flight: None,
                doomed: false,
                doomed_tags: Vec::new(),
            },
            |s| s.hash,
        );
        id
    }

    /// Ends computation `id` and returns what it recorded.
    pub(crate) fn land(&mut self, hash: u64, id: u64) -> Landing<V> {
        match self.table.find_entry(hash, |s| s.id == id) {
            Ok(e) => {
                let slot = e.remove().0;
                Landing {
                    doomed: slot.doomed,
                    doomed_tags: slot.doomed_tags,
                    flight: slot.flight,
                }
            }
            Err(_) => Landing {
                doomed: false,
                doomed_tags: Vec::new(),
                flight: None,
            },
        }
    }

    /// Keeps the result of the computation of `key` (if any runs) out.
    pub(crate) fn doom_key<Q>(&mut self, hash: u64, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        if let Some(slot) = self.table.find_mut(hash, |s| s.key.borrow() == key) {
            slot.doomed = true;
        }
    }

    /// Keeps out the results of computations whose key satisfies `pred`.
    pub(crate) fn doom_where(&mut self, mut pred: impl FnMut(&K) -> bool) {
        for slot in &mut self.table {
            if pred(&slot.key) {
                slot.doomed = true;
            }
        }
    }

    /// Records tags invalidated while computations run: a result carrying
    /// any of them is kept out (its tags are known only when it lands).
    pub(crate) fn doom_tags<T: AsRef<str>>(&mut self, tags: &[T]) {
        for slot in &mut self.table {
            slot.doomed_tags
                .extend(tags.iter().map(|t| Tag::from(t.as_ref())));
        }
    }
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
    #[cfg(test)]
    pub(crate) fn wait_blocking(&self) -> Option<V> {
        self.wait_blocking_rechecking(None::<fn()>)
    }

    /// [`Flight::wait_blocking`], calling `recheck` whenever the flight is
    /// still running after a while (1 ms, then twice as long each time, up
    /// to 64 ms): the work the flight waits for may have become something
    /// this thread can run itself, as a refresh queued for the background
    /// refresher just after this thread last looked for it.
    pub(crate) fn wait_blocking_rechecking(&self, mut recheck: Option<impl FnMut()>) -> Option<V> {
        let mut nap = Duration::from_millis(1);
        let mut registered = false;
        loop {
            {
                let mut st = self.state.lock();
                match &mut *st {
                    State::Ready(v) => return Some(v.clone()),
                    State::Retry => return None,
                    State::Running(waiters) => {
                        if !registered {
                            waiters.push(Waiter::Thread(current_parker()));
                            registered = true;
                        }
                    }
                }
            }
            match &mut recheck {
                None => park(),
                Some(recheck) => {
                    park_timeout(nap);
                    nap = (nap * 2).min(Duration::from_millis(64));
                    recheck();
                }
            }
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
    fn a_waiter_that_rechecks_can_end_the_flight_itself() {
        // Nobody else will finish this flight: only the waiter's own
        // recheck can (as when it finds the refresh it waits for queued
        // and runs it), so a waiter that never rechecked would hang.
        let f = Flight::<u32>::new();
        let mut looks = 0;
        let got = f.wait_blocking_rechecking(Some(|| {
            looks += 1;
            if looks == 3 {
                f.finish(Some(9));
            }
        }));
        assert_eq!(got, Some(9));
        assert_eq!(looks, 3);
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
    fn flight_ids_are_unique_across_threads() {
        let mut ids: Vec<u64> = (0..3000).map(|_| next_flight_id()).collect();
        let other = std::thread::spawn(|| (0..3000).map(|_| next_flight_id()).collect::<Vec<_>>());
        ids.extend(other.join().unwrap());
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn a_wait_that_closes_a_chain_is_refused_and_edges_go_when_dropped() {
        let (a, b, c) = (next_flight_id(), next_flight_id(), next_flight_id());
        // Not leading anything: no record, never refused.
        assert!(matches!(WaitEdge::enter(a), Some(WaitEdge(None))));
        let ab = {
            let _leading = Leading::enter(a);
            WaitEdge::enter(b).expect("a waits on b: no cycle")
        };
        let bc = {
            let _leading = Leading::enter(b);
            WaitEdge::enter(c).expect("b waits on c: no cycle")
        };
        {
            let _leading = Leading::enter(c);
            assert!(WaitEdge::enter(a).is_none(), "c -> a -> b -> c");
            assert!(WaitEdge::enter(c).is_none(), "c waits on itself");
        }
        drop(ab);
        {
            let _leading = Leading::enter(c);
            let ca = WaitEdge::enter(a).expect("a no longer waits on b");
            drop(ca);
        }
        drop(bc);
        let _leading = Leading::enter(next_flight_id());
        assert_eq!(with_leading(|l| l.borrow().len()), Some(1));
    }

    #[test]
    fn thread_tokens_differ_between_threads_and_stay_put() {
        let mine = thread_token();
        assert_eq!(thread_token(), mine);
        let other = std::thread::spawn(thread_token).join().unwrap();
        assert_ne!(other, mine);
    }
}
