use std::time::Instant;
fn main() {
    let text = include_str!("../tests/seed.flow").repeat(30);
    let t = Instant::now();
    for _ in 0..10 { std::hint::black_box(callflow_compiler::syntax::tree::parse_raw(&text)); }
    let el = t.elapsed() / 10;
    println!("pest {:?} = {:.1} MB/s", el, text.len() as f64 / el.as_secs_f64() / 1e6);
    let t = Instant::now();
    let mut d = callflow_compiler::diagnostics::Diagnostics::default();
    for _ in 0..10 {
        let lines = callflow_compiler::syntax::tree::parse(Default::default(), &text, &mut d);
        std::hint::black_box(lines);
    }
    let el = t.elapsed() / 10;
    println!("tree {:?} = {:.1} MB/s", el, text.len() as f64 / el.as_secs_f64() / 1e6);
    let t = Instant::now();
    for _ in 0..10 {
        let m = callflow_compiler::syntax::parse(Default::default(), &text, &mut d);
        std::hint::black_box(m);
    }
    let el = t.elapsed() / 10;
    println!("syntax {:?} = {:.1} MB/s", el, text.len() as f64 / el.as_secs_f64() / 1e6);
}
#[allow(dead_code)]
fn unused() {}
