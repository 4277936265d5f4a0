//! The `callflow` command line as CI uses it: exit codes, output formats, the summary line,
//! directory recursion and `explain`.

use std::path::Path;
use std::process::{Command, Output};

fn callflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callflow"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli"))
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("callflow runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn clean_directory_exits_zero_and_finds_nested_files() {
    let out = callflow(&["check", "clean"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "no problems in 2 files\n");
}

#[test]
fn warnings_pass_unless_denied() {
    let out = callflow(&["check", "warn"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("CF0302"));
    assert_eq!(text(&out.stderr), "0 errors, 1 warning in 1 file\n");
    let out = callflow(&["check", "--deny-warnings", "warn"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn errors_exit_one() {
    let out = callflow(&["check", "../ui"]);
    assert_eq!(out.status.code(), Some(1));
    let summary = text(&out.stderr);
    assert!(
        summary.contains(" errors, ") && summary.ends_with(" files\n"),
        "{summary}"
    );
}

#[test]
fn json_is_one_object_per_line() {
    let out = callflow(&["check", "--format", "json", "warn"]);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1);
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("valid JSON");
    assert_eq!(v["code"], "CF0302");
    assert_eq!(v["severity"], "warning");
    assert_eq!(v["file"], "warn/w.flow");
    assert_eq!(v["line"], 6);
    assert_eq!(v["column"], 5);
    assert!(v["labels"].as_array().is_some_and(|l| l.len() >= 2));
    assert!(v["help"].as_str().is_some_and(|h| h.contains("hangup")));
}

#[test]
fn github_annotations() {
    let out = callflow(&["check", "--format", "github", "warn"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(
            "::warning file=warn/w.flow,line=6,col=5,endLine=6,endColumn=6,title=CF0302::"
        ),
        "{stdout}"
    );
}

#[test]
fn usage_and_io_errors_exit_two() {
    let out = callflow(&["check", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read `no/such/dir`"));
    assert_eq!(callflow(&["check"]).status.code(), Some(2));
    assert_eq!(
        callflow(&["check", "--format", "xml", "clean"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn a_directory_without_flows_is_an_error_not_a_clean_project() {
    let dir = std::env::temp_dir().join(format!("callflow-empty-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("notes.txt"), "no flows here").unwrap();
    let out = callflow(&["check", dir.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no `.flow` files in"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_reader_that_stops_early_gets_no_panic_and_the_status_stays() {
    // `callflow check ../ui 2>&1 | head -3`: both pipes closed before the output is written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_callflow"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli"))
        .args(["check", "../ui"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("callflow runs");
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "errors found: exit 1 (101 is a panic)"
    );
}

#[test]
fn the_readme_tour_checks_clean() {
    // The tour is what new users copy first: it must be a flow `check` accepts as it stands,
    // beside the example project's `common.flow` (whose prompts it plays).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let tour = readme
        .split("## A 5-minute tour")
        .nth(1)
        .and_then(|t| t.split("```flow\n").nth(1))
        .and_then(|t| t.split("```").next())
        .expect("the README has a tour with a flow");
    let path = root
        .join("flows")
        .join(format!(".tour-{}.flow", std::process::id()));
    std::fs::write(&path, tour).unwrap();
    let out = callflow(&["check", "--format", "json", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    // Its prompts are illustrations (not shipped): a missing prompt file is the only report.
    let codes: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["code"].to_string())
        .collect();
    assert!(
        codes.iter().all(|c| c == "\"CF0701\""),
        "{codes:?}\n{}",
        text(&out.stdout)
    );
}

#[test]
fn explain_prints_the_page() {
    let out = callflow(&["explain", "CF0401"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("# CF0401"));
    let out = callflow(&["explain", "cf0401"]);
    assert_eq!(out.status.code(), Some(0));
    let out = callflow(&["explain", "CF9999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no diagnostic code CF9999"));
}

#[test]
fn simulate_takes_instants_and_refuses_local_times_that_do_not_exist_or_happen_twice() {
    let flows = Path::new(env!("CARGO_MANIFEST_DIR")).join("flows");
    let flows = flows.to_str().unwrap();
    let at = |when: &str| {
        callflow(&[
            "simulate",
            flows,
            "--number",
            "+49 30 2555 5366",
            "--at",
            when,
        ])
    };
    // Support is open until 18:00 in Berlin (UTC+1 in January).
    let open = at("2026-01-07T16:59Z");
    assert_eq!(open.status.code(), Some(0), "{}", text(&open.stderr));
    assert!(
        !text(&open.stdout).contains("voicemail support_box"),
        "{}",
        text(&open.stdout)
    );
    let closed = at("2026-01-07T18:00+01:00");
    assert_eq!(closed.status.code(), Some(0), "{}", text(&closed.stderr));
    assert!(
        text(&closed.stdout).contains("voicemail support_box"),
        "{}",
        text(&closed.stdout)
    );
    // The same instant written in UTC decides the same way (after the line that echoes it).
    let body = |o: &Output| text(&o.stdout).split_once('\n').map(|x| x.1.to_string());
    assert_eq!(body(&at("2026-01-07T17:00Z")), body(&closed));
    // 02:30 on the last Sunday of March does not exist in Berlin; in October it happens twice.
    let gap = at("2026-03-29T02:30");
    assert_eq!(gap.status.code(), Some(2));
    assert!(
        text(&gap.stderr).contains("does not exist in Europe/Berlin"),
        "{}",
        text(&gap.stderr)
    );
    let fold = at("2026-10-25 02:30");
    assert_eq!(fold.status.code(), Some(2));
    assert!(
        text(&fold.stderr).contains("happens twice") && text(&fold.stderr).contains("+02"),
        "{}",
        text(&fold.stderr)
    );
}

#[test]
fn simulate_runs_a_scenario_of_several_calls_with_a_summary() {
    let flows = Path::new(env!("CARGO_MANIFEST_DIR")).join("flows");
    let flows = flows.to_str().unwrap();
    let out = callflow(&["simulate", flows, "--scenario", "monday morning rush"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("call 1 from +49 170 5550101"), "{stdout}");
    let summary = stdout
        .split("summary of \"monday morning rush\":")
        .nth(1)
        .unwrap();
    assert_eq!(
        summary
            .lines()
            .filter(|l| l.trim_start().starts_with("call "))
            .count(),
        6
    );
    assert!(summary.contains("the caller hung up"), "{summary}");
    assert!(summary.contains("waited 5m5s"), "{summary}");

    let out = callflow(&[
        "simulate",
        flows,
        "--scenario",
        "monday morning rush",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["calls"].as_array().unwrap().len(), 6);
    assert_eq!(v["calls"][4]["outcome"], "the caller hung up");

    let out = callflow(&["simulate", flows, "--scenario", "monday rush"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("the scenarios are: \"monday morning rush\""));
}

#[test]
fn scenarios_need_no_expectations_and_are_not_tests() {
    let dir = std::env::temp_dir().join(format!("callflow-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.flow");
    std::fs::write(
        &file,
        "flow f {\n numbers \"200\"\n start { hangup }\n}\nscenario \"look\" {\n call \"200\"\n}\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = callflow(&["check", "--deny-warnings", path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = callflow(&["test", path]);
    assert!(
        text(&out.stderr).contains("no tests"),
        "{}",
        text(&out.stderr)
    );
    let out = callflow(&["simulate", path, "--scenario", "look"]);
    assert!(text(&out.stdout).contains("the flow hangs up"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_openapi_document_in_docs_is_what_the_code_says() {
    let out = Command::new(env!("CARGO_BIN_EXE_callflow"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let kept = std::fs::read_to_string(&path).unwrap();
    assert!(
        generated == kept,
        "docs/openapi.json is out of date: run `callflow openapi > docs/openapi.json`"
    );
}

#[test]
fn a_files_country_is_its_flows_country() {
    let dir = std::env::temp_dir().join(format!("callflow-file-country-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let flows = r#"
flow sales {
    numbers "030 2555 5200"
    start {
        transfer "089 1234 5678"
    }
}
flow care {
    numbers "+41 44 668 1800"
    country "CH"
    start {
        transfer "044 668 1801"
    }
}
"#;
    // Without a country, "030 2555 5200" is an internal number, not +49 30 2555 5200.
    std::fs::write(dir.join("a.flow"), flows).unwrap();
    let call = |number: &str| callflow(&["simulate", dir.to_str().unwrap(), "--number", number]);
    let out = call("+49 30 2555 5200");
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // With one at the top of the file, it is the German number; the flow naming its own
    // country keeps it.
    std::fs::write(dir.join("a.flow"), format!("country \"DE\"\n{flows}")).unwrap();
    let out = callflow(&["check", "--deny-warnings", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = call("+49 30 2555 5200");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("+498912345678"),
        "{}",
        text(&out.stdout)
    );
    let out = call("+41 44 668 1800");
    assert!(
        text(&out.stdout).contains("+41446681801"),
        "{}",
        text(&out.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fixture directory checks clean and its own `test` blocks pass (`tests` of them).
fn fixture_passes_its_tests(dir: &str, tests: usize) {
    let out = callflow(&["check", "--deny-warnings", dir]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = callflow(&["test", dir]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains(&format!("{tests} passed, 0 failed")), "{all}");
}

#[test]
fn tiers_ring_tier_by_tier_under_every_strategy_and_open_over_time() {
    // The flow's own tests state the orders: round robin inside each tier, tier 2 opening after
    // two minutes of waiting, tier 1 freeing up first.
    fixture_passes_its_tests("tiers", 4);
}

#[test]
fn counters_and_joined_texts_decide_calls() {
    // A PIN with three tries counted by `set tries = tries + 1`, `3 - tries` deciding the last
    // warning, and the transfer target joined from texts and the digits collected.
    fixture_passes_its_tests("arith", 3);
}
