//! Integration tests for cachelite live in this crate's `[[test]]` targets.
