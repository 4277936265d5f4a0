//! `callflow explain CODE`: prints the page of a diagnostic code from `docs/errors/`.

use callflow_compiler::diagnostics::codes;
use std::process::ExitCode;

include!(concat!(env!("OUT_DIR"), "/error_pages.rs"));

pub fn run(code: &str) -> ExitCode {
    let wanted = code.trim().to_ascii_uppercase();
    let wanted = if wanted.starts_with("CF") {
        wanted
    } else {
        format!("CF{wanted:0>4}")
    };
    match PAGES.iter().find(|(c, _)| *c == wanted) {
        Some((_, page)) => {
            print!("{page}");
            ExitCode::SUCCESS
        }
        None => {
            let known = codes::find(&wanted).is_some();
            if known {
                eprintln!("error: {wanted} has no page yet (this is a bug in callflow)");
            } else {
                eprintln!(
                    "error: no diagnostic code {wanted}; codes look like CF0401 (`callflow check` prints them)"
                );
            }
            ExitCode::from(2)
        }
    }
}
