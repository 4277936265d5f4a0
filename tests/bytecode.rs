//! Bytecode goldens: each `tests/bytecode/*.flow` compiles to the disassembly in its `.disasm`
//! file (instructions with the source lines they came from, and the tables). `CALLFLOW_BLESS=1`
//! rewrites them. Also: a compiled file disassembles to the same text (the format round-trips),
//! and damaged files are refused with a clear message, never a crash.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bytecode")
}

fn callflow(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callflow"))
        .current_dir(dir())
        .args(args)
        .output()
        .expect("callflow runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cases() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir())
        .expect("tests/bytecode exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".flow"))
        .collect();
    v.sort();
    v
}

#[test]
fn disassembly_goldens() {
    let bless = std::env::var_os("CALLFLOW_BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases() {
        let (code, out, err) = callflow(&["disasm", &case]);
        assert_eq!(code, 0, "{case}: {err}");
        let golden = dir().join(case.replace(".flow", ".disasm"));
        if bless {
            std::fs::write(&golden, &out).unwrap();
        } else if std::fs::read_to_string(&golden).unwrap_or_default() != out {
            failures.push(format!(
                "--- {} (expected)\n{}\n+++ actual\n{out}",
                golden.display(),
                std::fs::read_to_string(&golden).unwrap_or_default()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "run with CALLFLOW_BLESS=1 and review:\n{}",
        failures.join("\n")
    );
}

#[test]
fn compiled_files_disassemble_the_same() {
    let tmp = std::env::temp_dir().join(format!("callflow-bc-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for case in cases() {
        let file = tmp.join(case.replace(".flow", ".cfb"));
        let file = file.to_string_lossy().into_owned();
        let (code, _, err) = callflow(&["compile", &case, "-o", &file]);
        assert_eq!(code, 0, "{err}");
        let (_, from_flow, _) = callflow(&["disasm", &case]);
        let (code, from_file, err) = callflow(&["disasm", &file]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(from_flow, from_file, "{case}");
    }
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn damaged_files_are_refused_clearly() {
    let tmp = std::env::temp_dir().join(format!("callflow-bad-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let good = tmp.join("good.cfb");
    let (code, _, err) = callflow(&["compile", "routes.flow", "-o", &good.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&good).unwrap();
    let mut wrong_version = bytes.clone();
    wrong_version[8] = 99;
    let mut flipped = bytes.clone();
    let mid = bytes.len() / 2;
    flipped[mid] ^= 0x40;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", bytes[..bytes.len() - 10].to_vec(), "truncated"),
        ("header only", bytes[..20].to_vec(), "too short"),
        ("wrong version", wrong_version, "format version 99"),
        ("flipped bit", flipped, "corrupted"),
        (
            "not bytecode",
            b"flow x { }".to_vec(),
            "not a callflow bytecode file",
        ),
    ];
    for (what, data, expect) in cases {
        let path = tmp.join("bad.cfb");
        std::fs::write(&path, data).unwrap();
        let (code, out, err) = callflow(&["disasm", &path.to_string_lossy()]);
        assert_eq!(code, 2, "{what}: {out}{err}");
        assert!(err.contains(expect), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
    }
    std::fs::remove_dir_all(&tmp).ok();
}
