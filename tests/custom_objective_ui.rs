//! The compile error that `examples/custom_objective.rs` quotes is the one rustc prints.
//!
//! `tests/ui/custom_objective_missing_key.rs` wires the example's objective to the plain VPT;
//! trybuild pins rustc's full output in the `.stderr` beside it (regenerate with
//! `TRYBUILD=overwrite cargo test --release --test custom_objective_ui`), and the second test
//! checks that every line the example's comment quotes appears in that output.

use std::path::Path;

const EXAMPLE: &str = include_str!("../examples/custom_objective.rs");
const STDERR: &str = include_str!("ui/custom_objective_missing_key.stderr");

#[test]
fn wiring_without_the_key_does_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/ui/custom_objective_missing_key.rs");
}

/// The lines between `<!-- compile-error -->` markers in the example's docs, without the doc
/// comment prefix and the code fence.
fn quoted_lines(source: &str) -> Vec<String> {
    let docs: Vec<&str> = source
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    let start = docs
        .iter()
        .position(|l| l.trim() == "<!-- compile-error -->")
        .expect("the example marks its quoted compile error");
    let end = docs
        .iter()
        .position(|l| l.trim() == "<!-- /compile-error -->")
        .expect("the quoted compile error has an end marker");
    docs[start + 1..end]
        .iter()
        .filter(|l| !l.starts_with("```"))
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// rustc's lines without the gutter (`  |`, `123 |`) and indentation.
fn rustc_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(|line| {
            let line = line.trim_start();
            let gutter = line
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            match gutter.strip_prefix('|') {
                Some(rest) => rest.trim().to_owned(),
                None => line.trim().to_owned(),
            }
        })
        .collect()
}

#[test]
fn the_example_quotes_the_compilers_error_verbatim() {
    assert!(Path::new("tests/ui/custom_objective_missing_key.stderr").exists());
    let actual = rustc_lines(STDERR);
    let quoted = quoted_lines(EXAMPLE);
    assert!(
        quoted.len() >= 4,
        "the example quotes the error: {quoted:?}"
    );
    for line in &quoted {
        assert!(
            actual.contains(line),
            "examples/custom_objective.rs quotes `{line}`, which rustc does not print:\n{STDERR}"
        );
    }
}
