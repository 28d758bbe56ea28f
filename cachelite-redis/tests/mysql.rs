//! The MySQL/MariaDB store against a real server (`CACHELITE_MYSQL_URL`).
#![cfg(feature = "mysql")]

#[path = "support/sql.rs"]
mod sql;
mod support;

use std::time::Duration;

use cachelite_redis::{Error, Event, Feed, MySqlStore, Put, Store};

fn origin_of(ev: &Event) -> u64 {
    match ev {
        Event::Message(m) => m.origin,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Writes announced from this origin.
const ME: Put = Put::Announce { origin: 1 };
use mysql_async::prelude::Queryable;
use sql::{PATIENT, namespace, until, with_cleanup};

fn builder(url: &str, ns: &str) -> cachelite_redis::MySqlStoreBuilder {
    MySqlStore::builder(url)
        .namespace(ns)
        .connect_timeout(PATIENT)
        .response_timeout(PATIENT)
}

/// `CACHELITE_MYSQL_URL`, with its database created if it is missing;
/// `None` (after a message, or a failure when required) when the variable
/// is unset or the server unreachable.
async fn mysql_url() -> Option<String> {
    let url = sql::url("CACHELITE_MYSQL_URL")?;
    let opts = match mysql_async::Opts::from_url(&url) {
        Ok(o) => o,
        Err(e) => panic!("CACHELITE_MYSQL_URL: {e}"),
    };
    if let Some(db) = opts.db_name() {
        let server = mysql_async::OptsBuilder::from_opts(opts.clone()).db_name(None::<String>);
        let created = async {
            let mut c = mysql_async::Conn::new(server).await?;
            c.query_drop(format!(
                "CREATE DATABASE IF NOT EXISTS `{}`",
                db.replace('`', "``")
            ))
            .await?;
            c.disconnect().await
        };
        if let Err(e) = created.await {
            sql::unreachable("MySQL", &e);
            return None;
        }
    }
    Some(url)
}

/// A raw connection, to look at the tables and break connections.
async fn raw(url: &str) -> mysql_async::Conn {
    mysql_async::Conn::from_url(url)
        .await
        .expect("a raw connection")
}

/// Runs `body` with a store in a fresh namespace, then drops its tables.
/// Skips (or fails, when required) without a reachable server.
async fn with_store<F, Fut>(
    test: &str,
    configure: fn(cachelite_redis::MySqlStoreBuilder) -> cachelite_redis::MySqlStoreBuilder,
    body: F,
) where
    F: FnOnce(String, MySqlStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(url) = mysql_url().await else {
        return;
    };
    let store = configure(builder(&url, &namespace(test))).build().unwrap();
    if let Err(e) = store.ping().await {
        sql::unreachable("MySQL", &e);
        return;
    }
    let cleanup = store.clone();
    with_cleanup(body(url, store), async move {
        cleanup.drop_tables().await.expect("drop the test's tables");
    })
    .await;
}

fn same(b: cachelite_redis::MySqlStoreBuilder) -> cachelite_redis::MySqlStoreBuilder {
    b
}

async fn count_rows(url: &str, table: &str) -> i64 {
    let mut c = raw(url).await;
    let n: Option<i64> = c
        .query_first(format!("SELECT count(*) FROM {table}"))
        .await
        .unwrap();
    n.unwrap()
}

#[tokio::test]
async fn entries_round_trip_and_expire() {
    with_store("roundtrip", same, async |url, s| {
        assert_eq!(s.get("a").await.unwrap(), None);
        assert!(s.put("a", b"one".to_vec(), None, &[], ME).await.unwrap());
        assert_eq!(s.get("a").await.unwrap().as_deref(), Some(&b"one"[..]));
        assert!(s.put("a", b"two".to_vec(), None, &[], ME).await.unwrap());
        assert_eq!(s.get("a").await.unwrap().as_deref(), Some(&b"two"[..]));
        // Any text is a key, and binary values stay as they are.
        let odd = "ü'; DROP TABLE x; --%_\\";
        let bytes: Vec<u8> = (0..=255).collect();
        s.put(odd, bytes.clone(), None, &[], ME).await.unwrap();
        assert_eq!(s.get(odd).await.unwrap(), Some(bytes));
        // An expired row reads as absent and is deleted by the read.
        s.put(
            "short",
            b"x".to_vec(),
            Some(Duration::from_millis(30)),
            &[],
            ME,
        )
        .await
        .unwrap();
        until(5, "the entry expired", async || {
            s.get("short").await.unwrap().is_none()
        })
        .await;
        let left: Option<i64> = raw(&url)
            .await
            .query_first(format!(
                "SELECT count(*) FROM {} WHERE k = 'short'",
                s.table()
            ))
            .await
            .unwrap();
        let left = left.unwrap();
        assert_eq!(left, 0, "an expired row is deleted when read");
        let many = s
            .get_many(&["a".into(), "missing".into(), odd.into()])
            .await
            .unwrap();
        assert_eq!(many[0].as_deref(), Some(&b"two"[..]));
        assert_eq!(many[1], None);
        assert!(many[2].is_some());
        assert!(s.remove("a", 1).await.unwrap());
        assert!(!s.remove("a", 1).await.unwrap());
        assert_eq!(s.get("a").await.unwrap(), None);
        // Keys over the limit are errors on writes, misses on reads.
        let long = "k".repeat(3000);
        assert!(matches!(
            s.put(&long, vec![1], None, &[], ME).await,
            Err(Error::Key(_))
        ));
        assert_eq!(s.get(&long).await.unwrap(), None);
        let now = s.now_ms().await.unwrap();
        let local = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(now.abs_diff(local) < 60_000, "{now} vs {local}");
    })
    .await;
}

#[tokio::test]
async fn put_if_absent_stores_over_nothing_or_an_expired_row_only() {
    with_store("ifabsent", same, async |_url, s| {
        assert!(
            s.put("k", b"first".to_vec(), None, &["t1".into()], Put::IfAbsent)
                .await
                .unwrap()
        );
        assert!(
            !s.put("k", b"second".to_vec(), None, &[], Put::IfAbsent)
                .await
                .unwrap()
        );
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"first"[..]));
        s.put(
            "e",
            b"old".to_vec(),
            Some(Duration::from_millis(20)),
            &["old".into()],
            ME,
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(
            s.put("e", b"new".to_vec(), None, &["new".into()], Put::IfAbsent)
                .await
                .unwrap()
        );
        assert_eq!(s.get("e").await.unwrap().as_deref(), Some(&b"new"[..]));
        // The expired row's tags went with it.
        assert_eq!(s.invalidate_tags(&["old".into()], 1).await.unwrap(), 0);
        assert_eq!(s.get("e").await.unwrap().as_deref(), Some(&b"new"[..]));
        assert_eq!(s.invalidate_tags(&["new".into()], 1).await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn tags_globs_and_clear_stay_inside_the_namespace() {
    let other_ns = namespace("other");
    with_store("tags", same, async |url, s| {
        let other = builder(&url, &other_ns).build().unwrap();
        let guard = other.clone();
        with_cleanup(
            async {
                let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
                s.put("p:1", vec![1], None, &t(&["u:7", "posts"]), ME)
                    .await
                    .unwrap();
                s.put("p:2", vec![2], None, &t(&["u:8"]), ME).await.unwrap();
                s.put("p:3", vec![3], None, &[], ME).await.unwrap();
                other
                    .put("p:1", vec![9], None, &t(&["u:7"]), ME)
                    .await
                    .unwrap();
                // An overwrite replaces the tags.
                s.put("p:2", vec![2], None, &t(&["u:9"]), ME).await.unwrap();
                assert_eq!(s.invalidate_tags(&t(&["u:8"]), 1).await.unwrap(), 0);
                assert_eq!(s.invalidate_tags(&t(&["u:7", "u:9"]), 1).await.unwrap(), 2);
                assert_eq!(s.get("p:1").await.unwrap(), None);
                assert_eq!(s.get("p:2").await.unwrap(), None);
                assert!(s.get("p:3").await.unwrap().is_some());
                assert!(
                    other.get("p:1").await.unwrap().is_some(),
                    "another namespace"
                );
                assert_eq!(count_rows(&url, &format!("{}_tags", s.table())).await, 0);

                for k in ["user:1", "user:2", "user%1", "user_1", "users", "post:1"] {
                    s.put(k, vec![0], None, &[], ME).await.unwrap();
                }
                other.put("user:1", vec![0], None, &[], ME).await.unwrap();
                assert_eq!(s.invalidate_glob("user:*", 1).await.unwrap(), 2);
                assert_eq!(s.invalidate_glob("user%*", 1).await.unwrap(), 1);
                assert_eq!(s.invalidate_glob("user?1", 1).await.unwrap(), 1);
                assert!(s.get("users").await.unwrap().is_some());
                assert!(s.get("post:1").await.unwrap().is_some());
                assert!(
                    other.get("user:1").await.unwrap().is_some(),
                    "another namespace"
                );

                s.incr("n", 1, None).await.unwrap();
                let cleared = s.clear(1).await.unwrap();
                assert_eq!(cleared, 4, "users, post:1, p:3 and the counter");
                assert_eq!(s.get("post:1").await.unwrap(), None);
                assert_eq!(s.incr("n", 1, None).await.unwrap(), 1);
                assert!(
                    other.get("user:1").await.unwrap().is_some(),
                    "another namespace"
                );
            },
            async move {
                guard.drop_tables().await.unwrap();
            },
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn counters_add_atomically_and_expire_from_creation() {
    with_store("incr", same, async |_url, s| {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..25 {
                    s.incr("hits", 1, Some(Duration::from_secs(60)))
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(s.incr("hits", 0, None).await.unwrap(), 200);
        assert_eq!(s.incr("hits", -50, None).await.unwrap(), 150);
        // The TTL is set on creation only: later calls keep it.
        assert_eq!(
            s.incr("c", 5, Some(Duration::from_millis(150)))
                .await
                .unwrap(),
            5
        );
        assert_eq!(
            s.incr("c", 1, Some(Duration::from_secs(60))).await.unwrap(),
            6
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            s.incr("c", 1, None).await.unwrap(),
            1,
            "expired: started again"
        );
        // Counters are not entries.
        assert_eq!(s.get("c").await.unwrap(), None);
        s.incr("big", i64::MAX, None).await.unwrap();
        assert!(matches!(s.incr("big", 1, None).await, Err(Error::Store(_))));
        assert!(s.remove("c", 1).await.is_ok());
        assert_eq!(
            s.incr("c", 2, None).await.unwrap(),
            2,
            "remove deleted the counter"
        );
    })
    .await;
}

#[tokio::test]
async fn expired_rows_are_swept_in_the_background() {
    fn fast(b: cachelite_redis::MySqlStoreBuilder) -> cachelite_redis::MySqlStoreBuilder {
        b.sweep_interval(Duration::from_millis(50))
    }
    with_store("sweep", fast, async |url, s| {
        for i in 0..20 {
            s.put(
                &format!("k{i}"),
                vec![0],
                Some(Duration::from_millis(20)),
                &["t".into()],
                ME,
            )
            .await
            .unwrap();
        }
        s.put("forever", vec![0], None, &[], ME).await.unwrap();
        s.incr("n", 1, Some(Duration::from_millis(20)))
            .await
            .unwrap();
        let table = s.table().to_owned();
        until(10, "the sweep deleted the expired rows", async || {
            count_rows(&url, &table).await == 1
                && count_rows(&url, &format!("{table}_counters")).await == 0
        })
        .await;
        assert_eq!(count_rows(&url, &format!("{table}_tags")).await, 0);
        assert!(s.get("forever").await.unwrap().is_some());
        assert_eq!(s.sweep().await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn leases_are_exclusive_until_released_or_expired() {
    with_store("leases", same, async |_url, s| {
        let t = s
            .try_lease("k", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            s.try_lease("k", Duration::from_secs(60)).await.unwrap(),
            None
        );
        assert_eq!(s.poll_lease("k").await.unwrap(), (None, true));
        s.put("k", b"v".to_vec(), None, &[], Put::IfAbsent)
            .await
            .unwrap();
        s.release_lease("k", "not the token").await.unwrap();
        assert_eq!(
            s.poll_lease("k").await.unwrap(),
            (Some(b"v".to_vec()), true)
        );
        s.release_lease("k", &t).await.unwrap();
        assert!(!s.poll_lease("k").await.unwrap().1);
        assert!(
            s.try_lease("k", Duration::from_millis(20))
                .await
                .unwrap()
                .is_some()
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(
            s.try_lease("k", Duration::from_secs(1))
                .await
                .unwrap()
                .is_some(),
            "expired"
        );
    })
    .await;
}

async fn next_message(feed: &mut cachelite_redis::MySqlFeed) -> Event {
    tokio::time::timeout(PATIENT, feed.next())
        .await
        .expect("an event in time")
}

#[tokio::test]
async fn announcements_reach_pollers_and_a_gap_is_a_disconnection() {
    with_store("notify", same, async |url, s| {
        let writer = MySqlStore::builder(&url)
            .namespace(s.namespace())
            .connect_timeout(PATIENT)
            .response_timeout(PATIENT)
            .build()
            .unwrap();
        let mut feed = s.subscribe(Duration::from_millis(50));
        assert_eq!(next_message(&mut feed).await, Event::Connected);
        writer
            .put("a", vec![1], None, &[], Put::Announce { origin: 42 })
            .await
            .unwrap();
        let m = next_message(&mut feed).await;
        assert_eq!(origin_of(&m), 42);
        // Unannounced: a store-if-absent. The next event is the removal.
        writer
            .put("b", vec![1], None, &[], Put::IfAbsent)
            .await
            .unwrap();
        writer.remove("a", 43).await.unwrap();
        let m = next_message(&mut feed).await;
        assert_eq!(origin_of(&m), 43);
        // Many tags: split across payloads, every tag announced.
        let tags: Vec<String> = (0..2000).map(|i| format!("tag:{i:04}")).collect();
        writer.invalidate_tags(&tags, 44).await.unwrap();
        let mut seen = 0;
        while seen < tags.len() {
            let m = next_message(&mut feed).await;
            assert_eq!(origin_of(&m), 44);
            let dbg = format!("{m:?}");
            seen += dbg.matches("tag:").count();
        }
        assert_eq!(seen, tags.len());
        writer.invalidate_glob("x*", 45).await.unwrap();
        assert_eq!(origin_of(&next_message(&mut feed).await), 45);
        writer.clear(46).await.unwrap();
        assert_eq!(origin_of(&next_message(&mut feed).await), 46);

        // The log trimmed past what the feed has seen: a gap, so the feed
        // reports a disconnection (the local tier is cleared), then resumes.
        let trimmer = MySqlStore::builder(&url)
            .namespace(s.namespace())
            .connect_timeout(PATIENT)
            .response_timeout(PATIENT)
            .changes_retention(Duration::from_millis(1))
            .build()
            .unwrap();
        writer.remove("y", 48).await.unwrap();
        writer.remove("y", 49).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(trimmer.sweep().await.unwrap() >= 2);
        assert_eq!(next_message(&mut feed).await, Event::Disconnected);
        assert_eq!(next_message(&mut feed).await, Event::Connected);
        writer.remove("z", 47).await.unwrap();
        assert_eq!(origin_of(&next_message(&mut feed).await), 47);
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_and_opens_the_breaker() {
    let s = MySqlStore::builder("mysql://root@127.0.0.1:1/test")
        .connect_timeout(Duration::from_millis(200))
        .circuit_breaker(2, Duration::from_secs(60))
        .build()
        .unwrap();
    let start = std::time::Instant::now();
    assert!(s.get("k").await.is_err());
    assert!(s.get("k").await.is_err());
    assert!(matches!(s.get("k").await, Err(Error::Unavailable)));
    assert!(s.is_breaker_open());
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(s.stats().skipped, 1);
}

/// `url` with its database replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let cut = base
        .rfind('/')
        .filter(|&i| i > "mysql://".len())
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..cut]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[tokio::test]
async fn a_killed_poller_connection_is_a_disconnection_until_it_is_back() {
    let Some(url) = mysql_url().await else {
        return;
    };
    // A database of its own, so that this test's connections are told
    // apart from other tests' ones by the process list.
    let db = format!(
        "cachelite_kill_{}_{}",
        std::process::id(),
        fastrand::u32(..)
    );
    let mut admin = match mysql_async::Conn::from_url(url.as_str()).await {
        Ok(c) => c,
        Err(e) => {
            sql::unreachable("MySQL", &e);
            return;
        }
    };
    admin
        .query_drop(format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let own_url = with_database(&url, &db);
    let body = async {
        let s = builder(&own_url, &namespace("kill")).build().unwrap();
        let mut feed = s.subscribe(Duration::from_millis(50));
        assert_eq!(next_message(&mut feed).await, Event::Connected);
        let ids: Vec<u64> = raw(&url)
            .await
            .exec(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ?",
                (db.as_str(),),
            )
            .await
            .unwrap();
        assert!(!ids.is_empty());
        let mut killer = raw(&url).await;
        for id in ids {
            killer
                .query_drop(format!("KILL CONNECTION {id}"))
                .await
                .unwrap();
        }
        assert_eq!(next_message(&mut feed).await, Event::Disconnected);
        assert_eq!(next_message(&mut feed).await, Event::Connected);
        s.remove("k", 50).await.unwrap();
        assert_eq!(origin_of(&next_message(&mut feed).await), 50);
    };
    with_cleanup(body, async {
        admin
            .query_drop(format!("DROP DATABASE {db}"))
            .await
            .unwrap();
    })
    .await;
}

// ---- the shared conformance suite (tests/support/suite.rs) ----

/// Runs a suite function over stores of this server, then drops the
/// tables of every namespace it made.
async fn conformance<F, Fut>(run: F)
where
    F: FnOnce(std::sync::Arc<std::sync::Mutex<Vec<MySqlStore>>>, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(url) = mysql_url().await else {
        return;
    };
    let probe = builder(&url, &namespace("probe")).build().unwrap();
    let reached = probe.ping().await;
    let _ = probe.drop_tables().await;
    if let Err(e) = reached {
        sql::unreachable("the database", &e);
        return;
    }
    let made = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let cleanup = std::sync::Arc::clone(&made);
    with_cleanup(run(made, url), async move {
        let stores: Vec<MySqlStore> = cleanup.lock().unwrap().drain(..).collect();
        for s in stores {
            s.drop_tables().await.expect("drop the test's tables");
        }
    })
    .await;
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            conformance(async |made, url| {
                support::suite::$name(async |ns: &str| {
                    let s = builder(&url, ns).build().unwrap();
                    made.lock().unwrap().push(s.clone());
                    s
                })
                .await;
            })
            .await;
        }
    )*};
}

mod suite {
    use super::*;

    conformance!(
        shared_values,
        invalidations_reach_the_other_local_tier,
        namespaces_are_isolated,
        sub_second_ttls,
        corrupt_values_are_misses,
        get_many,
        counters,
    );
}

// ---- the two-tier cache over this store ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_reaches_the_other_processes_local_tier_in_bounded_time() {
    with_store("l1", same, async |url, s| {
        let other = builder(&url, s.namespace()).build().unwrap();
        let a: cachelite_redis::TieredCache<str, String, MySqlStore> =
            support::suite::tiered(s.clone(), None).await;
        let b: cachelite_redis::TieredCache<str, String, MySqlStore> =
            support::suite::tiered(other, None).await;
        a.insert("k", "v1".into()).await.unwrap();
        assert_eq!(b.get("k").await.as_deref(), Some("v1"));
        until(10, "b holds k locally", async || {
            b.get("k").await.is_some() && b.local().contains_key("k")
        })
        .await;
        let written = std::time::Instant::now();
        a.insert("k", "v2".into()).await.unwrap();
        until(5, "the write reaches b's local tier", async || {
            !b.local().contains_key("k")
        })
        .await;
        let took = written.elapsed();
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert_eq!(b.get("k").await.as_deref(), Some("v2"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_poller_clears_and_bypasses_the_local_tier_until_it_is_back() {
    let Some(url) = mysql_url().await else {
        return;
    };
    let db = format!(
        "cachelite_tkill_{}_{}",
        std::process::id(),
        fastrand::u32(..)
    );
    let mut admin = match mysql_async::Conn::from_url(url.as_str()).await {
        Ok(c) => c,
        Err(e) => {
            sql::unreachable("MySQL", &e);
            return;
        }
    };
    admin
        .query_drop(format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let own_url = with_database(&url, &db);
    let body = async {
        let s = builder(&own_url, &namespace("tiered-kill"))
            .build()
            .unwrap();
        let c: cachelite_redis::TieredCache<str, String, MySqlStore> =
            support::suite::tiered(s.clone(), None).await;
        c.insert("k", "v".into()).await.unwrap();
        until(10, "k is held locally", async || {
            c.get("k").await.is_some() && c.local().contains_key("k")
        })
        .await;
        let ids: Vec<u64> = raw(&url)
            .await
            .exec(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ?",
                (db.as_str(),),
            )
            .await
            .unwrap();
        let mut killer = raw(&url).await;
        for id in ids {
            killer
                .query_drop(format!("KILL CONNECTION {id}"))
                .await
                .unwrap();
        }
        // The feed may be back within milliseconds: the count of lost
        // connections is what shows it went.
        until(10, "the loss is seen", async || c.stats().disconnects >= 1).await;
        assert!(!c.local().contains_key("k"), "cleared");
        until(10, "the poller is back", async || c.is_local_active()).await;
        until(10, "k is held locally again", async || {
            c.get("k").await.is_some() && c.local().contains_key("k")
        })
        .await;
    };
    with_cleanup(body, async {
        admin
            .query_drop(format!("DROP DATABASE {db}"))
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_and_encrypted_values_round_trip_and_stay_bound_to_their_key() {
    fn layered(b: cachelite_redis::MySqlStoreBuilder) -> cachelite_redis::MySqlStoreBuilder {
        b.compression(cachelite_redis::Compression::Lz4 { min_bytes: 16 })
            .encryption(cachelite_redis::Keyring::new(1, [7; 32]))
    }
    with_store("layers", layered, async |_url, s| {
        let c: cachelite_redis::TieredCache<str, String, MySqlStore> =
            cachelite_redis::TieredCache::builder(s.clone())
                .build()
                .unwrap();
        let long = "x".repeat(1000);
        c.insert("a", long.clone()).await.unwrap();
        assert_eq!(c.get("a").await.as_deref(), Some(long.as_str()));
        let stored = Store::get(&s, "a").await.unwrap().unwrap();
        assert!(stored.len() < 500, "compressed: {} bytes", stored.len());
        // Copied to another key, it does not decrypt: a miss, counted.
        Store::put(&s, "b", stored, None, &[], ME).await.unwrap();
        let errors = c.stats().errors;
        assert_eq!(c.get("b").await, None);
        assert!(c.stats().errors > errors);
        assert_eq!(Store::get(&s, "b").await.unwrap(), None, "and deleted");
    })
    .await;
}

/// `#[memoize(store = ..)]` over this store: two fns sharing one namespace
/// share results, and an invalidation through one reaches the other.
#[tokio::test(flavor = "current_thread")]
async fn memoized_fns_share_results_through_the_database() {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static URL: LazyLock<Option<String>> = LazyLock::new(|| sql::url("CACHELITE_MYSQL_URL"));
    static STORE: LazyLock<MySqlStore> = LazyLock::new(|| {
        let url = URL.clone().unwrap_or_default();
        builder(&url, &namespace("memoize")).build().unwrap()
    });
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[cachelite::memoize(ttl = 60, store = STORE, local(capacity = 100))]
    async fn cube_here(n: u64) -> u64 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        n * n * n
    }
    #[cachelite::memoize(ttl = 60, store = STORE, local(capacity = 100))]
    async fn cube_there(n: u64) -> u64 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        n * n * n + 1000
    }

    if URL.is_none() {
        return;
    }
    if let Err(e) = STORE.ping().await {
        sql::unreachable("MySQL", &e);
        return;
    }
    let store = STORE.clone();
    with_cleanup(
        async {
            assert_eq!(cube_here(3).await, 27);
            assert_eq!(
                cube_there(3).await,
                27,
                "read from the database, not computed"
            );
            assert_eq!(CALLS.load(Ordering::SeqCst), 1);
            assert_eq!(cube_there_cache_info().l2_hits, 1);
            assert!(cube_here_cache_invalidate(3).await.unwrap());
            until(10, "the other fn computes again", async || {
                cube_there(3).await == 1027
            })
            .await;
            assert_eq!(cube_here(3).await, 1027, "the other fn's value");
        },
        async move {
            store.drop_tables().await.expect("drop the test's tables");
        },
    )
    .await;
}
