//! A global allocator that forwards to [`System`] and, while switched on,
//! keeps a running total of live heap bytes.
//!
//! Counting is off by default so the timing suites pay one relaxed load per
//! allocation and nothing more.

#![allow(unsafe_code, reason = "implementing GlobalAlloc requires it")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The lab's global allocator.
#[derive(Debug)]
pub struct CountingAlloc;

#[inline]
fn add(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_add(bytes.cast_signed(), Ordering::Relaxed);
    }
}

#[inline]
fn sub(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_sub(bytes.cast_signed(), Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counters never influence what is returned.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        sub(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            sub(layout.size());
            add(new_size);
        }
        p
    }
}

/// Live bytes allocated (minus freed) while counting was on.
#[must_use]
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::SeqCst)
}

/// Switches counting on until the guard is dropped. Only one measurement
/// should be in progress at a time; the memory suite runs them in turn.
#[must_use = "counting stops when the guard is dropped"]
pub fn counting() -> CountingGuard {
    COUNTING.store(true, Ordering::SeqCst);
    CountingGuard(())
}

/// Keeps counting on while alive.
#[derive(Debug)]
pub struct CountingGuard(());

impl Drop for CountingGuard {
    fn drop(&mut self) {
        COUNTING.store(false, Ordering::SeqCst);
    }
}
