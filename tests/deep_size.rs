//! `#[derive(DeepSize)]` through the `cachelite` facade: structs of every
//! shape, enums, generics, `#[deep_size(skip)]` and nesting.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use cachelite::DeepSize;

const STRING: usize = size_of::<String>();
const VEC: usize = size_of::<Vec<String>>();

/// A `String` holding `text` with exactly `capacity` bytes of heap.
fn string(text: &str, capacity: usize) -> String {
    let mut s = String::with_capacity(capacity);
    s.push_str(text);
    assert_eq!(
        s.capacity(),
        capacity,
        "allocator gave a different capacity"
    );
    s
}

#[derive(DeepSize)]
struct User {
    name: String,
    tags: Vec<String>,
    age: u32,
}

fn user(name: &str, tags: &[&str]) -> User {
    let mut list = Vec::with_capacity(tags.len());
    list.extend(tags.iter().map(|tag| string(tag, tag.len())));
    User {
        name: string(name, name.len()),
        tags: list,
        age: 30,
    }
}

#[test]
fn named_struct_sums_field_children() {
    let u = user("alice", &["a", "bc"]);
    assert_eq!(u.age, 30);
    let children = 5 + 2 * STRING + 1 + 2;
    assert_eq!(u.deep_size_of_children(), children);
    assert_eq!(u.deep_size_of(), size_of::<User>() + children);
}

#[cfg(target_pointer_width = "64")]
#[test]
fn named_struct_exact_numbers_on_64_bit() {
    let u = user("alice", &["a", "bc"]);
    // name: 5, tags buffer: 2 * 24, tags' strings: 1 + 2.
    assert_eq!(u.deep_size_of_children(), 56);
    // User itself: String (24) + Vec (24) + u32 (4), padded to 56.
    assert_eq!(size_of::<User>(), 56);
    assert_eq!(u.deep_size_of(), 112);
}

#[test]
fn spare_capacity_is_counted() {
    let mut tags = Vec::with_capacity(8);
    tags.push(string("x", 16));
    let u = User {
        name: string("", 32),
        tags,
        age: 1,
    };
    assert_eq!(u.deep_size_of_children(), 32 + 8 * STRING + 16);
}

#[derive(DeepSize)]
struct Point(u64, u64);

#[derive(DeepSize)]
struct Label(String, #[deep_size(skip)] String);

#[derive(DeepSize)]
struct Marker;

#[derive(DeepSize)]
struct Empty {}

#[test]
fn tuple_and_unit_structs() {
    let p = Point(1, 2);
    assert_eq!(p.0 + p.1, 3);
    assert_eq!(p.deep_size_of_children(), 0);
    assert_eq!(p.deep_size_of(), 16);

    let label = Label(string("shown", 8), string("hidden", 100));
    assert_eq!(label.1.len(), 6);
    assert_eq!(label.deep_size_of_children(), 8);

    assert_eq!(Marker.deep_size_of(), 0);
    assert_eq!(Empty {}.deep_size_of(), 0);
}

#[derive(DeepSize)]
enum Message {
    Ping,
    Text(String),
    Batch(Vec<String>, u32),
    Move { x: i32, y: i32 },
    Rename { from: String, to: String },
    Unit(),
}

#[test]
fn enum_matches_the_active_variant() {
    assert_eq!(Message::Ping.deep_size_of_children(), 0);
    assert_eq!(Message::Unit().deep_size_of_children(), 0);
    assert_eq!(Message::Move { x: 1, y: 2 }.deep_size_of_children(), 0);
    assert_eq!(Message::Text(string("hi", 10)).deep_size_of_children(), 10);

    let batch = Message::Batch(vec![string("a", 3), string("b", 4)], 2);
    assert_eq!(batch.deep_size_of_children(), 2 * STRING + 7);

    let rename = Message::Rename {
        from: string("old", 3),
        to: string("new", 6),
    };
    assert_eq!(rename.deep_size_of_children(), 9);
    assert_eq!(rename.deep_size_of(), size_of::<Message>() + 9);

    if let Message::Move { x, y } = (Message::Move { x: 3, y: 4 }) {
        assert_eq!(x + y, 7);
    }
}

#[derive(DeepSize)]
enum Never {}

#[test]
fn empty_enum_compiles() {
    fn assert_deep_size<T: DeepSize>() {}
    assert_deep_size::<Never>();
}

#[derive(DeepSize)]
struct Pair<T> {
    left: T,
    right: T,
}

#[derive(DeepSize)]
struct Buffer<'a, T, const N: usize>
where
    T: Clone,
{
    items: [T; N],
    label: &'a str,
}

#[derive(DeepSize)]
enum Tree<T> {
    Leaf(T),
    Node(Box<Tree<T>>, Box<Tree<T>>),
}

#[test]
fn generic_struct() {
    let pair = Pair {
        left: string("l", 5),
        right: string("r", 7),
    };
    assert_eq!(pair.deep_size_of_children(), 12);
    assert_eq!(pair.deep_size_of(), 2 * STRING + 12);

    let numbers = Pair {
        left: 1_u8,
        right: 2,
    };
    assert_eq!(numbers.left + numbers.right, 3);
    assert_eq!(numbers.deep_size_of(), 2);
}

#[test]
fn generic_with_lifetime_const_and_where_clause() {
    let text = String::from("borrowed, not owned");
    let buffer = Buffer {
        items: [string("a", 2), string("b", 3), string("c", 4)],
        label: &text,
    };
    assert_eq!(buffer.label.len(), 19);
    // The borrowed label owns nothing.
    assert_eq!(buffer.deep_size_of_children(), 9);
    assert_eq!(buffer.deep_size_of(), 3 * STRING + size_of::<&str>() + 9);
}

#[test]
fn recursive_generic_enum() {
    let tree = Tree::Node(
        Box::new(Tree::Leaf(string("a", 10))),
        Box::new(Tree::Node(
            Box::new(Tree::Leaf(string("b", 20))),
            Box::new(Tree::Leaf(string("c", 30))),
        )),
    );
    let node = size_of::<Tree<String>>();
    // Four boxed nodes below the root, plus the three strings.
    assert_eq!(tree.deep_size_of_children(), 4 * node + 60);
}

/// Does not implement `DeepSize`.
struct Handle {
    id: u64,
}

#[derive(DeepSize)]
struct Session {
    user: String,
    #[deep_size(skip)]
    handle: Handle,
    #[deep_size(skip)]
    scratch: Vec<u8>,
}

#[derive(DeepSize)]
enum Connection {
    Open {
        peer: String,
        #[deep_size(skip)]
        handle: Handle,
    },
    Pooled(#[deep_size(skip)] Handle, u16),
    Closed,
}

#[test]
fn skipped_fields_contribute_nothing() {
    let session = Session {
        user: string("bob", 3),
        handle: Handle { id: 7 },
        scratch: Vec::with_capacity(1024),
    };
    assert_eq!(session.handle.id, 7);
    assert_eq!(session.scratch.capacity(), 1024);
    assert_eq!(session.deep_size_of_children(), 3);
    assert_eq!(session.deep_size_of(), size_of::<Session>() + 3);

    let open = Connection::Open {
        peer: string("peer", 4),
        handle: Handle { id: 1 },
    };
    assert_eq!(open.deep_size_of_children(), 4);
    let pooled = Connection::Pooled(Handle { id: 2 }, 3);
    assert_eq!(pooled.deep_size_of_children(), 0);
    assert_eq!(Connection::Closed.deep_size_of_children(), 0);
    for connection in [open, pooled] {
        if let Connection::Open { handle, .. } | Connection::Pooled(handle, _) = connection {
            assert!(handle.id > 0);
        }
    }
}

#[derive(DeepSize)]
struct Team {
    lead: User,
    members: Vec<User>,
    by_name: HashMap<String, u32>,
}

#[test]
fn nested_derived_structs() {
    let lead = user("ann", &["x"]);
    let lead_children = 3 + STRING + 1;
    let mut members = Vec::with_capacity(2);
    members.push(user("bo", &[]));
    let member_children = 2;
    let mut by_name = HashMap::new();
    by_name.insert(string("ann", 3), 1);
    let table = by_name.capacity() * (size_of::<(String, u32)>() + 1);

    let team = Team {
        lead,
        members,
        by_name,
    };
    let expected = lead_children + 2 * size_of::<User>() + member_children + table + 3;
    assert_eq!(team.deep_size_of_children(), expected);
    assert_eq!(team.deep_size_of(), size_of::<Team>() + expected);
}

#[test]
fn derived_types_compose_with_std_impls() {
    let shared = Arc::new(user("eve", &[]));
    assert_eq!(
        shared.deep_size_of_children(),
        2 * size_of::<usize>() + size_of::<User>() + 3
    );

    let maybe: Option<Box<Message>> = Some(Box::new(Message::Text(string("t", 5))));
    assert_eq!(maybe.deep_size_of_children(), size_of::<Message>() + 5);

    let list: Vec<Pair<Vec<String>>> = vec![Pair {
        left: vec![string("a", 1)],
        right: Vec::new(),
    }];
    assert_eq!(list.deep_size_of_children(), 2 * VEC + STRING + 1);
}

/// The derive names the trait by its full path, so the trait need not be in
/// scope, and local items named like std's do not interfere.
mod without_imports {
    #![allow(dead_code)]

    pub(super) struct DeepSize;
    struct String;
    mod core {}
    mod std {}

    #[derive(cachelite::DeepSize)]
    pub(super) struct Plain {
        pub(super) text: ::std::string::String,
        pub(super) marker: ::std::marker::PhantomData<DeepSize>,
        pub(super) other: Option<u8>,
    }

    #[derive(cachelite::DeepSize)]
    pub(super) enum Choice<T> {
        One(T),
        Two { a: T, b: T },
    }
}

#[test]
fn derive_needs_no_imports() {
    let plain = without_imports::Plain {
        text: string("abc", 12),
        marker: PhantomData,
        other: None,
    };
    assert!(plain.other.is_none());
    assert_eq!(plain.deep_size_of_children(), 12);

    let two = without_imports::Choice::Two {
        a: string("a", 1),
        b: string("b", 2),
    };
    assert_eq!(two.deep_size_of_children(), 3);
    let one = without_imports::Choice::One(string("c", 4));
    assert_eq!(one.deep_size_of_children(), 4);
}

/// The generated impls must not trip clippy's pedantic lints in user code.
#[deny(clippy::pedantic)]
mod pedantic {
    #![allow(dead_code)]

    use cachelite::DeepSize;

    #[derive(DeepSize)]
    struct Named {
        a: String,
        #[deep_size(skip)]
        b: u8,
    }

    #[derive(DeepSize)]
    struct Tuple(String, u8);

    #[derive(DeepSize)]
    struct Unit;

    #[derive(DeepSize)]
    enum Shapes<T> {
        A,
        B(T),
        C { x: T, _y: u8 },
        D(#[deep_size(skip)] u8),
    }
}
