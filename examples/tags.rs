//! Tags group the entries of a memoized fn so that one write can drop every
//! result it makes stale: a user's page, their order list, and the list of
//! all users, each cached under its own key.
//!
//! `cargo run --example tags`

use std::sync::atomic::{AtomicUsize, Ordering};

use cachelite::memoize;

static RENDERS: AtomicUsize = AtomicUsize::new(0);

/// One page of the admin UI, keyed by its path and tagged by what it shows.
#[memoize(
    key = format!("{section}/{id}"),
    tags = [format!("user:{id}"), section.to_string()],
    capacity = 10_000
)]
fn render(section: &str, id: u64) -> String {
    RENDERS.fetch_add(1, Ordering::Relaxed);
    format!("<h1>{section} of user {id}</h1>")
}

fn show(what: &str) {
    println!(
        "{what}: {} cached pages, {} renders so far",
        render_cache_info().stats.len,
        RENDERS.load(Ordering::Relaxed)
    );
}

fn main() {
    for id in 1..=3 {
        render("profile", id);
        render("orders", id);
    }
    show("after rendering 6 pages");

    for id in 1..=3 {
        render("profile", id);
    }
    show("after 3 more requests (all hits)");

    // User 2 changed their name: every page about user 2 is stale.
    let dropped = render_cache().invalidate_tags(&["user:2"]);
    println!("invalidate_tags(&[\"user:2\"]) dropped {dropped} pages");
    show("after the write");

    // A new order for everyone: drop every orders page.
    let dropped = render_cache().invalidate_tags(&["orders"]);
    println!("invalidate_tags(&[\"orders\"]) dropped {dropped} pages");
    show("after the bulk change");

    // Keys are strings, so globs work too.
    let dropped = render_cache().invalidate_glob("profile/*");
    println!("invalidate_glob(\"profile/*\") dropped {dropped} pages");
    show("at the end");
}
