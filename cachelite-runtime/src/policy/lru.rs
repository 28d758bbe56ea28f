//! Least recently used: one list, most recent at the back.

use super::EvictionPolicy;
use crate::slab::{Links, List};

#[derive(Default)]
pub(crate) struct Lru {
    links: Links,
    list: List,
}

impl EvictionPolicy for Lru {
    fn on_insert(&mut self, idx: u32, _hash: u64) {
        self.links.push_back(&mut self.list, idx);
    }

    #[inline]
    fn on_access(&mut self, idx: u32) {
        self.links.move_to_back(&mut self.list, idx);
    }

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
    fn evicts_least_recently_used() {
        let mut p = Lru::default();
        for i in 0..3 {
            p.on_insert(i, 0);
        }
        p.on_access(0);
        assert_eq!(p.victim(), Some(1));
        p.on_remove(1);
        assert_eq!(p.victim(), Some(2));
        assert_eq!(p.eviction_order(), [2, 0]);
    }
}
