//! `callflow check`: load, check, print the diagnostics in the chosen format and a summary,
//! and exit 0 (clean), 1 (errors, or warnings with --deny-warnings) or 2 (usage or I/O error).

use crate::{Color, Format, load};
use callflow_compiler::diagnostics::render::{self, Style};
use callflow_compiler::diagnostics::{Diagnostics, Severity};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(paths: &[PathBuf], format: Format, deny_warnings: bool, color: Color) -> ExitCode {
    let (project, nfiles) = match load::project(paths) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {}", e.0);
            return ExitCode::from(2);
        }
    };
    let mut checked = load::check(&project);
    let mut all = Diagnostics::default();
    all.list.extend(project.diags.list.iter().cloned());
    all.extend(std::mem::take(&mut checked.diags));
    let diags = all.sorted();

    let stdout = std::io::stdout();
    let colored = match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    let style = Style {
        color: colored,
        unicode: true,
        width,
    };
    let mut out = std::io::BufWriter::new(stdout.lock());
    // A reader that stops early (`| head`) closes the pipe: the output stops there, quietly,
    // and the exit status still says what the check found.
    let mut closed = false;
    for d in &diags {
        let text = match format {
            // A blank line between reports, as rustc does.
            Format::Human => render::human(d, &project.sources, style) + "\n",
            Format::Json => {
                serde_json::to_string(&render::json(d, &project.sources)).unwrap_or_default() + "\n"
            }
            Format::Github => render::github(d, &project.sources) + "\n",
        };
        match out.write_all(text.as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                closed = true;
                break;
            }
            Err(_) => return ExitCode::from(2),
        }
    }
    if !closed && out.flush().is_err() {
        closed = true;
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity() == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    if !closed {
        // Standard error may be the same closed pipe (`2>&1 | head`): never a panic.
        let _ = writeln!(std::io::stderr(), "{}", summary(errors, warnings, nfiles));
    }
    if errors > 0 || (deny_warnings && warnings > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// "3 errors, 1 warning in 7 files".
pub fn summary(errors: usize, warnings: usize, files: usize) -> String {
    if errors == 0 && warnings == 0 {
        return format!("no problems in {}", plural(files, "file"));
    }
    format!(
        "{}, {} in {}",
        plural(errors, "error"),
        plural(warnings, "warning"),
        plural(files, "file")
    )
}
