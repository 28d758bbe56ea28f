//! The tag index: which slots of a shard carry each tag, for
//! [`Cache::invalidate_tags`](crate::Cache::invalidate_tags).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A tag, shared between the entries that carry it and the tag index.
pub(crate) type Tag = Arc<str>;

/// Tag to slots. A tag with no slot left has no key, so the index holds
/// only tags in use.
#[derive(Default)]
pub(crate) struct TagIndex {
    slots: HashMap<Tag, HashSet<u32>>,
}

impl TagIndex {
    /// Indexes slot `idx` under each of `tags` (nothing for none).
    pub(crate) fn add(&mut self, idx: u32, tags: &[Tag]) {
        for t in tags {
            self.slots.entry(t.clone()).or_default().insert(idx);
        }
    }

    /// Forgets slot `idx` under each of `tags`.
    pub(crate) fn remove(&mut self, idx: u32, tags: &[Tag]) {
        for t in tags {
            if let Some(set) = self.slots.get_mut(t) {
                set.remove(&idx);
                if set.is_empty() {
                    self.slots.remove(t);
                }
            }
        }
    }

    /// Takes every slot carrying `tag` out of the index.
    pub(crate) fn take(&mut self, tag: &str) -> Option<HashSet<u32>> {
        self.slots.remove(tag)
    }

    pub(crate) fn clear(&mut self) {
        self.slots.clear();
    }

    /// Whether slot `idx` is indexed under `tag` (tests).
    #[cfg(test)]
    pub(crate) fn contains(&self, tag: &Tag, idx: u32) -> bool {
        self.slots.get(tag).is_some_and(|s| s.contains(&idx))
    }

    /// Every (tag, slot) pair, for consistency checks (tests).
    #[cfg(test)]
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&Tag, u32)> {
        self.slots
            .iter()
            .inspect(|(_, s)| assert!(!s.is_empty(), "a tag with no slot"))
            .flat_map(|(t, s)| s.iter().map(move |&i| (t, i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_leaves_the_index_with_its_last_slot() {
        let (a, b): (Tag, Tag) = (Arc::from("a"), Arc::from("b"));
        let mut ix = TagIndex::default();
        ix.add(1, &[a.clone(), b.clone()]);
        ix.add(2, std::slice::from_ref(&a));
        ix.remove(1, &[a.clone(), b.clone()]);
        assert!(ix.contains(&a, 2) && !ix.contains(&a, 1));
        assert_eq!(ix.pairs().count(), 1, "b went with its only slot");
        assert_eq!(ix.take("a").unwrap().into_iter().collect::<Vec<_>>(), [2]);
        assert!(ix.take("a").is_none());
    }
}
