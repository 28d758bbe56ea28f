//! `CacheConfig`: configuration as data. Read from variables (a map here;
//! the real environment in a child process, so no test changes this
//! process's environment), from serde formats, built into caches, and
//! reported back by `info()`.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use cachelite::{Cache, CacheConfig, ConfigError, Event, Policy};

fn from_map(prefix: &str, vars: &[(&str, &str)]) -> Result<CacheConfig, ConfigError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (format!("{prefix}{k}"), (*v).to_owned()))
        .collect();
    CacheConfig::from_lookup(prefix, |name| vars.get(name).cloned())
}

#[test]
fn every_variable_sets_its_option() {
    let c = from_map(
        "SVC_CACHE_",
        &[
            ("MAX_ITEMS", "50_000"),
            ("MAX_BYTES", "64MiB"),
            ("DEFAULT_TTL", "5m"),
            ("STALE_TTL", "30s"),
            ("TTL_JITTER", "1.5"),
            ("ACTIVE_EXPIRY", "250ms"),
            ("ACTIVE_EXPIRY_SAMPLES", "50"),
            ("POLICY", "TinyLFU"),
            ("SHARDS", "8"),
            ("STRIPED_LOCKS", "off"),
            ("NAMESPACE", "billing"),
            ("VERSION", "3"),
        ],
    )
    .unwrap();
    let mut want = CacheConfig::default();
    want.max_items = Some(50_000);
    want.max_bytes = Some(64 << 20);
    want.default_ttl = Some(Duration::from_secs(300));
    want.stale_ttl = Some(Duration::from_secs(30));
    want.ttl_jitter = Some(Duration::from_millis(1_500));
    want.active_expiry = Some(Duration::from_millis(250));
    want.active_expiry_samples = 50;
    want.policy = Policy::TinyLfu;
    want.shards = Some(8);
    want.striped_locks = Some(false);
    want.namespace = Some("billing".to_owned());
    want.version = 3;
    assert_eq!(c, want);
}

#[test]
fn unset_and_empty_variables_keep_the_defaults() {
    assert_eq!(from_map("NONE_", &[]).unwrap(), CacheConfig::default());
    assert_eq!(
        from_map("EMPTY_", &[("MAX_ITEMS", ""), ("POLICY", "  ")]).unwrap(),
        CacheConfig::default()
    );
    // Variables under another prefix are not read.
    let vars = HashMap::from([("OTHER_MAX_ITEMS".to_owned(), "5".to_owned())]);
    let c = CacheConfig::from_lookup("MINE_", |n| vars.get(n).cloned()).unwrap();
    assert_eq!(c.max_items, None);
}

#[test]
fn a_bad_value_names_its_variable_and_what_it_accepts() {
    for (option, value, accepts) in [
        ("MAX_ITEMS", "ten", "a whole number of entries, at least 1"),
        ("MAX_ITEMS", "0", "at least 1"),
        ("MAX_ITEMS", "-5", "a whole number"),
        ("MAX_BYTES", "1TB", "KiB, MiB, GiB"),
        ("MAX_BYTES", "1.5MB", "a whole number of bytes"),
        ("DEFAULT_TTL", "soon", "500ms, 30s, 5m, 2h, 1d"),
        ("DEFAULT_TTL", "0", "a positive duration"),
        ("DEFAULT_TTL", "5M", "a number with a unit"),
        ("STALE_TTL", "-1s", "a positive duration"),
        ("TTL_JITTER", "1y", "a positive duration"),
        ("ACTIVE_EXPIRY", "1e3", "a positive duration"),
        ("ACTIVE_EXPIRY_SAMPLES", "0", "at least 1"),
        ("POLICY", "arc", "one of lru, lfu, fifo, random, tinylfu"),
        ("SHARDS", "3", "a power of two"),
        ("SHARDS", "0", "a power of two"),
        ("STRIPED_LOCKS", "maybe", "true or false"),
    ] {
        let err = from_map("BAD_", &[(option, value)]).unwrap_err();
        let variable = format!("BAD_{option}");
        assert_eq!(err.variable(), variable);
        assert_eq!(err.value(), value);
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{variable}={value:?} is not valid: expected ")),
            "{text}"
        );
        assert!(text.contains(accepts), "{option}={value}: {text}");
    }
}

#[test]
fn a_cache_built_from_a_config_reports_it_back() {
    let mut config = CacheConfig::default();
    config.max_items = Some(1_000);
    config.policy = Policy::Lfu;
    config.default_ttl = Some(Duration::from_secs(60));
    config.stale_ttl = Some(Duration::from_secs(5));
    config.shards = Some(2);
    let cache: Cache<String, String> = Cache::from_config(&config).unwrap();
    cache.insert("k".into(), "v".into());
    assert!(cache.ttl("k").is_some_and(|t| t <= Duration::from_secs(60)));
    let info = cache.info();
    assert_eq!(info.config, config);
    assert_eq!(info.config, cache.config());
    assert_eq!((info.stats.len, info.stats.inserts), (1, 1));
    assert_eq!(cache.shard_count(), 2);

    // The shard count the cache chose is reported, so the configuration
    // read back builds a cache configured alike.
    let chosen: Cache<u64, u64> = Cache::builder().max_items(100).build();
    let reported = chosen.config();
    assert_eq!(reported.shards, Some(chosen.shard_count()));
    let twin: Cache<u64, u64> = Cache::from_config(&reported).unwrap();
    assert_eq!(twin.config(), reported);
}

#[test]
fn a_byte_bound_from_a_config_weighs_entries_by_deep_size() {
    let config = from_map("BYTES_", &[("MAX_BYTES", "4KiB")]).unwrap();
    let cache: Cache<String, String> = Cache::from_config(&config).unwrap();
    assert!(cache.insert("k".into(), "v".repeat(100)));
    assert!(cache.stats().bytes >= 101);
    assert!(!cache.insert("big".into(), "v".repeat(10_000)), "rejected");
    assert_eq!(cache.max_bytes(), Some(4_096));
}

#[test]
fn a_config_mistake_is_a_build_error_not_a_panic() {
    let mut config = CacheConfig::default();
    config.max_items = Some(0);
    let err = Cache::<u8, u8>::from_config(&config).unwrap_err();
    assert!(err.to_string().contains("max_items"), "{err}");
}

#[test]
fn the_builder_takes_a_config_and_keeps_its_listeners() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let config = from_map("LISTEN_", &[("MAX_ITEMS", "2"), ("POLICY", "fifo")]).unwrap();
    let evicted = Arc::new(AtomicUsize::new(0));
    let seen = evicted.clone();
    let cache: Cache<u8, u8> = Cache::builder()
        .on_event(move |e: &Event<'_, u8, u8>| {
            if matches!(e, Event::Removed { .. }) {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        })
        .config(&config)
        .build();
    for k in 0..3 {
        cache.insert(k, k);
    }
    assert_eq!(cache.policy(), Policy::Fifo);
    assert_eq!(cache.keys().len(), 2);
    assert_eq!(evicted.load(Ordering::Relaxed), 1);
}

#[test]
fn serde_reads_durations_with_units_or_as_seconds() {
    let c: CacheConfig = serde_json::from_str(
        r#"{"max_items": 500, "default_ttl": "5m", "stale_ttl": 30, "ttl_jitter": 0.5, "policy": "LFU"}"#,
    )
    .unwrap();
    assert_eq!(c.max_items, Some(500));
    assert_eq!(c.default_ttl, Some(Duration::from_secs(300)));
    assert_eq!(c.stale_ttl, Some(Duration::from_secs(30)));
    assert_eq!(c.ttl_jitter, Some(Duration::from_millis(500)));
    assert_eq!(c.policy, Policy::Lfu);
    assert_eq!(
        c.active_expiry_samples, 20,
        "missing fields keep their defaults"
    );

    // Written back: durations with units, the policy by name.
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["default_ttl"], "5m");
    assert_eq!(json["ttl_jitter"], "500ms");
    assert_eq!(json["policy"], "lfu");
    assert_eq!(json["max_bytes"], serde_json::Value::Null);
    let back: CacheConfig = serde_json::from_value(json).unwrap();
    assert_eq!(back, c);

    let mut odd = CacheConfig::default();
    odd.default_ttl = Some(Duration::from_nanos(1_234_567_891));
    let text = serde_json::to_string(&odd).unwrap();
    assert_eq!(serde_json::from_str::<CacheConfig>(&text).unwrap(), odd);
}

#[test]
fn serde_refuses_what_it_cannot_read_with_a_reason() {
    for (json, says) in [
        (r#"{"max_itms": 5}"#, "unknown field `max_itms`"),
        (
            r#"{"policy": "arc"}"#,
            "valid policies: lru, lfu, fifo, random, tinylfu",
        ),
        (
            r#"{"default_ttl": "soon"}"#,
            "a number with a unit (500ms, 30s, 5m, 2h, 1d)",
        ),
        (r#"{"default_ttl": 0}"#, "a positive duration"),
        (r#"{"default_ttl": -3}"#, "a positive duration"),
    ] {
        let err = serde_json::from_str::<CacheConfig>(json).unwrap_err();
        assert!(err.to_string().contains(says), "{json}: {err}");
    }
}

/// Reads the real environment in a child process (this test binary, run
/// again with variables of its own), so this process's environment is
/// never changed. The child prints what `from_env` returned.
#[test]
fn from_env_reads_the_process_environment() {
    const CHILD: &str = "CACHELITE_CONFIG_TEST_CHILD_PREFIX";
    if let Ok(prefix) = std::env::var(CHILD) {
        let result = CacheConfig::from_env(&prefix).map_err(|e| e.to_string());
        println!("\nfrom_env: {result:?}");
        return;
    }
    let run = |vars: &[(&str, &str)]| -> String {
        let prefix = format!("CACHELITE_CFG_{}_", std::process::id());
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "from_env_reads_the_process_environment",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, &prefix);
        for (k, v) in vars {
            cmd.env(format!("{prefix}{k}"), v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("from_env: "))
            .unwrap_or_else(|| panic!("no result in {out:?}"));
        line.replace(&prefix, "P_")
    };

    let mut want = CacheConfig::default();
    want.max_items = Some(250);
    want.default_ttl = Some(Duration::from_secs(90));
    want.policy = Policy::Fifo;
    assert_eq!(
        run(&[
            ("MAX_ITEMS", "250"),
            ("DEFAULT_TTL", "1.5m"),
            ("POLICY", "fifo")
        ]),
        format!("{:?}", Ok::<_, String>(want))
    );
    assert_eq!(
        run(&[("POLICY", "mru")]),
        format!(
            "{:?}",
            Err::<CacheConfig, _>(format!(
                "P_POLICY=\"mru\" is not valid: expected one of {}",
                Policy::valid_names()
            ))
        )
    );
}

#[test]
fn namespace_and_version_travel_through_a_config() {
    let built: Cache<u8, u8> = Cache::builder().namespace("billing").version(3).build();
    let config = built.config();
    assert_eq!(
        (config.namespace.as_deref(), config.version),
        (Some("billing"), 3)
    );
    let twin: Cache<u8, u8> = Cache::from_config(&config).unwrap();
    assert_eq!((twin.namespace(), twin.version()), (Some("billing"), 3));

    // The reported version follows `set_version`.
    built.set_version(4);
    assert_eq!(built.config().version, 4);
    assert_eq!(built.info().config.version, 4);

    // An empty namespace is a build error, as on the builder.
    let mut empty = CacheConfig::default();
    empty.namespace = Some(String::new());
    assert!(Cache::<u8, u8>::from_config(&empty).is_err());

    // Read from variables and from serde.
    let c = from_map("NS_", &[("NAMESPACE", " orders "), ("VERSION", "1_000")]).unwrap();
    assert_eq!((c.namespace.as_deref(), c.version), (Some("orders"), 1_000));
    let err = from_map("NS_", &[("VERSION", "-1")]).unwrap_err();
    assert_eq!(err.variable(), "NS_VERSION");
    assert!(
        err.to_string().contains("a whole number, 0 or more"),
        "{err}"
    );
    let c: CacheConfig = serde_json::from_str(r#"{"namespace": "orders", "version": 2}"#).unwrap();
    assert_eq!((c.namespace.as_deref(), c.version), (Some("orders"), 2));
    assert_eq!(
        serde_json::from_str::<CacheConfig>(&serde_json::to_string(&c).unwrap()).unwrap(),
        c
    );
}
