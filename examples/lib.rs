//! Runnable examples for cachelite: `cargo run --release --example quickstart`.
