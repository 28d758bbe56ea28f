//! `#[memoize]` expands inside modules that shadow `std`, `core`,
//! `cachelite` and the prelude's names, and inside a module with no prelude
//! at all: generated code names only `::cachelite::__private::...`, and its
//! local variables never clash with the user's.

mod shadowed {
    #![allow(dead_code, reason = "the shadowing names are never used")]

    mod std {}
    mod core {}
    mod cachelite {}

    // Every prelude name generated code could lean on, shadowed.
    struct Option;
    struct Some;
    struct None;
    struct Result;
    struct Ok;
    struct Err;
    struct String;
    struct Vec;
    struct Box;
    struct Clone;
    struct ToOwned;
    struct Send;
    struct Sync;
    struct Fn;
    struct FnOnce;
    struct Into;
    struct From;
    struct Duration;
    struct LazyLock;
    struct OnceLock;
    struct Pin;

    const TTL: u64 = 60;

    #[::cachelite::memoize(ttl = 60, capacity = 10, policy = "lfu", tags = ["t"])]
    pub(super) fn add(cache: u32, key: u32, out: u32) -> u32 {
        let ins = cache + key;
        ins + out
    }

    #[::cachelite::memoize]
    pub(super) fn name_len(name: &str) -> ::std::option::Option<usize> {
        let tags = name.len();
        (tags > 0).then_some(tags)
    }

    #[::cachelite::memoize(key = ::std::format!("{id}"), cache_err)]
    pub(super) async fn fetch(id: u32, future: &u32) -> ::std::result::Result<u32, u32> {
        if id == 0 {
            ::std::result::Result::Err(*future)
        } else {
            ::std::result::Result::Ok(id)
        }
    }

    pub(super) struct Thing;

    impl Thing {
        #[::cachelite::memoize]
        pub(super) fn triple(&self, x: u64) -> u64 {
            x * 3
        }

        #[::cachelite::memoize(ttl = TTL, policy = ::cachelite::Policy::Lfu, shared_across_instances)]
        pub(super) fn seen(&self, slot: u64) -> u64 {
            let _ = self;
            slot
        }

        #[::cachelite::memoize(ttl = "2m")]
        pub(super) fn boxed(
            x: u64,
        ) -> ::std::pin::Pin<
            ::std::boxed::Box<dyn ::std::future::Future<Output = u64> + ::std::marker::Send>,
        > {
            ::std::boxed::Box::pin(async move { x + 1 })
        }
    }
}

#[no_implicit_prelude]
mod bare {
    #[::cachelite::memoize(ttl = 1.5, max_items = 3)]
    pub(super) fn shout(s: &str) -> ::std::string::String {
        ::std::string::ToString::to_string(s) + "!"
    }

    #[::cachelite::memoize(key = ::std::format!("{x}"), tags = [::std::format!("x:{x}")])]
    pub(super) async fn half(x: u64) -> ::std::option::Option<u64> {
        if x.is_multiple_of(2) {
            ::std::option::Option::Some(x / 2)
        } else {
            ::std::option::Option::None
        }
    }
}

#[test]
fn shadowed_names_break_nothing() {
    assert_eq!(shadowed::add(1, 2, 3), 6);
    assert_eq!(shadowed::add(1, 2, 3), 6);
    assert_eq!(shadowed::add_cache_info().stats.hits, 1);
    assert_eq!(shadowed::name_len("abc"), Some(3));
    assert_eq!(shadowed::name_len_cache().get("abc"), Some(3));
    let zero = 7;
    assert_eq!(
        futures::executor::block_on(shadowed::fetch(0, &zero)),
        Err(7)
    );
    assert_eq!(shadowed::fetch_cache().get("0"), Some(Err(7)));
    assert_eq!(shadowed::Thing.triple(2), 6);
    assert_eq!(shadowed::Thing::triple_cache().get(&2), Some(6));
    assert_eq!(shadowed::Thing.seen(4), 4);
    assert_eq!(shadowed::Thing::seen_cache_info().stats.len, 1);
    assert_eq!(futures::executor::block_on(shadowed::Thing::boxed(1)), 2);
    assert_eq!(shadowed::Thing::boxed_cache().get(&1), Some(2));
}

#[test]
fn no_prelude_breaks_nothing() {
    assert_eq!(bare::shout("a"), "a!");
    assert_eq!(bare::shout_cache_info().config.max_items, Some(3));
    assert_eq!(futures::executor::block_on(bare::half(4)), Some(2));
    assert_eq!(bare::half_cache().invalidate_tags(&["x:4"]), 1);
}
