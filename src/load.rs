//! Loads a project from the paths on the command line: `.flow` files found in directories
//! (recursively, in a stable order), the files they `use`, and the prompt facts the checker
//! asks for. The only place the CLI reads flow and prompt files.

use callflow_compiler::Project;
use callflow_compiler::check::Checked;
use callflow_compiler::check::media::Facts;
use std::path::{Path, PathBuf};

/// Problems that stop the command before checking (exit code 2).
#[derive(Debug)]
pub struct LoadError(pub String);

/// All `.flow` files under `path` (or `path` itself when it is a file), sorted.
fn flow_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| LoadError(format!("cannot read `{}`: {e}", path.display())))?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| LoadError(format!("cannot list `{}`: {e}", path.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            flow_files(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "flow") {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads the given files and directories and everything they use.
pub fn project(paths: &[PathBuf]) -> Result<(Project, usize), LoadError> {
    let mut files = Vec::new();
    for p in paths {
        let before = files.len();
        flow_files(p, &mut files)?;
        // A directory without flows is a mistake (a wrong path in CI), not a clean project.
        if files.len() == before {
            return Err(LoadError(format!(
                "no `.flow` files in `{}` (nor in its subdirectories)",
                p.display()
            )));
        }
    }
    let mut project = Project::new();
    for f in &files {
        let text = std::fs::read(f)
            .map_err(|e| LoadError(format!("cannot read `{}`: {e}", f.display())))?;
        let text = String::from_utf8(text)
            .map_err(|_| LoadError(format!("`{}` is not UTF-8 text", f.display())))?;
        project.add_file(f, text, true);
    }
    loop {
        let wanted = project.wanted();
        if wanted.is_empty() {
            break;
        }
        for w in wanted {
            match std::fs::read(&w).map(String::from_utf8) {
                Ok(Ok(text)) => {
                    project.add_file(&w, text, false);
                }
                Ok(Err(_)) => project.unreadable(&w, "it is not UTF-8 text"),
                Err(e) => project.unreadable(&w, &e.to_string()),
            }
        }
    }
    let n = project.files_read();
    Ok((project, n))
}

/// Checks a loaded project completely: the language checks, then the prompt files the flows
/// play, read from disk. The one pipeline `check`, `compile`, `simulate` and `test` share.
pub fn check(project: &Project) -> Checked<'_> {
    let mut checked = callflow_compiler::check(project);
    let facts = media_facts(&checked);
    callflow_compiler::check::media::check(&mut checked, &facts);
    checked
}

/// Reads the header of every prompt file the checked flows play.
pub fn media_facts(checked: &Checked) -> Facts {
    let mut facts = Facts::default();
    for pf in &checked.prompt_files {
        if pf.path.as_os_str().is_empty() || facts.files.contains_key(&pf.path) {
            continue;
        }
        let fact = crate::wav::probe(&pf.path);
        if fact == callflow_compiler::check::MediaFact::Missing
            && let Some(dir) = pf.path.parent()
        {
            facts
                .listings
                .entry(dir.to_path_buf())
                .or_insert_with(|| list_prompts(dir));
        }
        facts.files.insert(pf.path.clone(), fact);
    }
    for pack in &checked.say_packs {
        for f in pack.files() {
            let fact = crate::wav::probe(&f);
            facts.files.insert(f, fact);
        }
    }
    facts
}

fn list_prompts(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}
