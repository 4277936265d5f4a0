//! `callflow compile` (flows → checked → bytecode file) and `callflow disasm` (bytecode file or
//! flows → readable instructions). Also the one place the CLI turns paths into a verified
//! program, for `simulate` and `test`.

use crate::load;
use callflow_compiler::bytecode::{Program, disasm as dis, format, verify};
use callflow_compiler::diagnostics::render::{self, Style};
use callflow_compiler::diagnostics::{Diagnostics, Severity};
use callflow_compiler::lower::LowerError;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Why a program could not be had; printed by the caller (exit code 1 for flow errors, 2 else).
pub enum ProgramError {
    Io(String),
    Flows(String),
}

/// Whether prompt files must exist and be playable: for what will answer calls (`compile`), yes;
/// for trying flows (`simulate`, `test`, `disasm`), no — flows can be tried before the prompts
/// are recorded, with a note.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Prompts {
    Required,
    Optional,
}

/// Whether `path` is a bytecode file (it starts with the magic), whatever its name.
fn is_bytecode(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == format::MAGIC
}

/// Loads, checks (printing errors) and lowers the flows at `paths`; or reads a bytecode file.
pub fn program(paths: &[PathBuf], prompts: Prompts) -> Result<Program, ProgramError> {
    if let [one] = paths {
        // Bytecode by its magic, whatever its name, and `.cfb` files even when damaged (so they
        // get a clear "not bytecode" error rather than flow syntax errors).
        if one.is_file() && (is_bytecode(one) || one.extension().is_some_and(|x| x == "cfb")) {
            return read(one);
        }
    }
    build(paths, prompts).map(|(_, p)| p)
}

/// Loads and checks the flows at `paths` and compiles them; the project comes back too (its
/// syntax trees hold the flows' tests).
pub fn build(
    paths: &[PathBuf],
    prompts: Prompts,
) -> Result<(callflow_compiler::Project, Program), ProgramError> {
    let (project, _) = load::project(paths).map_err(|e| ProgramError::Io(e.0))?;
    let p = lower_checked(&project, prompts)?;
    Ok((project, p))
}

pub fn lower_checked(
    project: &callflow_compiler::Project,
    prompts: Prompts,
) -> Result<Program, ProgramError> {
    let mut checked = load::check(project);
    if prompts == Prompts::Optional {
        use callflow_compiler::diagnostics::codes;
        let before = checked.diags.list.len();
        checked
            .diags
            .list
            .retain(|d| d.code != codes::PROMPT_MISSING && d.code != codes::PROMPT_FORMAT);
        let skipped = before - checked.diags.list.len();
        if skipped > 0 {
            eprintln!(
                "note: {skipped} prompt file(s) missing or not playable; going on without them (`callflow check` lists them)"
            );
        }
    }
    let mut all = Diagnostics::default();
    all.list.extend(project.diags.list.iter().cloned());
    all.list.extend(checked.diags.list.iter().cloned());
    let errors: Vec<_> = all
        .sorted()
        .into_iter()
        .filter(|d| d.severity() == Severity::Error)
        .collect();
    if !errors.is_empty() {
        return Err(ProgramError::Flows(errors_text(
            &errors.iter().collect::<Vec<_>>(),
            project,
            "fix them first (`callflow check` shows all problems)",
        )));
    }
    let p = callflow_compiler::lower::lower(&checked).map_err(|e| match e {
        LowerError::HasErrors(n) => ProgramError::Flows(format!("{n} error(s) in the flows")),
        LowerError::Internal(gaps) => ProgramError::Flows(errors_text(
            &gaps.iter().collect::<Vec<_>>(),
            project,
            "nothing was compiled",
        )),
    })?;
    verify::verify(&p).map_err(|e| {
        ProgramError::Flows(format!(
            "internal compiler error CF0901: the compiled program does not verify: {e}"
        ))
    })?;
    Ok(p)
}

/// Diagnostics as the human renderer shows them, then a closing line.
fn errors_text(
    errors: &[&callflow_compiler::diagnostics::Diagnostic],
    project: &callflow_compiler::Project,
    then: &str,
) -> String {
    let mut text = String::new();
    for d in errors {
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
    text.push_str(&format!("{} error(s): {then}", errors.len()));
    text
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
    match program(paths, Prompts::Required) {
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
    match program(paths, Prompts::Optional) {
        Ok(p) => {
            print!("{}", dis::disasm(&p));
            ExitCode::SUCCESS
        }
        Err(e) => report(e),
    }
}

/// A machine for `program`, with the cranelift tier when asked for (off by default: the
/// benchmark in docs/PERFORMANCE.md shows the interpreter is faster on these flows).
/// On failure the error is printed and the exit code (2) comes back.
pub fn machine(program: &Program, jit: bool) -> Result<callflow_runtime::vm::Machine, ExitCode> {
    let fail = |e: String| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    };
    let mut m =
        callflow_runtime::vm::Machine::new(program.clone()).map_err(|e| fail(e.to_string()))?;
    if jit {
        m.enable_jit()
            .map_err(|e| fail(format!("the JIT could not compile the flows: {e}")))?;
    }
    Ok(m)
}
