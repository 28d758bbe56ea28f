//! The CLI's store file and its `.stats` sidecar: any bytes on disk give a
//! one-line error naming the file or a store that saves and reopens with
//! the same entries, never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use cachelite_cli::cli::Cli;
use cachelite_cli::store::{Access, Store};
use clap::Parser;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // A tmpfs where there is one: a disk stalled by other work would
        // read as a hang.
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("cachelite-fuzz-store-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // The first 0 byte after the mode separates the store file from the
    // `.stats` sidecar.
    let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let (file, stats) = (&rest[..split], rest.get(split + 1..));
    let (name, codec) = if mode & 1 == 0 {
        ("store.json", "json")
    } else {
        ("store.msgpack", "msgpack")
    };
    let path = dir().join(name);
    let body = if mode & 2 == 0 {
        file.to_vec()
    } else {
        let mut out = format!(
            "CACHELITE-SNAPSHOT 1 {codec} {} {:08x}\n",
            file.len(),
            crc32fast::hash(file)
        )
        .into_bytes();
        out.extend_from_slice(file);
        out
    };
    std::fs::write(&path, &body).unwrap();
    let stats_path = dir().join(format!("{name}.stats"));
    match stats {
        Some(s) => std::fs::write(&stats_path, s).unwrap(),
        None => {
            let _ = std::fs::remove_file(&stats_path);
        }
    }

    let store = Store::new(&path).unwrap();
    let read = match store.open(Access::Read) {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{msg}");
            assert!(msg.contains(name), "{msg}");
            return;
        }
    };
    let mut keys = read.cache().keys();
    keys.sort();
    let counters = read.counters();
    drop(read);

    let mut write = store
        .open(Access::Write)
        .expect("a readable store opens for writing");
    write.cache().insert("fuzz:new".into(), json!(1));
    write.counters_mut().sets = write.counters().sets.wrapping_add(1);
    write.save().expect("a readable store saves");
    drop(write);

    let again = store.open(Access::Read).expect("a saved store reopens");
    let mut after = again.cache().keys();
    after.sort();
    let mut expected = keys;
    if !expected.iter().any(|k| k == "fuzz:new") {
        expected.push("fuzz:new".into());
        expected.sort();
    }
    // Entries with a TTL may expire between the two opens; the rest stay.
    for k in &after {
        assert!(expected.contains(k), "{k} appeared");
    }
    assert!(after.iter().any(|k| k == "fuzz:new"));
    assert_eq!(again.counters().sets, counters.sets.wrapping_add(1));
    drop(again);

    // Then one command of the real command line on the same files.
    let store_arg = path.to_string_lossy().into_owned();
    let command: &[&str] = match (mode >> 2) % 8 {
        0 => &["set", "k", "v", "--tag", "t"],
        1 => &["get", "k"],
        2 => &["del", "keep"],
        3 => &["keys", "*"],
        4 => &["stats"],
        5 => &["invalidate", "--tag", "t"],
        6 => &["ttl", "keep"],
        _ => &["flush"],
    };
    let mut args = vec!["cachelite", "--json", "--store", store_arg.as_str()];
    args.extend_from_slice(command);
    let cli = Cli::try_parse_from(args).expect("fixed arguments parse");
    let _ = cachelite_cli::cli::run(&cli);
});
