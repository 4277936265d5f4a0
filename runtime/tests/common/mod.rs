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
    let m = Machine::new(program).expect("program loads");
    sim::run(&m, s).expect("simulation runs")
}
