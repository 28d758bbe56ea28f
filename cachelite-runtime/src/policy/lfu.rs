//! Least frequently used with O(1) frequency buckets.
//!
//! Buckets form a list ordered by access count; each bucket holds its
//! entries in the order they reached that count. The head bucket is the
//! live minimum, and the victim is the oldest entry in it: the one that has
//! held the lowest count the longest.

use super::EvictionPolicy;
use crate::slab::{Links, List, NIL, Slab};

struct Bucket {
    freq: u64,
    members: List,
    prev: u32,
    next: u32,
}

pub(crate) struct Lfu {
    buckets: Slab<Bucket>,
    /// Lowest-frequency bucket first.
    first: u32,
    /// Highest-frequency bucket, where restores in ascending order append.
    last: u32,
    /// Entry slot -> bucket.
    bucket_of: Vec<u32>,
    links: Links,
}

impl Lfu {
    fn new_bucket_after(&mut self, after: u32, freq: u64) -> u32 {
        let next = if after == NIL {
            self.first
        } else {
            self.buckets.get(after).next
        };
        let b = self.buckets.insert(Bucket {
            freq,
            members: List::EMPTY,
            prev: after,
            next,
        });
        if after == NIL {
            self.first = b;
        } else {
            self.buckets.get_mut(after).next = b;
        }
        if next == NIL {
            self.last = b;
        } else {
            self.buckets.get_mut(next).prev = b;
        }
        b
    }

    fn unlink_from_bucket(&mut self, idx: u32, b: u32) {
        let bucket = self.buckets.get_mut(b);
        self.links.unlink(&mut bucket.members, idx);
        if bucket.members.is_empty() {
            let (prev, next) = (bucket.prev, bucket.next);
            self.buckets.remove(b);
            if prev == NIL {
                self.first = next;
            } else {
                self.buckets.get_mut(prev).next = next;
            }
            if next == NIL {
                self.last = prev;
            } else {
                self.buckets.get_mut(next).prev = prev;
            }
        }
    }

    fn place(&mut self, idx: u32, b: u32) {
        let i = idx as usize;
        if self.bucket_of.len() <= i {
            self.bucket_of.resize(i + 1, NIL);
        }
        self.bucket_of[i] = b;
        let bucket = self.buckets.get_mut(b);
        self.links.push_back(&mut bucket.members, idx);
    }

    /// The access count of a live slot (1 after insertion).
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "only snapshots use it")
    )]
    pub(crate) fn frequency(&self, idx: u32) -> u64 {
        self.buckets.get(self.bucket_of[idx as usize]).freq
    }

    /// Places a new slot with access count `freq` (0 counts as 1), as the
    /// newest entry at that count. The bucket is found by walking down from
    /// the highest one, so inserting in ascending frequency order (as a
    /// snapshot restore does) is O(1); in general it is O(number of
    /// distinct counts above `freq`).
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "only snapshots use it")
    )]
    pub(crate) fn on_insert_with_frequency(&mut self, idx: u32, freq: u64) {
        let freq = freq.max(1);
        let mut at = self.last;
        while at != NIL && self.buckets.get(at).freq > freq {
            at = self.buckets.get(at).prev;
        }
        let b = if at != NIL && self.buckets.get(at).freq == freq {
            at
        } else {
            self.new_bucket_after(at, freq)
        };
        self.place(idx, b);
    }

    /// Moves a live slot to access count `freq`, as the newest entry there.
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "only snapshots use it")
    )]
    pub(crate) fn set_frequency(&mut self, idx: u32, freq: u64) {
        self.on_remove(idx);
        self.on_insert_with_frequency(idx, freq);
    }
}

impl EvictionPolicy for Lfu {
    fn on_insert(&mut self, idx: u32, _hash: u64) {
        let b = if self.first != NIL && self.buckets.get(self.first).freq == 1 {
            self.first
        } else {
            self.new_bucket_after(NIL, 1)
        };
        self.place(idx, b);
    }

    fn on_access(&mut self, idx: u32) {
        let b = self.bucket_of[idx as usize];
        let (freq, next) = {
            let bucket = self.buckets.get(b);
            (bucket.freq, bucket.next)
        };
        let Some(want) = freq.checked_add(1) else {
            // Saturated: stay in the top bucket, but count as the newest there.
            let bucket = self.buckets.get_mut(b);
            self.links.move_to_back(&mut bucket.members, idx);
            return;
        };
        let target = if next != NIL && self.buckets.get(next).freq == want {
            next
        } else {
            self.new_bucket_after(b, want)
        };
        self.unlink_from_bucket(idx, b);
        self.place(idx, target);
    }

    fn on_remove(&mut self, idx: u32) {
        let b = std::mem::replace(&mut self.bucket_of[idx as usize], NIL);
        self.unlink_from_bucket(idx, b);
    }

    fn victim(&mut self) -> Option<u32> {
        (self.first != NIL).then(|| self.buckets.get(self.first).members.head)
    }

    fn clear(&mut self) {
        *self = Self::default();
    }

    fn eviction_order(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut b = self.first;
        while b != NIL {
            let bucket = self.buckets.get(b);
            out.extend(self.links.iter(&bucket.members));
            b = bucket.next;
        }
        out
    }
}

impl Default for Lfu {
    fn default() -> Self {
        Self {
            buckets: Slab::default(),
            first: NIL,
            last: NIL,
            bucket_of: Vec::new(),
            links: Links::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_lowest_count_oldest_first() {
        let mut p = Lfu::default();
        for i in 0..4 {
            p.on_insert(i, 0);
        }
        p.on_access(0);
        p.on_access(0);
        p.on_access(2);
        // counts: 0->3, 1->1, 2->2, 3->1
        assert_eq!(p.victim(), Some(1));
        assert_eq!(p.eviction_order(), [1, 3, 2, 0]);
        p.on_remove(1);
        p.on_remove(3);
        assert_eq!(p.victim(), Some(2));
        assert_eq!(p.frequency(2), 2);
        p.on_insert(5, 0);
        assert_eq!(p.victim(), Some(5), "a fresh entry has the live minimum");
    }

    #[test]
    fn ties_go_to_the_entry_that_held_the_count_longest() {
        let mut p = Lfu::default();
        p.on_insert(0, 0);
        p.on_insert(1, 0);
        p.on_access(1);
        p.on_access(0);
        // both at 2; 1 reached it first
        assert_eq!(p.victim(), Some(1));
    }

    /// Walks the bucket list both ways and checks `first`, `last`, the
    /// back links and that counts strictly increase.
    fn check_buckets(p: &Lfu) {
        let mut forward = Vec::new();
        let (mut b, mut prev) = (p.first, NIL);
        while b != NIL {
            let bucket = p.buckets.get(b);
            assert_eq!(bucket.prev, prev);
            assert!(!bucket.members.is_empty());
            forward.push(bucket.freq);
            prev = b;
            b = bucket.next;
        }
        assert_eq!(p.last, prev);
        assert!(forward.windows(2).all(|w| w[0] < w[1]), "{forward:?}");
        assert_eq!(forward.len(), p.buckets.len());
    }

    #[test]
    fn insert_with_frequency_finds_or_makes_the_bucket() {
        let mut p = Lfu::default();
        // Ascending, as a restore inserts: always appends at the top.
        for (idx, f) in [(0, 1), (1, 1), (2, 3), (3, 3), (4, 7)] {
            p.on_insert_with_frequency(idx, f);
            check_buckets(&p);
        }
        assert_eq!(p.eviction_order(), [0, 1, 2, 3, 4]);
        // Out of order: lands between existing buckets, newest at its count.
        p.on_insert_with_frequency(5, 2);
        p.on_insert_with_frequency(6, 3);
        p.on_insert_with_frequency(7, 0);
        check_buckets(&p);
        assert_eq!(p.eviction_order(), [0, 1, 7, 5, 2, 3, 6, 4]);
        assert_eq!(p.frequency(7), 1);
        assert_eq!(p.frequency(6), 3);
        // A later access moves on from the restored count.
        p.on_access(4);
        assert_eq!(p.frequency(4), 8);
        p.set_frequency(0, 9);
        check_buckets(&p);
        assert_eq!(p.eviction_order(), [1, 7, 5, 2, 3, 6, 4, 0]);
        for i in 0..8 {
            p.on_remove(i);
            check_buckets(&p);
        }
        assert_eq!((p.first, p.last), (NIL, NIL));
        assert_eq!(p.buckets.len(), 0);
    }

    #[test]
    fn last_bucket_tracks_plain_accesses() {
        let mut p = Lfu::default();
        p.on_insert(0, 0);
        p.on_insert(1, 0);
        p.on_access(0);
        p.on_access(0);
        check_buckets(&p);
        p.on_remove(0);
        check_buckets(&p);
        p.on_insert_with_frequency(2, 5);
        check_buckets(&p);
        assert_eq!(p.eviction_order(), [1, 2]);
    }

    #[test]
    fn empty_buckets_are_freed() {
        let mut p = Lfu::default();
        p.on_insert(0, 0);
        for _ in 0..1000 {
            p.on_access(0);
        }
        assert_eq!(p.buckets.len(), 1);
        p.on_remove(0);
        assert_eq!(p.buckets.len(), 0);
        assert_eq!(p.victim(), None);
    }
}
