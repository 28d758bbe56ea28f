//! The PostgreSQL store against a real server (`CACHELITE_POSTGRES_URL`):
//! the tests every SQL store runs (tests/support/sql.rs), and the ones of
//! PostgreSQL alone.
#![cfg(feature = "postgres")]

#[path = "support/sql.rs"]
mod sql;
mod support;

use std::time::Duration;

use cachelite_redis::{Error, Event, PostgresStore, PostgresStoreBuilder, Store, TieredCache};
use sql::{ME, PATIENT, next_message, origin_of, same, until, with_store};

fn builder(url: &str, ns: &str) -> PostgresStoreBuilder {
    PostgresStore::builder(url)
        .namespace(ns)
        .connect_timeout(PATIENT)
        .response_timeout(PATIENT)
}

/// A raw client, to look at the tables and break connections.
async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("a raw connection");
    tokio::spawn(conn);
    client
}

impl sql::SqlStore for PostgresStore {
    type Builder = PostgresStoreBuilder;
    const SERVER: &'static str = "PostgreSQL";
    const KEY_COLUMN: &'static str = "key";
    const UNREACHABLE: &'static str = "postgres://postgres@127.0.0.1:1/test";
    const URL_VAR: &'static str = "CACHELITE_POSTGRES_URL";

    async fn url() -> Option<String> {
        sql::url(Self::URL_VAR)
    }
    fn builder(url: &str, ns: &str) -> PostgresStoreBuilder {
        builder(url, ns)
    }
    fn defaults(url: &str) -> PostgresStoreBuilder {
        PostgresStore::builder(url)
    }
    fn build(b: PostgresStoreBuilder) -> Result<Self, Error> {
        b.build()
    }
    fn connect_timeout(b: PostgresStoreBuilder, t: Duration) -> PostgresStoreBuilder {
        b.connect_timeout(t)
    }
    fn circuit_breaker(
        b: PostgresStoreBuilder,
        n: u32,
        cooldown: Duration,
    ) -> PostgresStoreBuilder {
        b.circuit_breaker(n, cooldown)
    }
    fn sweep_interval(b: PostgresStoreBuilder, t: Duration) -> PostgresStoreBuilder {
        b.sweep_interval(t)
    }
    fn layered(b: PostgresStoreBuilder) -> PostgresStoreBuilder {
        b.compression(cachelite_redis::Compression::Lz4 { min_bytes: 16 })
            .encryption(cachelite_redis::Keyring::new(1, [7; 32]))
    }
    fn table(&self) -> &str {
        self.table()
    }
    async fn sweep(&self) -> Result<u64, Error> {
        self.sweep().await
    }
    async fn drop_tables(&self) -> Result<(), Error> {
        self.drop_tables().await
    }
    async fn count_rows(url: &str, from: &str) -> i64 {
        raw(url)
            .await
            .query_one(&format!("SELECT count(*) FROM {from}"), &[])
            .await
            .unwrap()
            .get(0)
    }
}

sql::shared_tests!(PostgresStore);

#[tokio::test]
async fn keys_and_tags_postgresql_text_cannot_hold_are_refused() {
    with_store::<PostgresStore, _, _>("nul", same, async |_url, s| {
        assert!(matches!(
            s.put("a\0b", vec![1], None, &[], ME).await,
            Err(Error::Key(_))
        ));
        assert_eq!(s.get("a\0b").await.unwrap(), None);
        assert!(matches!(
            s.put("k", vec![1], None, &["t\0".into()], ME).await,
            Err(Error::Encode(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn announcements_reach_listeners_and_a_lost_listener_reconnects() {
    with_store::<PostgresStore, _, _>("notify", same, async |url, s| {
        let writer = builder(&url, s.namespace()).build().unwrap();
        let mut feed = s.subscribe(Duration::from_millis(50));
        assert_eq!(next_message(&mut feed).await, Event::Connected);
        sql::announcements_reach(&writer, &mut feed).await;

        // The listening connection is killed: disconnected, then back.
        let killed: i64 = raw(&url)
            .await
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                &[&format!("cachelite listen {}", s.table())],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(killed, 1);
        assert_eq!(next_message(&mut feed).await, Event::Disconnected);
        assert_eq!(next_message(&mut feed).await, Event::Connected);
        writer.remove("z", 47).await.unwrap();
        assert_eq!(origin_of(&next_message(&mut feed).await), 47);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listener_clears_and_bypasses_the_local_tier_until_it_is_back() {
    with_store::<PostgresStore, _, _>("tiered-kill", same, async |url, s| {
        let c: TieredCache<str, String, PostgresStore> =
            support::suite::tiered(s.clone(), None).await;
        c.insert("k", "v".into()).await.unwrap();
        until(10, "k is held locally", async || {
            c.get("k").await.is_some() && c.local().contains_key("k")
        })
        .await;
        let killed: i64 = raw(&url)
            .await
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = $1",
                &[&format!("cachelite listen {}", s.table())],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(killed, 1);
        // The feed may be back within milliseconds: the count of lost
        // connections is what shows it went.
        until(10, "the loss is seen", async || c.stats().disconnects >= 1).await;
        assert!(!c.local().contains_key("k"), "cleared");
        // Bypassed: reads go to the store and fill nothing locally.
        let l2 = c.stats().l2_hits;
        assert_eq!(c.get("k").await.as_deref(), Some("v"));
        if !c.is_local_active() {
            assert!(c.stats().l2_hits > l2);
        }
        until(10, "the listener is back", async || c.is_local_active()).await;
        until(10, "k is held locally again", async || {
            c.get("k").await.is_some() && c.local().contains_key("k")
        })
        .await;
    })
    .await;
}
