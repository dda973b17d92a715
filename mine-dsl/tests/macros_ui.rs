//! Compile-fail cases for the macros of `mine-dsl-macros`, which live beside them in
//! `mine-dsl-macros/tests/ui/fail/`; they run from here because they need `mine-dsl` itself.
//! Only compile-fail cases run through trybuild (it type-checks them, which is cheap); the
//! cases that must compile are ordinary tests (`tests/dsl_*.rs`). The `.stderr` files pin the exact messages; regenerate them with
//! `TRYBUILD=overwrite cargo test --release -p mine-dsl --test macros_ui`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("../mine-dsl-macros/tests/ui/fail/*.rs");
}
