//! The compile errors of `#[replaylog::record]`, one case per message, checked against the
//! committed `.stderr` files (`TRYBUILD=overwrite cargo test -p replaylog-derive --test ui`
//! regenerates them after a deliberate change of wording or of rustc).

#[test]
fn compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
