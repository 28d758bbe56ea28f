//! First in, first out: insertion order only; reads never reorder.
//!
//! Unlinking from the middle is O(1), so explicit removals leave no
//! tombstones and memory stays bounded by the number of live entries.

use super::EvictionPolicy;
use crate::slab::{Links, List};

#[derive(Default)]
pub(crate) struct Fifo {
    links: Links,
    list: List,
}

impl EvictionPolicy for Fifo {
    fn on_insert(&mut self, idx: u32, _hash: u64) {
        self.links.push_back(&mut self.list, idx);
    }

    #[inline]
    fn on_access(&mut self, _idx: u32) {}

    fn on_remove(&mut self, idx: u32) {
        self.links.unlink(&mut self.list, idx);
    }

    fn victim(&mut self) -> Option<u32> {
        (!self.list.is_empty()).then_some(self.list.head)
    }

    fn clear(&mut self) {
        self.links.clear();
        self.list = List::EMPTY;
    }

    fn eviction_order(&self) -> Vec<u32> {
        self.links.iter(&self.list).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_never_reorders() {
        let mut p = Fifo::default();
        for i in 0..3 {
            p.on_insert(i, 0);
        }
        p.on_access(0);
        p.on_access(0);
        assert_eq!(p.victim(), Some(0));
        p.on_remove(1);
        assert_eq!(p.eviction_order(), [0, 2]);
    }
}
