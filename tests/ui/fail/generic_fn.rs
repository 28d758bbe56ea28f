use cachelite::memoize;
use std::hash::Hash;

#[memoize]
fn first<T: Hash + Clone>(items: Vec<T>) -> Option<T> {
    items.first().cloned()
}

fn main() {
    first(vec![1]);
}
