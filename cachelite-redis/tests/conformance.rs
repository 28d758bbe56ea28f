//! The store conformance suite (tests/support/suite.rs), run for
//! `RedisStore`.

mod support;

use std::time::Duration;

use cachelite_redis::RedisStore;
use support::{suite, target};

/// A store with timeouts generous enough for a loaded CI machine.
fn store(url: &str, ns: &str) -> RedisStore {
    let patient = Duration::from_secs(3);
    RedisStore::builder(url)
        .namespace(ns)
        .connect_timeout(patient)
        .response_timeout(patient)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_values() {
    let Some(t) = target() else { return };
    suite::shared_values(async |ns: &str| store(&t.url, ns)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_reach_the_other_local_tier() {
    let Some(t) = target() else { return };
    suite::invalidations_reach_the_other_local_tier(async |ns: &str| store(&t.url, ns)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_are_isolated() {
    let Some(t) = target() else { return };
    suite::namespaces_are_isolated(async |ns: &str| store(&t.url, ns)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_second_ttls() {
    let Some(t) = target() else { return };
    suite::sub_second_ttls(async |ns: &str| store(&t.url, ns)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_values_are_misses() {
    let Some(t) = target() else { return };
    suite::corrupt_values_are_misses(async |ns: &str| store(&t.url, ns)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_many() {
    let Some(t) = target() else { return };
    suite::get_many(async |ns: &str| store(&t.url, ns)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters() {
    let Some(t) = target() else { return };
    suite::counters(async |ns: &str| store(&t.url, ns)).await;
}
