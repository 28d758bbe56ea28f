//! The MySQL/MariaDB store against a real server (`CACHELITE_MYSQL_URL`):
//! the tests every SQL store runs (tests/support/sql.rs), and the ones of
//! MySQL alone.
#![cfg(feature = "mysql")]

#[path = "support/sql.rs"]
mod sql;
mod support;

use std::time::Duration;

use cachelite_redis::{Error, Event, MySqlStore, MySqlStoreBuilder, Store, TieredCache};
use mysql_async::prelude::Queryable;
use sql::{PATIENT, namespace, next_message, origin_of, same, until, with_cleanup, with_store};

fn builder(url: &str, ns: &str) -> MySqlStoreBuilder {
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

impl sql::SqlStore for MySqlStore {
    type Builder = MySqlStoreBuilder;
    const SERVER: &'static str = "MySQL";
    const KEY_COLUMN: &'static str = "k";
    const UNREACHABLE: &'static str = "mysql://root@127.0.0.1:1/test";
    const URL_VAR: &'static str = "CACHELITE_MYSQL_URL";

    async fn url() -> Option<String> {
        mysql_url().await
    }
    fn builder(url: &str, ns: &str) -> MySqlStoreBuilder {
        builder(url, ns)
    }
    fn defaults(url: &str) -> MySqlStoreBuilder {
        MySqlStore::builder(url)
    }
    fn build(b: MySqlStoreBuilder) -> Result<Self, Error> {
        b.build()
    }
    fn connect_timeout(b: MySqlStoreBuilder, t: Duration) -> MySqlStoreBuilder {
        b.connect_timeout(t)
    }
    fn circuit_breaker(b: MySqlStoreBuilder, n: u32, cooldown: Duration) -> MySqlStoreBuilder {
        b.circuit_breaker(n, cooldown)
    }
    fn sweep_interval(b: MySqlStoreBuilder, t: Duration) -> MySqlStoreBuilder {
        b.sweep_interval(t)
    }
    fn layered(b: MySqlStoreBuilder) -> MySqlStoreBuilder {
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
        let n: Option<i64> = raw(url)
            .await
            .query_first(format!("SELECT count(*) FROM {from}"))
            .await
            .unwrap();
        n.unwrap()
    }
}

sql::shared_tests!(MySqlStore);

#[tokio::test]
async fn announcements_reach_pollers_and_a_gap_is_a_disconnection() {
    with_store::<MySqlStore, _, _>("notify", same, async |url, s| {
        let writer = builder(&url, s.namespace()).build().unwrap();
        let mut feed = s.subscribe(Duration::from_millis(50));
        assert_eq!(next_message(&mut feed).await, Event::Connected);
        sql::announcements_reach(&writer, &mut feed).await;

        // The log trimmed past what the feed has seen: a gap, so the feed
        // reports a disconnection (the local tier is cleared), then resumes.
        let trimmer = builder(&url, s.namespace())
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

/// Runs `body` with the server's URL, the URL of a database of its own
/// (created here, dropped afterwards) and that database's name, so that
/// the process list tells the test's connections apart from other tests'
/// ones. Skips (or fails, when required) without a reachable server.
async fn with_own_database<F, Fut>(name: &str, body: F)
where
    F: FnOnce(String, String, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(url) = mysql_url().await else {
        return;
    };
    let db = format!(
        "cachelite_{name}_{}_{}",
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
    with_cleanup(body(url, own_url, db.clone()), async {
        admin
            .query_drop(format!("DROP DATABASE {db}"))
            .await
            .unwrap();
    })
    .await;
}

/// The ids of the connections open to the database `db`.
async fn connection_ids(url: &str, db: &str) -> Vec<u64> {
    raw(url)
        .await
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ?",
            (db,),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_killed_poller_connection_is_a_disconnection_until_it_is_back() {
    with_own_database("kill", async |url, own_url, db| {
        let s = builder(&own_url, &namespace("kill")).build().unwrap();
        let mut feed = s.subscribe(Duration::from_millis(50));
        assert_eq!(next_message(&mut feed).await, Event::Connected);
        let ids: Vec<u64> = connection_ids(&url, &db).await;
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
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_poller_clears_and_bypasses_the_local_tier_until_it_is_back() {
    with_own_database("tkill", async |url, own_url, db| {
        let s = builder(&own_url, &namespace("tiered-kill"))
            .build()
            .unwrap();
        let c: TieredCache<str, String, MySqlStore> = support::suite::tiered(s.clone(), None).await;
        c.insert("k", "v".into()).await.unwrap();
        until(10, "k is held locally", async || {
            c.get("k").await.is_some() && c.local().contains_key("k")
        })
        .await;
        let ids: Vec<u64> = connection_ids(&url, &db).await;
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
    })
    .await;
}

#[tokio::test]
async fn connections_go_back_to_the_pool_and_stay_open() {
    with_own_database("pool", async |url, own_url, db| {
        let s = builder(&own_url, &namespace("pool")).build().unwrap();
        s.put("k", vec![1], None, &[], sql::ME).await.unwrap();
        for _ in 0..50 {
            assert!(s.get("k").await.unwrap().is_some());
        }
        // Closing a connection is not instant: give a discarded one time
        // to leave the process list.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let open: Vec<u64> = connection_ids(&url, &db).await;
        assert!(
            (1..=8).contains(&open.len()),
            "idle connections kept for the next calls, at most pool_size: {open:?}"
        );
        s.drop_tables().await.unwrap();
    })
    .await;
}
