//! Compile-time diagnostics of `#[memoize]`: one rule per `ui/fail/*.rs`,
//! with the expected errors in its `.stderr`; `ui/pass/*.rs` must build.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p
//! cachelite-tests --test ui`, then read every diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}
