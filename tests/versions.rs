//! Namespaces and versions: on the builder and in `#[memoize(version =
//! ..)]`, `set_version` dropping every old entry (and the results of
//! computations in flight), and snapshots that keep both and refuse to
//! restore across them unless asked.

use std::sync::mpsc;
use std::thread;

use cachelite::{BuildError, Cache, SnapshotError, SnapshotFormat, memoize};

fn snapshot_of(cache: &Cache<u32, u32>) -> Vec<u8> {
    let mut buf = Vec::new();
    cache.snapshot_to(&mut buf, SnapshotFormat::Json).unwrap();
    buf
}

#[test]
fn the_builder_sets_namespace_and_version() {
    let c: Cache<u32, u32> = Cache::builder().namespace("billing").version(3).build();
    assert_eq!((c.namespace(), c.version()), (Some("billing"), 3));
    let plain: Cache<u32, u32> = Cache::new(10);
    assert_eq!((plain.namespace(), plain.version()), (None, 0));
}

#[test]
fn an_empty_namespace_is_a_build_error() {
    let err = Cache::<u32, u32>::builder()
        .namespace("")
        .try_build()
        .unwrap_err();
    assert_eq!(err, BuildError::EmptyNamespace);
    assert!(err.to_string().contains("namespace"), "{err}");
}

#[test]
fn a_new_version_drops_every_old_entry() {
    let c: Cache<u32, u32> = Cache::builder().shards(4).version(1).build();
    for k in 0..100 {
        c.insert(k, k);
    }
    assert_eq!(c.set_version(2), 100);
    assert!(c.is_empty(), "freed, not only unreachable");
    assert_eq!(c.get(&1), None);
    assert_eq!(c.stats().invalidations, 100);
    c.insert(1, 10);
    assert_eq!(c.set_version(2), 0, "same version: nothing happens");
    assert_eq!(c.get(&1), Some(10));
}

#[test]
fn a_computation_in_flight_across_a_version_change_is_not_stored() {
    let c: Cache<u32, u32> = Cache::new(10);
    let (started_tx, started) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let c = &c;
        let leader = s.spawn(move || {
            c.get_or_insert_with(1, || {
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                1
            })
        });
        started.recv().unwrap();
        c.set_version(5);
        go.send(()).unwrap();
        assert_eq!(leader.join().unwrap(), 1, "its caller still gets it");
    });
    assert_eq!(c.get(&1), None, "computed from the old version's world");
}

#[test]
fn snapshots_keep_the_version_and_refuse_another() {
    let v1: Cache<u32, u32> = Cache::builder().version(1).build();
    v1.insert(1, 1);
    let buf = snapshot_of(&v1);
    assert!(String::from_utf8_lossy(&buf).contains("\"version\":1"));

    let same: Cache<u32, u32> = Cache::builder().version(1).build();
    assert_eq!(same.restore_from(&buf[..]).unwrap(), 1);

    let v2: Cache<u32, u32> = Cache::builder().version(2).build();
    let err = v2.restore_from(&buf[..]).unwrap_err();
    assert!(matches!(
        err,
        SnapshotError::VersionMismatch {
            saved: 1,
            current: 2
        }
    ));
    assert!(err.to_string().contains("restore_any_version"), "{err}");
    assert!(v2.is_empty(), "a refused restore changes nothing");
    assert_eq!(v2.restore_from_any_version(&buf[..]).unwrap(), 1);
    assert_eq!(v2.get(&1), Some(1));
}

#[test]
fn a_file_snapshot_refuses_another_version_too() {
    let dir = std::env::temp_dir().join(format!("cachelite-versions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("v.mpk");
    let v1: Cache<u32, u32> = Cache::builder().version(1).build();
    v1.insert(1, 1);
    v1.snapshot(&path).unwrap();
    let v3: Cache<u32, u32> = Cache::builder().version(3).build();
    assert!(matches!(
        v3.restore(&path),
        Err(SnapshotError::VersionMismatch { .. })
    ));
    assert_eq!(v3.restore_any_version(&path).unwrap(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_version_set_at_run_time_is_the_one_saved() {
    let c: Cache<u32, u32> = Cache::new(10);
    c.set_version(9);
    c.insert(1, 1);
    let buf = snapshot_of(&c);
    let v9: Cache<u32, u32> = Cache::builder().version(9).build();
    assert_eq!(v9.restore_from(&buf[..]).unwrap(), 1);
}

#[test]
fn snapshots_refuse_another_namespace_even_across_versions() {
    let billing: Cache<u32, u32> = Cache::builder().namespace("billing").build();
    billing.insert(1, 1);
    let buf = snapshot_of(&billing);
    let others: [Cache<u32, u32>; 2] = [
        Cache::builder().namespace("users").build(),
        Cache::builder().build(),
    ];
    for other in others {
        let err = other.restore_from_any_version(&buf[..]).unwrap_err();
        assert!(
            matches!(err, SnapshotError::NamespaceMismatch { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("`billing`"), "{err}");
        assert!(other.is_empty());
    }
    let again: Cache<u32, u32> = Cache::builder().namespace("billing").build();
    assert_eq!(again.restore_from(&buf[..]).unwrap(), 1);
}

#[test]
fn a_snapshot_without_version_or_namespace_restores_into_a_plain_cache() {
    let plain: Cache<u32, u32> = Cache::new(10);
    plain.insert(1, 1);
    let buf = snapshot_of(&plain);
    let text = String::from_utf8_lossy(&buf);
    assert!(
        !text.contains("version\":") && !text.contains("namespace"),
        "{text}"
    );
    let copy: Cache<u32, u32> = Cache::new(10);
    assert_eq!(copy.restore_from(&buf[..]).unwrap(), 1);
    let versioned: Cache<u32, u32> = Cache::builder().version(1).build();
    assert!(versioned.restore_from(&buf[..]).is_err());
}

const PRICE_VERSION: u64 = 4;

#[memoize(version = 3)]
fn price(id: u32) -> u32 {
    id * 2
}

#[memoize(version = PRICE_VERSION)]
fn price_v4(id: u32) -> u32 {
    id * 3
}

#[test]
fn memoize_takes_a_version() {
    assert_eq!(price(1), 2);
    assert_eq!(price_cache().version(), 3);
    assert_eq!(price_v4(1), 3);
    assert_eq!(price_v4_cache().version(), 4);
    let mut buf = Vec::new();
    price_cache()
        .snapshot_to(&mut buf, SnapshotFormat::Json)
        .unwrap();
    assert!(matches!(
        price_v4_cache().restore_from(&buf[..]),
        Err(SnapshotError::VersionMismatch {
            saved: 3,
            current: 4
        })
    ));
}
