//! Compile-time diagnostics of `#[memoize(store = ..)]` that need the
//! facade's `redis` feature (the rules checked by the macro alone are with
//! the other UI tests, in the workspace's `tests/ui`): one rule per
//! `ui/fail/*.rs`, with the expected errors in its `.stderr`;
//! `ui/pass/*.rs` must build.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p
//! cachelite-redis --test ui`, then read every diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
