//! `callflow compile` (flows → checked → bytecode file) and `callflow disasm` (bytecode file or
//! flows → readable instructions). Also the one place the CLI turns paths into a verified
//! program, for `simulate`, `test` and `serve`.

use crate::load;
use callflow_compiler::bytecode::{Program, disasm as dis, format, verify};
use callflow_compiler::diagnostics::render::{self, Style};
use callflow_compiler::diagnostics::{Diagnostics, Severity};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Why a program could not be had; printed by the caller (exit code 1 for flow errors, 2 else).
pub enum ProgramError {
    Io(String),
    Flows(String),
}

/// Loads, checks (printing errors) and lowers the flows at `paths`; or reads a bytecode file.
pub fn program(paths: &[PathBuf]) -> Result<Program, ProgramError> {
    if let [one] = paths {
        if one.is_file() && one.extension().is_none_or(|x| x != "flow") {
            return read(one);
        }
    }
    build(paths).map(|(_, p)| p)
}

/// Loads and checks the flows at `paths` and compiles them; the project comes back too (its
/// syntax trees hold the flows' tests).
pub fn build(paths: &[PathBuf]) -> Result<(callflow_compiler::Project, Program), ProgramError> {
    let (project, _) = load::project(paths).map_err(|e| ProgramError::Io(e.0))?;
    let p = lower_checked(&project)?;
    Ok((project, p))
}

fn lower_checked(project: &callflow_compiler::Project) -> Result<Program, ProgramError> {
    let mut checked = callflow_compiler::check(project);
    let facts = load::media_facts(&checked);
    callflow_compiler::check::media::check(&mut checked, &facts);
    let mut all = Diagnostics::default();
    all.list.extend(project.diags.list.iter().cloned());
    all.list.extend(checked.diags.list.iter().cloned());
    let errors: Vec<_> = all
        .sorted()
        .into_iter()
        .filter(|d| d.severity() == Severity::Error)
        .collect();
    if !errors.is_empty() {
        let mut text = String::new();
        for d in &errors {
            text.push_str(&render::human(
                d,
                &project.sources,
                Style {
                    color: false,
                    unicode: true,
                    width: 100,
                },
            ));
        }
        text.push_str(&format!(
            "{} error(s): fix them first (`callflow check` shows all problems)",
            errors.len()
        ));
        return Err(ProgramError::Flows(text));
    }
    let p = callflow_compiler::lower::lower(&checked)
        .map_err(|e| ProgramError::Flows(format!("{e:?}")))?;
    verify::verify(&p).map_err(|e| {
        ProgramError::Flows(format!(
            "internal compiler error CF0901: the compiled program does not verify: {e}"
        ))
    })?;
    Ok(p)
}

fn read(path: &Path) -> Result<Program, ProgramError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ProgramError::Io(format!("cannot read `{}`: {e}", path.display())))?;
    let p = format::decode(&bytes)
        .map_err(|e| ProgramError::Io(format!("`{}`: {e}", path.display())))?;
    verify::verify(&p).map_err(|e| {
        ProgramError::Io(format!(
            "`{}` does not verify, refusing to run it: {e}",
            path.display()
        ))
    })?;
    Ok(p)
}

pub fn report(e: ProgramError) -> ExitCode {
    match e {
        ProgramError::Io(m) => {
            eprintln!("error: {m}");
            ExitCode::from(2)
        }
        ProgramError::Flows(m) => {
            eprintln!("{m}");
            ExitCode::from(1)
        }
    }
}

pub fn compile(paths: &[PathBuf], output: &Path) -> ExitCode {
    match program(paths) {
        Ok(p) => {
            let bytes = format::encode(&p);
            if let Err(e) = std::fs::write(output, &bytes) {
                eprintln!("error: cannot write `{}`: {e}", output.display());
                return ExitCode::from(2);
            }
            eprintln!(
                "compiled {} flow(s), {} instructions, into `{}` ({} bytes)",
                p.flows.len(),
                p.code.len(),
                output.display(),
                bytes.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => report(e),
    }
}

pub fn disasm(paths: &[PathBuf]) -> ExitCode {
    match program(paths) {
        Ok(p) => {
            print!("{}", dis::disasm(&p));
            ExitCode::SUCCESS
        }
        Err(e) => report(e),
    }
}

/// A machine for `program`, with the cranelift tier when asked for (off by default: the
/// benchmark in docs/PERFORMANCE.md shows the interpreter is faster on these flows).
pub fn machine(program: &Program, jit: bool) -> Result<callflow_runtime::vm::Machine<'_>, String> {
    let mut m = callflow_runtime::vm::Machine::new(program).map_err(|e| e.to_string())?;
    if jit {
        m.enable_jit()
            .map_err(|e| format!("the JIT could not compile the flows: {e}"))?;
    }
    Ok(m)
}
