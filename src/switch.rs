//! `callflow switch NAME on|off`: sets an operator switch of the running server. The switches
//! live in `DATA/switches.json`, written whole and renamed into place (a reader never sees half
//! a file); the server reads it within half a second of a change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub const FILE: &str = "switches.json";

#[derive(clap::Args)]
pub struct Args {
    /// The switch, as the flows define it (`switch NAME { ... }`).
    pub name: String,
    /// `on` or `off`.
    pub state: String,
    /// The server's data directory.
    #[arg(long, default_value = "callflow-data")]
    pub data: PathBuf,
    /// The flows the server runs (to check that the switch exists).
    #[arg(long, default_value = "flows")]
    pub flows: Vec<PathBuf>,
}

/// The switches set so far (nothing when the file is missing or unreadable).
pub fn read(path: &Path) -> BTreeMap<String, bool> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub fn run(a: &Args) -> ExitCode {
    let on = match a.state.as_str() {
        "on" => true,
        "off" => false,
        other => {
            eprintln!("error: `{other}` is neither on nor off");
            return ExitCode::from(2);
        }
    };
    // The switch must be one the flows define.
    match crate::compile_cmd::program(&a.flows, crate::compile_cmd::Prompts::Optional) {
        Ok(p) => {
            let names: Vec<&str> = p.switches.iter().map(|s| p.str(s.name)).collect();
            if !names.contains(&a.name.as_str()) {
                let hint = callflow_compiler::diagnostics::suggest::closest(
                    &a.name,
                    names.iter().copied(),
                )
                .map_or_else(
                    || format!("the flows define: {}", names.join(", ")),
                    |c| format!("did you mean `{c}`?"),
                );
                eprintln!("error: no switch `{}` in the flows; {hint}", a.name);
                return ExitCode::from(2);
            }
        }
        Err(e) => return crate::compile_cmd::report(e),
    }
    let path = a.data.join(FILE);
    let mut all = read(&path);
    all.insert(a.name.clone(), on);
    let text = serde_json::to_string_pretty(&all).unwrap_or_default();
    let tmp = a.data.join(format!(".{FILE}.{}", std::process::id()));
    let written = std::fs::create_dir_all(&a.data)
        .and_then(|()| std::fs::write(&tmp, text))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        eprintln!("error: cannot write `{}`: {e}", path.display());
        return ExitCode::from(2);
    }
    eprintln!(
        "switch `{}` is {} (a running server with data directory `{}` takes it within a second)",
        a.name,
        a.state,
        a.data.display()
    );
    ExitCode::SUCCESS
}
