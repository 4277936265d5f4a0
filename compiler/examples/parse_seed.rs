//! Parses and checks `tests/seed.flow` repeated N times (for profiling with callgrind).
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let text = include_str!("../tests/seed.flow").repeat(n);
    let mut d = callflow_compiler::diagnostics::Diagnostics::default();
    let lines = callflow_compiler::syntax::tree::parse(Default::default(), &text, &mut d);
    println!("{} bytes, {} lines", text.len(), lines.len());
}
