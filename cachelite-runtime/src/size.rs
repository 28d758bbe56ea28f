//! Measuring the memory a value owns: the [`DeepSize`] trait and its impls
//! for the standard library's types. The counting conventions are documented
//! on the trait.

use std::borrow::{Cow, ToOwned};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::ffi::{CStr, CString, OsStr, OsString};
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::num::{
    NonZeroI8, NonZeroI16, NonZeroI32, NonZeroI64, NonZeroI128, NonZeroIsize, NonZeroU8,
    NonZeroU16, NonZeroU32, NonZeroU64, NonZeroU128, NonZeroUsize, Wrapping,
};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The memory a value owns, counting heap allocations reachable from it.
///
/// A value's *deep size* is the number of bytes it occupies inline
/// (`size_of_val`) plus every heap allocation reachable from it through
/// ownership. Caches use it to weigh entries, for example to bound a cache by
/// bytes rather than by entry count.
///
/// Implemented for primitives, strings, the standard collections, smart
/// pointers, tuples (up to 12 elements), arrays and slices; derive it for your
/// own structs and enums with `#[derive(DeepSize)]` from the `cachelite`
/// crate, which sums the fields' [`deep_size_of_children`].
///
/// # Conventions
///
/// * [`DeepSize::deep_size_of_children`] counts only heap bytes. Whatever is
///   stored inline in a value (its fields, the elements of an array, the
///   `String` header inside a `Vec<String>`'s buffer) is already part of the
///   parent's `size_of`, so it is not counted again.
/// * Buffers are counted by *capacity*, not length: a `String` with capacity
///   100 holding `"hi"` owns 100 heap bytes.
/// * The count recurses: a `Vec<String>` reports its buffer plus each
///   `String`'s heap bytes; a `Vec<Vec<String>>` recurses twice.
/// * Shared pointers ([`Rc`], [`Arc`]) count their pointee once *per handle*:
///   two clones of one `Arc<String>` report the string twice. The trait has no
///   memory of what it has already visited, so sharing cannot be detected.
/// * Hash tables and B-trees report an *estimate* derived from their capacity
///   or length, because the standard library does not expose their exact
///   allocation sizes. The estimates are documented on each impl.
/// * Borrowed data (`&T`, `&mut T`, [`Cow::Borrowed`]) owns nothing: it
///   reports zero children.
/// * Allocator bookkeeping (headers, size-class rounding) is never counted.
///
/// `Mutex` and `RwLock` have no impl on purpose: measuring their contents
/// would mean taking the lock, which can block or deadlock when the caller
/// already holds it. Implement `DeepSize` by hand for such types, or mark the
/// field `#[deep_size(skip)]` when deriving.
///
/// [`deep_size_of_children`]: DeepSize::deep_size_of_children
///
/// # Examples
///
/// Measuring standard types:
///
/// ```
/// use cachelite_runtime::DeepSize;
///
/// let mut words: Vec<String> = Vec::with_capacity(4);
/// words.push(String::with_capacity(10));
/// words.push(String::with_capacity(20));
///
/// // The Vec's buffer (4 slots of `String`) plus the two strings' buffers.
/// let children = 4 * size_of::<String>() + 10 + 20;
/// assert_eq!(words.deep_size_of_children(), children);
/// assert_eq!(words.deep_size_of(), size_of::<Vec<String>>() + children);
/// ```
///
/// Implementing the trait by hand (what the derive generates):
///
/// ```
/// use cachelite_runtime::DeepSize;
///
/// struct Entry {
///     key: String,
///     hits: u64,
/// }
///
/// impl DeepSize for Entry {
///     fn deep_size_of_children(&self) -> usize {
///         // Fields live inline in `Entry`: add only what they own on the heap.
///         self.key.deep_size_of_children() + self.hits.deep_size_of_children()
///     }
/// }
///
/// let entry = Entry { key: String::with_capacity(16), hits: 0 };
/// assert_eq!(entry.deep_size_of_children(), 16);
/// assert_eq!(entry.deep_size_of(), size_of::<Entry>() + 16);
/// ```
#[diagnostic::on_unimplemented(
    label = "`{Self}` does not implement `DeepSize`",
    note = "implement `DeepSize` for `{Self}`, or mark the field `#[deep_size(skip)]` to leave it out of `#[derive(DeepSize)]`"
)]
pub trait DeepSize {
    /// Bytes owned on the heap (not counting `size_of::<Self>()` itself).
    ///
    /// Implementations add the heap buffers this value owns directly plus the
    /// `deep_size_of_children` of everything stored in those buffers or inline
    /// in `self`.
    ///
    /// # Example
    ///
    /// ```
    /// use cachelite_runtime::DeepSize;
    ///
    /// assert_eq!(42_u64.deep_size_of_children(), 0);
    /// assert_eq!(String::with_capacity(32).deep_size_of_children(), 32);
    /// ```
    fn deep_size_of_children(&self) -> usize;

    /// `size_of_val(self) + deep_size_of_children()`: the total memory of this
    /// value, inline bytes and heap bytes together.
    ///
    /// # Example
    ///
    /// ```
    /// use cachelite_runtime::DeepSize;
    ///
    /// let name = String::with_capacity(32);
    /// assert_eq!(name.deep_size_of(), size_of::<String>() + 32);
    ///
    /// // Works on unsized values too: a `str` is just its bytes.
    /// assert_eq!("hello".deep_size_of(), 5);
    /// ```
    #[inline]
    fn deep_size_of(&self) -> usize {
        size_of_val(self) + self.deep_size_of_children()
    }
}

/// Sum of the heap bytes owned by each item.
#[inline]
fn children_of<'a, T, I>(items: I) -> usize
where
    T: DeepSize + ?Sized + 'a,
    I: IntoIterator<Item = &'a T>,
{
    items.into_iter().map(DeepSize::deep_size_of_children).sum()
}

/// Types that never own heap memory: their deep size is their inline size.
macro_rules! impl_leaf {
    ($($ty:ty),* $(,)?) => {$(
        impl DeepSize for $ty {
            #[inline]
            fn deep_size_of_children(&self) -> usize {
                0
            }
        }
    )*};
}

impl_leaf!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
    char,
    (),
);
impl_leaf!(
    NonZeroU8,
    NonZeroU16,
    NonZeroU32,
    NonZeroU64,
    NonZeroU128,
    NonZeroUsize,
    NonZeroI8,
    NonZeroI16,
    NonZeroI32,
    NonZeroI64,
    NonZeroI128,
    NonZeroIsize,
);
impl_leaf!(Duration, Instant, SystemTime, Ordering);
impl_leaf!(
    IpAddr,
    Ipv4Addr,
    Ipv6Addr,
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6
);
// Unsized string-like types: their bytes are the value itself (counted by
// `size_of_val`), so they own nothing beyond it. Behind a `Box`, `Rc` or
// `Arc` the pointer impls count those bytes as the pointer's children.
impl_leaf!(str, Path, OsStr, CStr);

/// Zero-sized marker: owns nothing.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::marker::PhantomData;
///
/// assert_eq!(PhantomData::<String>.deep_size_of(), 0);
/// ```
impl<T: ?Sized> DeepSize for PhantomData<T> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        0
    }
}

/// A shared reference borrows and owns nothing: zero children, whatever it
/// points to. Its deep size is the size of the reference itself.
///
/// ```
/// use cachelite_runtime::DeepSize;
///
/// let owned = String::from("borrowed elsewhere");
/// let borrowed: &String = &owned;
/// assert_eq!(DeepSize::deep_size_of_children(&borrowed), 0);
/// assert_eq!(DeepSize::deep_size_of(&borrowed), size_of::<&String>());
/// ```
impl<T: ?Sized> DeepSize for &T {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        0
    }
}

/// A mutable reference borrows and owns nothing: zero children.
///
/// ```
/// use cachelite_runtime::DeepSize;
///
/// let mut owned = vec![1_u8; 64];
/// let borrowed: &mut Vec<u8> = &mut owned;
/// assert_eq!(DeepSize::deep_size_of_children(&borrowed), 0);
/// ```
impl<T: ?Sized> DeepSize for &mut T {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        0
    }
}

/// The string's heap buffer, by capacity.
///
/// ```
/// use cachelite_runtime::DeepSize;
///
/// let mut s = String::with_capacity(64);
/// s.push_str("hi");
/// assert_eq!(s.deep_size_of_children(), s.capacity());
/// ```
impl DeepSize for String {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        self.capacity()
    }
}

/// The path's heap buffer, by capacity.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::path::PathBuf;
///
/// let p = PathBuf::with_capacity(40);
/// assert_eq!(p.deep_size_of_children(), p.capacity());
/// ```
impl DeepSize for PathBuf {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        self.capacity()
    }
}

/// The string's heap buffer, by capacity.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::ffi::OsString;
///
/// let s = OsString::with_capacity(40);
/// assert_eq!(s.deep_size_of_children(), s.capacity());
/// ```
impl DeepSize for OsString {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        self.capacity()
    }
}

/// The string's heap buffer: its bytes including the trailing nul (a
/// `CString` is a boxed slice, so it has no spare capacity).
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::ffi::CString;
///
/// let s = CString::new("abc").unwrap();
/// assert_eq!(s.deep_size_of_children(), 4);
/// ```
impl DeepSize for CString {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        self.as_bytes_with_nul().len()
    }
}

/// The elements' own heap bytes; the elements themselves are inline.
///
/// ```
/// use cachelite_runtime::DeepSize;
///
/// let slice: &[String] = &[String::with_capacity(3), String::with_capacity(5)];
/// assert_eq!(slice.deep_size_of_children(), 8);
/// assert_eq!(slice.deep_size_of(), 2 * size_of::<String>() + 8);
/// ```
impl<T: DeepSize> DeepSize for [T] {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        children_of(self)
    }
}

/// The elements' own heap bytes; the elements themselves are inline.
///
/// ```
/// use cachelite_runtime::DeepSize;
///
/// let names = [String::with_capacity(3), String::with_capacity(5)];
/// assert_eq!(names.deep_size_of_children(), 8);
/// assert_eq!(names.deep_size_of(), 2 * size_of::<String>() + 8);
/// ```
impl<T: DeepSize, const N: usize> DeepSize for [T; N] {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        children_of(self)
    }
}

/// The buffer (`capacity * size_of::<T>()`) plus each element's heap bytes.
///
/// ```
/// use cachelite_runtime::DeepSize;
///
/// let mut v: Vec<String> = Vec::with_capacity(4);
/// v.push(String::with_capacity(10));
/// assert_eq!(v.deep_size_of_children(), 4 * size_of::<String>() + 10);
/// ```
impl<T: DeepSize> DeepSize for Vec<T> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        self.capacity() * size_of::<T>() + children_of(self)
    }
}

/// The ring buffer (`capacity * size_of::<T>()`) plus each element's heap
/// bytes.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::collections::VecDeque;
///
/// let mut q: VecDeque<String> = VecDeque::with_capacity(4);
/// q.push_back(String::with_capacity(10));
/// assert_eq!(q.deep_size_of_children(), q.capacity() * size_of::<String>() + 10);
/// ```
impl<T: DeepSize> DeepSize for VecDeque<T> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        self.capacity() * size_of::<T>() + children_of(self)
    }
}

/// The heap's buffer (`capacity * size_of::<T>()`) plus each element's heap
/// bytes.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::collections::BinaryHeap;
///
/// let mut heap: BinaryHeap<u32> = BinaryHeap::with_capacity(8);
/// heap.push(7);
/// assert_eq!(heap.deep_size_of_children(), heap.capacity() * 4);
/// ```
impl<T: DeepSize> DeepSize for BinaryHeap<T> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        self.capacity() * size_of::<T>() + children_of(self)
    }
}

/// One heap node per element (the element plus two link pointers), plus each
/// element's heap bytes.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::collections::LinkedList;
///
/// let list: LinkedList<u64> = (0..3).collect();
/// assert_eq!(list.deep_size_of_children(), 3 * (8 + 2 * size_of::<usize>()));
/// ```
impl<T: DeepSize> DeepSize for LinkedList<T> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        // A node is `{ next, prev, element }`; the tuple has the same size,
        // padding included.
        self.len() * size_of::<(usize, usize, T)>() + children_of(self)
    }
}

/// Estimated table size plus each key's and value's heap bytes.
///
/// The table is estimated as `capacity() * (size_of::<(K, V)>() + 1)`: one
/// slot and one control byte per element the map can hold without growing.
/// The real table is somewhat larger (it keeps up to 1/8 of its slots free,
/// rounds the slot count up to a power of two and pads the control bytes), so
/// this is a slight underestimate, but it is stable and grows with the map.
/// The hasher `S` is stored inline and is not inspected.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::collections::HashMap;
///
/// let mut map: HashMap<u64, String> = HashMap::new();
/// assert_eq!(map.deep_size_of_children(), 0);
/// map.insert(1, String::with_capacity(10));
/// let table = map.capacity() * (size_of::<(u64, String)>() + 1);
/// assert_eq!(map.deep_size_of_children(), table + 10);
/// ```
impl<K: DeepSize, V: DeepSize, S> DeepSize for HashMap<K, V, S> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        self.capacity() * (size_of::<(K, V)>() + 1)
            + self
                .iter()
                .map(|(k, v)| k.deep_size_of_children() + v.deep_size_of_children())
                .sum::<usize>()
    }
}

/// Estimated table size plus each element's heap bytes.
///
/// The table is estimated as `capacity() * (size_of::<T>() + 1)`, as for
/// [`HashMap`] (a slight underestimate).
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::collections::HashSet;
///
/// let set: HashSet<u32> = (0..10).collect();
/// assert_eq!(set.deep_size_of_children(), set.capacity() * (4 + 1));
/// ```
impl<T: DeepSize, S> DeepSize for HashSet<T, S> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        self.capacity() * (size_of::<T>() + 1) + children_of(self)
    }
}

/// Entries per B-tree node in the standard library (`2 * B - 1` with `B = 6`).
const BTREE_NODE_CAPACITY: usize = 11;
/// Assumed average number of entries per node: B-trees built by insertion
/// settle around 70% occupancy (`11 * ln 2 ≈ 7.6`).
const BTREE_AVG_ENTRIES_PER_NODE: usize = 8;
/// Child pointers in an internal node (`2 * B`).
const BTREE_EDGES: usize = 12;
/// Roughly one node in `B` is an internal node.
const BTREE_LEAVES_PER_INTERNAL: usize = 6;

/// Estimated heap bytes of a standard B-tree holding `len` entries of
/// `entry_size` bytes (key plus value) each.
const fn btree_nodes_estimate(len: usize, entry_size: usize) -> usize {
    if len == 0 {
        // An empty map or set has not allocated a root yet.
        return 0;
    }
    let nodes = len.div_ceil(BTREE_AVG_ENTRIES_PER_NODE);
    // Every node: parent pointer, parent index and length (two u16), and room
    // for a full node's keys and values whatever its occupancy.
    let header = size_of::<usize>() + 2 * size_of::<u16>();
    let node = header + BTREE_NODE_CAPACITY * entry_size;
    let edges = (nodes / BTREE_LEAVES_PER_INTERNAL) * BTREE_EDGES * size_of::<usize>();
    nodes * node + edges
}

/// Estimated node memory plus each key's and value's heap bytes.
///
/// The standard B-tree stores up to 11 entries per node and allocates every
/// node at full size. The estimate assumes nodes are about 70% full
/// (`len.div_ceil(8)` nodes), each costing a small header (parent pointer,
/// index and length) plus 11 key and value slots, and adds 12 child pointers
/// for every sixth node (the internal ones). An empty map reports 0.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::collections::BTreeMap;
///
/// let mut map: BTreeMap<u32, String> = BTreeMap::new();
/// assert_eq!(map.deep_size_of_children(), 0);
/// map.insert(1, String::with_capacity(10));
/// let before = map.deep_size_of_children();
/// assert!(before > 10 + size_of::<(u32, String)>());
/// map.extend((2..100).map(|i| (i, String::new())));
/// assert!(map.deep_size_of_children() > before);
/// ```
impl<K: DeepSize, V: DeepSize> DeepSize for BTreeMap<K, V> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        btree_nodes_estimate(self.len(), size_of::<K>() + size_of::<V>())
            + self
                .iter()
                .map(|(k, v)| k.deep_size_of_children() + v.deep_size_of_children())
                .sum::<usize>()
    }
}

/// Estimated node memory plus each element's heap bytes, estimated as for
/// [`BTreeMap`] with zero-sized values.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::collections::BTreeSet;
///
/// let empty: BTreeSet<u64> = BTreeSet::new();
/// assert_eq!(empty.deep_size_of_children(), 0);
/// let set: BTreeSet<u64> = (0..100).collect();
/// assert!(set.deep_size_of_children() >= 100 * 8);
/// ```
impl<T: DeepSize> DeepSize for BTreeSet<T> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        btree_nodes_estimate(self.len(), size_of::<T>()) + children_of(self)
    }
}

/// The boxed value: its size (`size_of_val`, so `Box<str>` and `Box<[T]>`
/// count their length) plus its own heap bytes.
///
/// ```
/// use cachelite_runtime::DeepSize;
///
/// let b: Box<str> = "hello".into();
/// assert_eq!(b.deep_size_of_children(), 5);
///
/// let b: Box<[u32]> = vec![1, 2, 3].into_boxed_slice();
/// assert_eq!(b.deep_size_of_children(), 12);
///
/// let b = Box::new(String::with_capacity(10));
/// assert_eq!(b.deep_size_of_children(), size_of::<String>() + 10);
/// ```
impl<T: DeepSize + ?Sized> DeepSize for Box<T> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        (**self).deep_size_of()
    }
}

/// The shared allocation: two reference counters plus the value's deep size.
///
/// The value is counted once **per handle**: `n` clones of one `Rc` report
/// it `n` times, because a handle cannot know whether another one has
/// already been measured. Sum over distinct allocations yourself (e.g. by
/// [`Rc::ptr_eq`]) when that matters.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::rc::Rc;
///
/// let rc: Rc<str> = Rc::from("hello");
/// assert_eq!(rc.deep_size_of_children(), 2 * size_of::<usize>() + 5);
/// ```
impl<T: DeepSize + ?Sized> DeepSize for Rc<T> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        2 * size_of::<usize>() + (**self).deep_size_of()
    }
}

/// The shared allocation: two reference counters plus the value's deep size.
///
/// The value is counted once **per handle**: `n` clones of one `Arc` report
/// it `n` times, because a handle cannot know whether another one has
/// already been measured. Sum over distinct allocations yourself (e.g. by
/// [`Arc::ptr_eq`]) when that matters.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::sync::Arc;
///
/// let a = Arc::new(String::with_capacity(10));
/// let expected = 2 * size_of::<usize>() + size_of::<String>() + 10;
/// assert_eq!(a.deep_size_of_children(), expected);
/// // Each handle reports the shared value.
/// let b = Arc::clone(&a);
/// assert_eq!(a.deep_size_of_children() + b.deep_size_of_children(), 2 * expected);
/// ```
impl<T: DeepSize + ?Sized> DeepSize for Arc<T> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        2 * size_of::<usize>() + (**self).deep_size_of()
    }
}

/// The contained value's heap bytes, or 0 for `None`.
///
/// ```
/// use cachelite_runtime::DeepSize;
///
/// assert_eq!(None::<String>.deep_size_of_children(), 0);
/// assert_eq!(Some(String::with_capacity(8)).deep_size_of_children(), 8);
/// ```
impl<T: DeepSize> DeepSize for Option<T> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        self.as_ref().map_or(0, DeepSize::deep_size_of_children)
    }
}

/// The heap bytes of whichever value is present.
///
/// ```
/// use cachelite_runtime::DeepSize;
///
/// let ok: Result<String, u32> = Ok(String::with_capacity(8));
/// assert_eq!(ok.deep_size_of_children(), 8);
/// let err: Result<String, u32> = Err(404);
/// assert_eq!(err.deep_size_of_children(), 0);
/// ```
impl<T: DeepSize, E: DeepSize> DeepSize for Result<T, E> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        match self {
            Ok(value) => value.deep_size_of_children(),
            Err(error) => error.deep_size_of_children(),
        }
    }
}

/// The owned value's heap bytes; a borrowed value owns nothing.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::borrow::Cow;
///
/// let borrowed: Cow<'_, str> = Cow::Borrowed("static text");
/// assert_eq!(borrowed.deep_size_of_children(), 0);
/// let owned: Cow<'_, str> = Cow::Owned(String::with_capacity(20));
/// assert_eq!(owned.deep_size_of_children(), 20);
/// ```
impl<B> DeepSize for Cow<'_, B>
where
    B: ToOwned + ?Sized,
    B::Owned: DeepSize,
{
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        match self {
            Cow::Borrowed(_) => 0,
            Cow::Owned(owned) => owned.deep_size_of_children(),
        }
    }
}

/// The wrapped value's heap bytes.
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::cmp::Reverse;
///
/// assert_eq!(Reverse(String::with_capacity(8)).deep_size_of_children(), 8);
/// ```
impl<T: DeepSize> DeepSize for Reverse<T> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        self.0.deep_size_of_children()
    }
}

/// The wrapped value's heap bytes (always 0 for the integer types).
///
/// ```
/// use cachelite_runtime::DeepSize;
/// use std::num::Wrapping;
///
/// assert_eq!(Wrapping(7_u32).deep_size_of(), 4);
/// ```
impl<T: DeepSize> DeepSize for Wrapping<T> {
    #[inline]
    fn deep_size_of_children(&self) -> usize {
        self.0.deep_size_of_children()
    }
}

/// Tuples up to 12 elements: the sum of the elements' heap bytes (the
/// elements themselves are inline).
///
/// ```
/// use cachelite_runtime::DeepSize;
///
/// let pair = (String::with_capacity(4), vec![0_u16; 3]);
/// assert_eq!(pair.deep_size_of_children(), 4 + 6);
/// ```
macro_rules! impl_tuple {
    ($(($first:ident . $first_idx:tt $(, $name:ident . $idx:tt)*))*) => {$(
        impl<$first: DeepSize $(, $name: DeepSize)*> DeepSize for ($first, $($name,)*) {
            #[inline]
            fn deep_size_of_children(&self) -> usize {
                self.$first_idx.deep_size_of_children()
                    $(+ self.$idx.deep_size_of_children())*
            }
        }
    )*};
}

impl_tuple! {
    (A.0)
    (A.0, B.1)
    (A.0, B.1, C.2)
    (A.0, B.1, C.2, D.3)
    (A.0, B.1, C.2, D.3, E.4)
    (A.0, B.1, C.2, D.3, E.4, F.5)
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6)
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7)
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8)
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9)
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10)
    (A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10, L.11)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRING: usize = size_of::<String>();
    const USIZE: usize = size_of::<usize>();

    fn string(capacity: usize) -> String {
        let s = String::with_capacity(capacity);
        assert_eq!(
            s.capacity(),
            capacity,
            "allocator gave a different capacity"
        );
        s
    }

    #[test]
    fn primitives_own_nothing() {
        assert_eq!(0_u8.deep_size_of(), 1);
        assert_eq!(0_u64.deep_size_of(), 8);
        assert_eq!(0_i128.deep_size_of(), 16);
        assert_eq!(0_usize.deep_size_of(), USIZE);
        assert_eq!(1.5_f32.deep_size_of(), 4);
        assert_eq!(true.deep_size_of(), 1);
        assert_eq!('x'.deep_size_of(), 4);
        assert_eq!(().deep_size_of(), 0);
        assert_eq!(0_u64.deep_size_of_children(), 0);
        assert_eq!(NonZeroU32::MIN.deep_size_of(), 4);
        assert_eq!(Duration::from_secs(1).deep_size_of_children(), 0);
        assert_eq!(Instant::now().deep_size_of_children(), 0);
        assert_eq!(SystemTime::now().deep_size_of_children(), 0);
        assert_eq!(Ordering::Less.deep_size_of_children(), 0);
        assert_eq!(Ipv4Addr::LOCALHOST.deep_size_of(), 4);
        assert_eq!(PhantomData::<Vec<String>>.deep_size_of(), 0);
    }

    #[test]
    fn string_counts_capacity_not_length() {
        let mut s = string(10);
        s.push_str("abc");
        assert_eq!(s.deep_size_of_children(), 10);
        assert_eq!(s.deep_size_of(), STRING + 10);
        assert_eq!(String::new().deep_size_of_children(), 0);
    }

    #[test]
    fn unsized_strings_are_their_bytes() {
        assert_eq!("hello".deep_size_of(), 5);
        assert_eq!("hello".deep_size_of_children(), 0);
        assert_eq!(Path::new("a/b").deep_size_of(), 3);
        assert_eq!(OsStr::new("abcd").deep_size_of(), 4);
        assert_eq!(c"abc".deep_size_of(), 4);
    }

    #[test]
    fn references_own_nothing() {
        let s: &str = "hello";
        assert_eq!(DeepSize::deep_size_of(&s), 2 * USIZE);
        assert_eq!(DeepSize::deep_size_of_children(&s), 0);
        let mut owned = string(50);
        let r = &mut owned;
        assert_eq!(DeepSize::deep_size_of_children(&r), 0);
        assert_eq!(DeepSize::deep_size_of(&r), USIZE);
    }

    #[test]
    fn vec_of_strings() {
        let mut v: Vec<String> = Vec::with_capacity(4);
        v.push(string(5));
        v.push(string(7));
        assert_eq!(v.deep_size_of_children(), 4 * STRING + 12);
        assert_eq!(v.deep_size_of(), size_of::<Vec<String>>() + 4 * STRING + 12);
    }

    #[test]
    fn vec_of_primitives() {
        let v: Vec<u32> = Vec::with_capacity(10);
        assert_eq!(v.deep_size_of_children(), 40);
        let v = vec![0_u64; 3];
        assert_eq!(v.deep_size_of_children(), 24);
    }

    #[test]
    fn vec_of_zero_sized_values() {
        let v: Vec<()> = vec![(); 1000];
        assert_eq!(v.deep_size_of_children(), 0);
    }

    #[test]
    fn nested_vecs_recurse() {
        // `vec!` allocates exactly as many slots as elements.
        let inner_a: Vec<String> = vec![string(3), string(4)];
        let inner_b: Vec<String> = vec![string(10)];
        let mut outer: Vec<Vec<String>> = Vec::with_capacity(3);
        outer.push(inner_a);
        outer.push(inner_b);
        let vec = size_of::<Vec<String>>();
        let expected = 3 * vec + (2 * STRING + 3 + 4) + (STRING + 10);
        assert_eq!(outer.deep_size_of_children(), expected);
        assert_eq!(outer.deep_size_of(), vec + expected);
    }

    #[test]
    fn boxes() {
        let b: Box<str> = "hello".into();
        assert_eq!(b.deep_size_of_children(), 5);
        assert_eq!(b.deep_size_of(), 2 * USIZE + 5);

        let b: Box<[String]> = vec![string(3), string(4)].into_boxed_slice();
        assert_eq!(b.deep_size_of_children(), 2 * STRING + 7);

        let b = Box::new(7_u64);
        assert_eq!(b.deep_size_of(), USIZE + 8);

        let b = Box::new(string(9));
        assert_eq!(b.deep_size_of_children(), STRING + 9);

        let b = Box::new(Box::new(string(2)));
        assert_eq!(b.deep_size_of_children(), USIZE + STRING + 2);

        let p: Box<Path> = PathBuf::from("abc").into_boxed_path();
        assert_eq!(p.deep_size_of_children(), 3);
    }

    #[test]
    fn options_and_results() {
        assert_eq!(None::<String>.deep_size_of_children(), 0);
        assert_eq!(None::<String>.deep_size_of(), size_of::<Option<String>>());
        let some = Some(string(8));
        assert_eq!(some.deep_size_of_children(), 8);
        assert_eq!(some.deep_size_of(), size_of::<Option<String>>() + 8);

        let ok: Result<Vec<u8>, String> = Ok(Vec::with_capacity(6));
        assert_eq!(ok.deep_size_of_children(), 6);
        let err: Result<Vec<u8>, String> = Err(string(11));
        assert_eq!(err.deep_size_of_children(), 11);
    }

    #[test]
    fn tuples() {
        let t = (string(4), 7_u32, vec![0_u16; 5]);
        assert_eq!(t.deep_size_of_children(), 4 + 10);
        assert_eq!(t.deep_size_of(), size_of::<(String, u32, Vec<u16>)>() + 14);
        assert_eq!((1_u8,).deep_size_of_children(), 0);
        let twelve = (
            string(1),
            string(2),
            string(3),
            string(4),
            string(5),
            string(6),
            string(7),
            string(8),
            string(9),
            string(10),
            string(11),
            string(12),
        );
        assert_eq!(twelve.deep_size_of_children(), (1..=12).sum::<usize>());
    }

    #[test]
    fn arrays_and_slices() {
        let a = [string(1), string(2), string(3)];
        assert_eq!(a.deep_size_of_children(), 6);
        assert_eq!(a.deep_size_of(), 3 * STRING + 6);
        assert_eq!([0_u32; 8].deep_size_of(), 32);
        let empty: [String; 0] = [];
        assert_eq!(empty.deep_size_of(), 0);
        let slice: &[String] = &a[1..];
        assert_eq!(slice.deep_size_of_children(), 5);
        assert_eq!(slice.deep_size_of(), 2 * STRING + 5);
    }

    #[test]
    fn hash_map_estimate() {
        let mut map: HashMap<u64, String> = HashMap::new();
        assert_eq!(map.deep_size_of_children(), 0);
        map.insert(1, string(10));
        map.insert(2, string(20));
        let table = map.capacity() * (size_of::<(u64, String)>() + 1);
        assert!(map.capacity() >= 2);
        assert_eq!(map.deep_size_of_children(), table + 30);

        let map: HashMap<u32, u32> = HashMap::with_capacity(100);
        assert_eq!(map.deep_size_of_children(), map.capacity() * 9);
    }

    #[test]
    fn hash_map_growth_is_monotonic() {
        let mut map: HashMap<u32, Vec<u8>> = HashMap::new();
        let mut last = map.deep_size_of_children();
        for i in 0..2000_u32 {
            map.insert(i, vec![0; 3]);
            let now = map.deep_size_of_children();
            assert!(now > last, "size did not grow at {i}: {now} <= {last}");
            assert!(now >= map.len() * (size_of::<(u32, Vec<u8>)>() + 3));
            last = now;
        }
    }

    #[test]
    fn hash_set_estimate() {
        let mut set: HashSet<String> = HashSet::new();
        assert_eq!(set.deep_size_of_children(), 0);
        set.insert(string(5));
        assert_eq!(
            set.deep_size_of_children(),
            set.capacity() * (STRING + 1) + 5
        );
    }

    #[test]
    fn btree_estimate() {
        let mut map: BTreeMap<u64, u64> = BTreeMap::new();
        assert_eq!(map.deep_size_of_children(), 0);
        map.insert(1, 1);
        // One node: header plus 11 key/value slots.
        let header = USIZE + 4;
        assert_eq!(map.deep_size_of_children(), header + 11 * 16);

        let mut last = map.deep_size_of_children();
        for i in 2..2000 {
            map.insert(i, i);
            let now = map.deep_size_of_children();
            assert!(now >= last);
            assert!(now >= map.len() * 16);
            last = now;
        }
        // 2000 entries: 250 nodes, 41 of them counted as internal.
        assert_eq!(last, 250 * (header + 176) + 41 * 12 * USIZE);

        let mut strings: BTreeMap<u8, String> = BTreeMap::new();
        strings.insert(1, string(100));
        assert_eq!(
            strings.deep_size_of_children(),
            header + 11 * (1 + STRING) + 100
        );

        let set: BTreeSet<u32> = (0..8).collect();
        assert_eq!(set.deep_size_of_children(), header + 11 * 4);
    }

    #[test]
    fn other_collections() {
        let mut q: VecDeque<String> = VecDeque::with_capacity(4);
        q.push_back(string(3));
        assert_eq!(q.deep_size_of_children(), q.capacity() * STRING + 3);

        let mut heap: BinaryHeap<String> = BinaryHeap::with_capacity(4);
        heap.push(string(6));
        assert_eq!(heap.deep_size_of_children(), heap.capacity() * STRING + 6);

        let mut list: LinkedList<String> = LinkedList::new();
        list.push_back(string(2));
        list.push_back(string(5));
        assert_eq!(list.deep_size_of_children(), 2 * (2 * USIZE + STRING) + 7);
    }

    #[test]
    fn shared_pointers_count_once_per_handle() {
        let a = Arc::new(string(10));
        let one = 2 * USIZE + STRING + 10;
        assert_eq!(a.deep_size_of_children(), one);
        assert_eq!(a.deep_size_of(), USIZE + one);
        let handles = vec![Arc::clone(&a), Arc::clone(&a)];
        assert_eq!(handles.deep_size_of_children(), 2 * USIZE + 2 * one);

        let s: Arc<str> = Arc::from("hello");
        assert_eq!(s.deep_size_of_children(), 2 * USIZE + 5);

        let r = Rc::new(vec![0_u32; 4]);
        assert_eq!(
            r.deep_size_of_children(),
            2 * USIZE + size_of::<Vec<u32>>() + 16
        );
        let r: Rc<[u16]> = Rc::from(vec![1_u16, 2, 3]);
        assert_eq!(r.deep_size_of_children(), 2 * USIZE + 6);
    }

    #[test]
    fn cow() {
        let borrowed: Cow<'_, str> = Cow::Borrowed("abc");
        assert_eq!(borrowed.deep_size_of_children(), 0);
        let owned: Cow<'_, str> = Cow::Owned(string(12));
        assert_eq!(owned.deep_size_of_children(), 12);
        assert_eq!(owned.deep_size_of(), size_of::<Cow<'_, str>>() + 12);
        let slice: Cow<'_, [u32]> = Cow::Owned(Vec::with_capacity(3));
        assert_eq!(slice.deep_size_of_children(), 12);
    }

    #[test]
    fn os_and_path_strings() {
        let p = PathBuf::with_capacity(33);
        assert_eq!(p.deep_size_of_children(), p.capacity());
        let s = OsString::with_capacity(17);
        assert_eq!(s.deep_size_of_children(), s.capacity());
        let c = CString::new("hello").expect("no interior nul");
        assert_eq!(c.deep_size_of_children(), 6);
        assert_eq!(c.deep_size_of(), size_of::<CString>() + 6);
    }

    #[test]
    fn wrappers() {
        assert_eq!(Reverse(string(3)).deep_size_of_children(), 3);
        assert_eq!(Wrapping(1_u64).deep_size_of(), 8);
    }

    #[test]
    fn deeply_nested_mix() {
        let mut map: HashMap<String, Vec<Option<Box<str>>>> = HashMap::new();
        let mut values = Vec::with_capacity(3);
        values.push(Some(Box::<str>::from("xyz")));
        values.push(None);
        map.insert(string(4), values);
        let table = map.capacity() * (size_of::<(String, Vec<Option<Box<str>>>)>() + 1);
        let value = 3 * size_of::<Option<Box<str>>>() + 3;
        assert_eq!(map.deep_size_of_children(), table + 4 + value);
    }
}
