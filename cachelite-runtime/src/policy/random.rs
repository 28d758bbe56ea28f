//! Random eviction: a dense array of live slots; removal is swap-remove.

use super::EvictionPolicy;
use crate::slab::NIL;

pub(crate) struct RandomPolicy {
    slots: Vec<u32>,
    /// `pos[idx]` is where `idx` sits in `slots`, or `NIL`.
    pos: Vec<u32>,
    rng: fastrand::Rng,
}

impl RandomPolicy {
    pub(crate) fn with_seed(seed: u64) -> Self {
        Self {
            slots: Vec::new(),
            pos: Vec::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }
}

impl EvictionPolicy for RandomPolicy {
    fn on_insert(&mut self, idx: u32, _hash: u64) {
        let i = idx as usize;
        if self.pos.len() <= i {
            self.pos.resize(i + 1, NIL);
        }
        self.pos[i] = u32::try_from(self.slots.len()).expect("slot count fits u32");
        self.slots.push(idx);
    }

    #[inline]
    fn on_access(&mut self, _idx: u32) {}

    fn on_remove(&mut self, idx: u32) {
        let at = std::mem::replace(&mut self.pos[idx as usize], NIL) as usize;
        self.slots.swap_remove(at);
        if let Some(&moved) = self.slots.get(at) {
            self.pos[moved as usize] = u32::try_from(at).expect("slot count fits u32");
        }
    }

    fn victim(&mut self) -> Option<u32> {
        if self.slots.is_empty() {
            None
        } else {
            Some(self.slots[self.rng.usize(..self.slots.len())])
        }
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.pos.clear();
    }

    fn eviction_order(&self) -> Vec<u32> {
        self.slots.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_remove_keeps_positions_consistent() {
        let mut p = RandomPolicy::with_seed(7);
        for i in 0..10 {
            p.on_insert(i, 0);
        }
        for i in [0, 9, 4, 5] {
            p.on_remove(i);
        }
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let v = p.victim().unwrap();
            assert!(![0, 9, 4, 5].contains(&v));
            seen.insert(v);
        }
        assert_eq!(seen.len(), 6, "every live slot is eventually chosen");
        for &s in &p.slots {
            assert_eq!(p.slots[p.pos[s as usize] as usize], s);
        }
    }
}
