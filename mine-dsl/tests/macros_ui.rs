//! Compile-fail and pass cases for the macros of `mine-dsl-macros`, which live beside them in
//! `mine-dsl-macros/tests/ui/`; they run from here because they need `mine-dsl` itself.
//! The `.stderr` files pin the exact messages; regenerate them with
//! `TRYBUILD=overwrite cargo test --release -p mine-dsl --test macros_ui`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("../mine-dsl-macros/tests/ui/pass/*.rs");
    cases.compile_fail("../mine-dsl-macros/tests/ui/fail/*.rs");
}
