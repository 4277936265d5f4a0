//! Golden tests of diagnostics: every `tests/ui/*.flow` file (or directory of flow files) is
//! checked by the real `callflow` binary; its human output (with the summary line and exit code)
//! and its JSON output must equal `NAME.human` and `NAME.json` beside it. Set
//! `CALLFLOW_BLESS=1` to write the expected files from the current output, then review the diff.
//! Also checks that every diagnostic code has a golden and a page in `docs/errors/`.

use callflow_compiler::diagnostics::codes;
use std::path::{Path, PathBuf};
use std::process::Command;

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui")
}

fn cases() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(ui_dir())
        .expect("tests/ui exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (p.is_dir() && name.starts_with("CF")) || p.extension().is_some_and(|x| x == "flow")
        })
        .collect();
    out.sort();
    out
}

fn run(case: &Path, format: &str) -> String {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_callflow"))
        .current_dir(ui_dir())
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .args(["check", "--color", "never", "--format", format, &name])
        .output()
        .expect("callflow runs");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text.push_str(&format!("exit: {}\n", out.status.code().unwrap_or(-1)));
    text
}

fn expected_path(case: &Path, ext: &str) -> PathBuf {
    let stem = case.file_stem().unwrap().to_string_lossy().into_owned();
    case.with_file_name(format!("{stem}.{ext}"))
}

#[test]
fn goldens() {
    let bless = std::env::var_os("CALLFLOW_BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases() {
        for (format, ext) in [("human", "human"), ("json", "json")] {
            let actual = run(&case, format);
            let path = expected_path(&case, ext);
            if bless {
                std::fs::write(&path, &actual).expect("write golden");
                continue;
            }
            let expected = std::fs::read_to_string(&path).unwrap_or_default();
            if expected != actual {
                failures.push(format!(
                    "--- {} (expected)\n{expected}\n+++ actual\n{actual}",
                    path.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden(s) differ; run with CALLFLOW_BLESS=1 to update, then review the diff:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_code_has_a_golden_and_a_page() {
    if std::env::var_os("CALLFLOW_BLESS").is_some() {
        return; // the goldens are being rewritten by the other test right now
    }
    let mut goldens = String::new();
    for case in cases() {
        goldens
            .push_str(&std::fs::read_to_string(expected_path(&case, "json")).unwrap_or_default());
    }
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors");
    let mut missing = Vec::new();
    for code in codes::ALL {
        // CF0901 is an internal error: no flow can trigger it on purpose.
        if *code != codes::INTERNAL && !goldens.contains(&format!("\"code\":\"{}\"", code.as_str()))
        {
            missing.push(format!("{code}: no golden in tests/ui triggers it"));
        }
        let page = docs.join(format!("{}.md", code.as_str()));
        match std::fs::read_to_string(&page) {
            Ok(text) if text.contains(code.as_str()) => {}
            _ => missing.push(format!("{code}: no page {}", page.display())),
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
