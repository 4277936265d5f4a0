//! Helpers for runtime tests: compile flow text in memory and simulate calls.
#![allow(dead_code)]

use callflow_compiler::Project;
use callflow_compiler::bytecode::Program;
use callflow_runtime::sim::{self, Outcome, Scenario};
use callflow_runtime::vm::Machine;
use std::path::Path;

/// Compiles flow text (prompt files are not checked here); panics with the diagnostics if the
/// text has errors.
pub fn compile(text: &str) -> Program {
    let mut p = Project::new();
    p.add_file(Path::new("t.flow"), text.to_string(), true);
    let checked = callflow_compiler::check(&p);
    let errors: Vec<String> = checked
        .diags
        .list
        .iter()
        .chain(&p.diags.list)
        .filter(|d| d.severity() == callflow_compiler::diagnostics::Severity::Error)
        .map(|d| format!("{}: {} ({})", d.code, d.message, d.primary.text))
        .collect();
    assert!(errors.is_empty(), "flow has errors: {errors:#?}");
    callflow_compiler::lower::lower(&checked).expect("lowers")
}

/// A local time in the zone, "2026-12-24T10:15".
pub fn at(zone: &str, local: &str) -> jiff::Timestamp {
    let dt: jiff::civil::DateTime = local.parse().unwrap();
    jiff::tz::db()
        .get(zone)
        .unwrap()
        .to_ambiguous_zoned_datetime(dt)
        .compatible()
        .unwrap()
        .timestamp()
}

pub fn call(program: &Program, number: &str, local: &str, zone: &str) -> Scenario {
    let _ = program;
    Scenario::new(number, "+4930123456", at(zone, local))
}

pub fn run(program: &Program, s: &Scenario) -> Outcome {
    let m = Machine::new(program.clone()).expect("program loads");
    sim::run(&m, s).expect("simulation runs")
}

/// A small, seedable generator for property tests (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The example flows in `flows/` (with their tests), compiled.
pub fn examples() -> Program {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows");
    let mut p = Project::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    for path in paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "flow"))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        p.add_file(&path, text, true);
    }
    callflow_compiler::lower::lower(&callflow_compiler::check(&p)).expect("the examples compile")
}

/// How many iterations a property test runs (`CALLFLOW_FUZZ_ITERS` overrides).
pub fn iters(default: usize) -> usize {
    std::env::var("CALLFLOW_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
