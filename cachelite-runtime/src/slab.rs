//! Index-addressed storage and intrusive doubly linked lists over it.
//!
//! Entries live in a [`Slab`] and are named by `u32` slot indices; policies
//! keep their own per-slot metadata in parallel arrays ([`Links`]), so every
//! link, unlink and move is O(1) with no per-node allocation and no unsafe.

/// The "no slot" marker in links and free lists.
pub(crate) const NIL: u32 = u32::MAX;

/// A vector of slots with a free list: stable `u32` handles, O(1) insert and
/// remove. A vacant slot is `None`, which costs no space when `T` has a
/// niche (an entry's boxed tag list gives it one).
pub(crate) struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn insert(&mut self, value: T) -> u32 {
        self.len += 1;
        if let Some(idx) = self.free.pop() {
            let slot = &mut self.slots[idx as usize];
            debug_assert!(slot.is_none(), "free list points at an occupied slot");
            *slot = Some(value);
            idx
        } else {
            let idx = u32::try_from(self.slots.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("a cache shard holds at most u32::MAX - 1 entries");
            self.slots.push(Some(value));
            idx
        }
    }

    pub(crate) fn remove(&mut self, idx: u32) -> T {
        let value = self.slots[idx as usize]
            .take()
            .expect("removing a vacant slot");
        self.free.push(idx);
        self.len -= 1;
        value
    }

    #[inline]
    pub(crate) fn get(&self, idx: u32) -> &T {
        self.slots[idx as usize]
            .as_ref()
            .expect("reading a vacant slot")
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, idx: u32) -> &mut T {
        self.slots[idx as usize]
            .as_mut()
            .expect("reading a vacant slot")
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            #[allow(clippy::cast_possible_truncation)]
            s.as_ref().map(|v| (i as u32, v))
        })
    }

    /// Removes every entry, yielding each (so it can be dropped outside locks).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.free.clear();
        self.len = 0;
        self.slots.drain(..).flatten()
    }
}

/// Head, tail and length of one list threaded through [`Links`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct List {
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) len: u32,
}

impl Default for List {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl List {
    pub(crate) const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };

    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }
}

/// `prev`/`next` arrays indexed by slot: any number of disjoint lists can be
/// threaded through one `Links`, each described by a [`List`].
#[derive(Default)]
pub(crate) struct Links {
    /// `[prev, next]` per slot: both halves of a node on one cache line.
    nodes: Vec<[u32; 2]>,
}

const PREV: usize = 0;
const NEXT: usize = 1;

impl Links {
    fn ensure(&mut self, idx: u32) {
        let need = idx as usize + 1;
        if self.nodes.len() < need {
            self.nodes.resize(need, [NIL, NIL]);
        }
    }

    pub(crate) fn push_back(&mut self, list: &mut List, idx: u32) {
        self.ensure(idx);
        self.link_back(list, idx);
    }

    /// `push_back` for a slot whose node already exists.
    #[inline]
    fn link_back(&mut self, list: &mut List, idx: u32) {
        self.nodes[idx as usize] = [list.tail, NIL];
        if list.tail == NIL {
            list.head = idx;
        } else {
            self.nodes[list.tail as usize][NEXT] = idx;
        }
        list.tail = idx;
        list.len += 1;
    }

    #[inline]
    pub(crate) fn unlink(&mut self, list: &mut List, idx: u32) {
        let [p, n] = std::mem::replace(&mut self.nodes[idx as usize], [NIL, NIL]);
        if p == NIL {
            list.head = n;
        } else {
            self.nodes[p as usize][NEXT] = n;
        }
        if n == NIL {
            list.tail = p;
        } else {
            self.nodes[n as usize][PREV] = p;
        }
        list.len -= 1;
    }

    /// Moves `idx` (already in `list`) to the back: O(1).
    #[inline]
    pub(crate) fn move_to_back(&mut self, list: &mut List, idx: u32) {
        if list.tail != idx {
            self.unlink(list, idx);
            self.link_back(list, idx);
        }
    }

    /// The slots of `list`, front to back.
    pub(crate) fn iter<'a>(&'a self, list: &List) -> impl Iterator<Item = u32> + 'a {
        let mut cur = list.head;
        std::iter::from_fn(move || {
            (cur != NIL).then(|| {
                let i = cur;
                cur = self.nodes[i as usize][NEXT];
                i
            })
        })
    }

    pub(crate) fn clear(&mut self) {
        self.nodes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slab_reuses_freed_slots() {
        let mut s = Slab::default();
        let a = s.insert("a");
        let b = s.insert("b");
        assert_eq!(s.remove(a), "a");
        let c = s.insert("c");
        assert_eq!(c, a, "freed slot is reused first");
        assert_eq!(*s.get(b), "b");
        assert_eq!(s.len(), 2);
        let all: Vec<_> = s.iter().map(|(_, v)| *v).collect();
        assert_eq!(all, ["c", "b"]);
    }

    #[test]
    fn links_keep_order_through_moves() {
        let mut l = Links::default();
        let mut list = List::EMPTY;
        for i in 0..5 {
            l.push_back(&mut list, i);
        }
        l.move_to_back(&mut list, 1);
        l.unlink(&mut list, 3);
        l.push_back(&mut list, 3);
        l.move_to_back(&mut list, 3);
        assert_eq!(l.iter(&list).collect::<Vec<_>>(), [0, 2, 4, 1, 3]);
        assert_eq!(list.len, 5);
        for i in [3, 0, 2, 4, 1] {
            l.unlink(&mut list, i);
        }
        assert!(list.is_empty());
        assert_eq!(list, List::EMPTY);
    }
}
