//! TTL and tag housekeeping on entries already cached: `touch` and
//! `touch_with_ttl`, `expire_at`, `add_tags`, and `tags_from_result` in
//! `#[memoize]`. A manual clock throughout: nothing sleeps.

use std::time::{Duration, SystemTime};

use cachelite::{Cache, ManualClock, Policy, memoize};

const SEC: Duration = Duration::from_secs(1);

fn manual() -> (ManualClock, Cache<&'static str, u32>) {
    let clock = ManualClock::new();
    (clock.clone(), Cache::builder().clock(clock).build())
}

#[test]
fn touch_refreshes_recency_without_counting_a_read() {
    for policy in [Policy::Lru, Policy::Lfu] {
        let c: Cache<u8, u8> = Cache::builder().max_items(2).policy(policy).build();
        c.insert(1, 1);
        c.insert(2, 2);
        assert!(c.touch(&1));
        assert!(c.touch(&1), "{policy:?}");
        c.insert(3, 3);
        assert!(c.contains_key(&1) && !c.contains_key(&2), "{policy:?}");
        let s = c.stats();
        assert_eq!((s.hits, s.misses), (0, 0));
    }
}

#[test]
fn touch_keeps_the_deadline_and_touch_with_ttl_slides_it() {
    let (clock, c) = manual();
    c.insert_with_ttl("a", 1, 10 * SEC);
    c.insert_with_ttl("b", 2, 10 * SEC);
    clock.advance(8 * SEC);
    assert!(c.touch("a"));
    assert!(c.touch_with_ttl("b", 10 * SEC));
    assert_eq!(c.ttl("a"), Some(2 * SEC));
    assert_eq!(c.ttl("b"), Some(10 * SEC));
    clock.advance(2 * SEC);
    assert_eq!((c.get("a"), c.get("b")), (None, Some(2)));
}

#[test]
fn touch_gives_a_ttl_to_an_entry_without_one() {
    let (clock, c) = manual();
    c.insert("a", 1);
    assert!(c.touch_with_ttl("a", SEC));
    clock.advance(SEC);
    assert_eq!(c.get("a"), None);
}

#[test]
fn touching_a_missing_or_expired_key_does_nothing() {
    let (clock, c) = manual();
    assert!(!c.touch("nope"));
    c.insert_with_ttl("a", 1, SEC);
    clock.advance(SEC);
    assert!(
        !c.touch_with_ttl("a", 60 * SEC),
        "an expired entry is not revived"
    );
    assert_eq!(c.get("a"), None);
}

#[test]
fn a_stale_entry_is_not_revived_by_touch() {
    let clock = ManualClock::new();
    let c: Cache<&str, u32> = Cache::builder()
        .clock(clock.clone())
        .stale_ttl(60 * SEC)
        .build();
    c.insert_with_ttl("a", 1, SEC);
    clock.advance(2 * SEC);
    assert!(!c.touch_with_ttl("a", 60 * SEC));
    assert_eq!(c.peek("a"), None);
}

#[test]
fn expire_at_sets_the_deadline_from_the_wall_clock() {
    let (clock, c) = manual();
    c.insert("a", 1);
    assert!(c.expire_at("a", SystemTime::now() + 100 * SEC));
    let left = c.ttl("a").unwrap();
    assert!(left <= 100 * SEC && left > 90 * SEC, "{left:?}");
    clock.advance(100 * SEC);
    assert_eq!(c.get("a"), None);
}

#[test]
fn expire_at_in_the_past_expires_at_once() {
    let (_, c) = manual();
    c.insert("a", 1);
    assert!(c.expire_at("a", SystemTime::now() - 5 * SEC));
    assert_eq!(c.get("a"), None);
    assert_eq!(c.stats().expirations, 1);
    assert!(!c.expire_at("a", SystemTime::now() + SEC), "gone");
}

#[test]
fn add_tags_adds_to_the_tags_an_entry_carries() {
    let (_, c) = manual();
    c.insert_with_tags("a", 1, ["x"]);
    c.insert("b", 2);
    assert!(c.add_tags("a", ["y", "x"]));
    assert!(c.add_tags("b", ["y"]));
    assert!(!c.add_tags("missing", ["y"]));
    assert_eq!(c.invalidate_tags(&["y"]), 2);
    assert!(c.is_empty());
}

#[test]
fn added_tags_leave_with_their_entry() {
    let (clock, c) = manual();
    c.insert_with_ttl("a", 1, SEC);
    c.add_tags("a", ["t"]);
    clock.advance(SEC);
    assert_eq!(c.sweep_expired(), 1);
    c.insert("a", 2);
    assert_eq!(
        c.invalidate_tags(&["t"]),
        0,
        "the new entry does not inherit them"
    );
    assert_eq!(c.get("a"), Some(2));
}

#[test]
fn added_tags_survive_a_later_touch_and_an_expired_entry_takes_none() {
    let (clock, c) = manual();
    c.insert_with_ttl("a", 1, SEC);
    clock.advance(SEC);
    assert!(!c.add_tags("a", ["t"]));
    c.insert("b", 1);
    c.add_tags("b", ["t"]);
    c.touch_with_ttl("b", SEC);
    assert_eq!(c.invalidate_tags(&["t"]), 1);
}

#[memoize(tags_from_result = |ids: &Vec<u64>| ids.iter().map(|id| format!("user:{id}")))]
fn team(team: u64) -> Vec<u64> {
    vec![team * 10, team * 10 + 1]
}

#[test]
fn tags_from_result_tags_each_entry_with_what_it_holds() {
    team(1);
    team(2);
    assert_eq!(team_cache().invalidate_tags(&["user:21"]), 1);
    assert_eq!(team_cache().invalidate_tags(&["user:21"]), 0);
    assert_eq!(team_cache().len(), 1);
}

#[memoize(
    tags = ["orders"],
    tags_from_result = |o: &Order| [format!("customer:{}", o.customer)],
)]
fn order(id: u64) -> Result<Order, String> {
    if id == 0 {
        return Err("no order 0".into());
    }
    Ok(Order { customer: id % 2 })
}

#[derive(Clone, Debug)]
struct Order {
    customer: u64,
}

#[test]
fn tags_from_result_sees_the_ok_value_and_adds_to_tags() {
    assert!(order(0).is_err(), "an Err is neither cached nor tagged");
    order(1).unwrap();
    order(2).unwrap();
    order(3).unwrap();
    assert_eq!(order_cache().invalidate_tags(&["customer:1"]), 2);
    assert_eq!(order_cache().invalidate_tags(&["orders"]), 1);
}

#[memoize(tags_from_result = |n: &u64| [format!("len:{n}")])]
async fn length(s: String) -> u64 {
    s.len() as u64
}

#[test]
fn tags_from_result_works_on_async_fns() {
    futures::executor::block_on(async {
        length("abc".into()).await;
        length("xyz".into()).await;
        length("ab".into()).await;
    });
    assert_eq!(length_cache().invalidate_tags(&["len:3"]), 2);
}

fn owner_tags(doc: &Doc) -> impl Iterator<Item = &str> + '_ {
    doc.owners.iter().map(String::as_str)
}

#[derive(Clone)]
struct Doc {
    owners: Vec<String>,
}

#[memoize(tags_from_result = owner_tags)]
fn doc(id: u64) -> Option<Doc> {
    (id > 0).then(|| Doc {
        owners: vec![format!("owner:{id}"), "owner:all".into()],
    })
}

#[test]
fn tags_from_result_takes_a_fn_whose_tags_borrow_from_the_value() {
    assert!(doc(0).is_none());
    doc(1);
    doc(2);
    assert_eq!(doc_cache().invalidate_tags(&["owner:2"]), 1);
    assert_eq!(doc_cache().invalidate_tags(&["owner:all"]), 1);
}
