//! Event listeners: hits, misses, inserts and removals with their cause.
//!
//! `cargo run --release --example events`

use std::sync::{Arc, Mutex};

use cachelite::{Cache, Event};

fn main() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let cache: Cache<String, u32> = Cache::builder()
        .max_items(2)
        .on_event(move |e: &Event<'_, String, u32>| {
            let line = match e {
                Event::Hit { key, value } => format!("hit      {key} = {value}"),
                Event::Miss { key } => format!("miss     {key:?}"),
                Event::Inserted { key, value } => format!("inserted {key} = {value}"),
                Event::Removed { key, value, cause } => {
                    format!("removed  {key} = {value} ({cause:?})")
                }
                _ => format!("{e:?}"),
            };
            sink.lock().unwrap().push(line);
        })
        .build();

    cache.insert("a".into(), 1);
    cache.insert("b".into(), 2);
    cache.get("a");
    cache.insert("c".into(), 3); // evicts b (least recently used)
    cache.insert("a".into(), 10); // replaces a
    cache.get("zzz");
    cache.remove("c");

    for line in log.lock().unwrap().iter() {
        println!("{line}");
    }
}
