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
        if next != NIL {
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
            if next != NIL {
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
    #[allow(dead_code, reason = "read by tests and snapshots")]
    pub(crate) fn frequency(&self, idx: u32) -> u64 {
        self.buckets.get(self.bucket_of[idx as usize]).freq
    }
}

impl EvictionPolicy for Lfu {
    fn on_insert(&mut self, idx: u32) {
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
            p.on_insert(i);
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
        p.on_insert(5);
        assert_eq!(p.victim(), Some(5), "a fresh entry has the live minimum");
    }

    #[test]
    fn ties_go_to_the_entry_that_held_the_count_longest() {
        let mut p = Lfu::default();
        p.on_insert(0);
        p.on_insert(1);
        p.on_access(1);
        p.on_access(0);
        // both at 2; 1 reached it first
        assert_eq!(p.victim(), Some(1));
    }

    #[test]
    fn empty_buckets_are_freed() {
        let mut p = Lfu::default();
        p.on_insert(0);
        for _ in 0..1000 {
            p.on_access(0);
        }
        assert_eq!(p.buckets.len(), 1);
        p.on_remove(0);
        assert_eq!(p.buckets.len(), 0);
        assert_eq!(p.victim(), None);
    }
}
