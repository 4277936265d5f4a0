//! Check throughput on generated projects of 1×, 10× and 100× the example flows in `flows/`
//! (each copy renames its definitions and numbers so the project stays valid). Reports bytes
//! per second; docs/PERFORMANCE.md records the figures and the scaling ratio.
//! Run: `cargo bench -p callflow-compiler --bench check`.

use callflow_compiler::Project;
use callflow_compiler::ast::Item;
use callflow_compiler::check::MediaFact;
use callflow_compiler::check::media::{self, Facts};
use callflow_compiler::diagnostics::Diagnostics;
use callflow_compiler::source::FileId;
use callflow_compiler::syntax::tree::{self, Line, Part, TokKind};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// The allocator the `callflow` binary uses, so the figures are what users get.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn examples() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("flows/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "flow"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn tokens(lines: &[Line], out: &mut Vec<(TokKind, usize, usize, String, bool)>) {
    for l in lines {
        let numbers =
            matches!(l.parts.first(), Some(Part::Tok(t)) if t.text == "numbers" || t.text == "use");
        for p in &l.parts {
            match p {
                Part::Tok(t) => out.push((
                    t.kind,
                    t.span.start as usize,
                    t.span.end as usize,
                    t.text.clone(),
                    numbers,
                )),
                Part::Block(b) => tokens(&b.lines, out),
            }
        }
    }
}

/// `copies` renamed copies of the example project: `(path, text)`.
pub fn generate(copies: usize) -> Vec<(PathBuf, String)> {
    let ex = examples();
    let mut globals: HashSet<String> = HashSet::new();
    for (_, text) in &ex {
        let m = callflow_compiler::syntax::parse(FileId(0), text, &mut Diagnostics::default());
        for item in &m.items {
            let name = match item {
                Item::Flow(f) => &f.name,
                Item::Hours(h) => &h.name,
                Item::Holidays(h) => &h.name,
                Item::Group(g) => &g.name,
                Item::Agent(a) => &a.name,
                Item::Voicemail(v) => &v.name,
                Item::Prompt(p) => &p.name,
                Item::Switch(s) => &s.name,
                Item::Lookup(l) => &l.name,
                Item::Use(_) | Item::Test(_) => continue,
            };
            globals.insert(name.name.clone());
        }
    }
    let mut counter = 0u64;
    let mut out = Vec::new();
    for k in 0..copies {
        for (stem, text) in &ex {
            let mut toks = Vec::new();
            tokens(
                &tree::parse(FileId(0), text, &mut Diagnostics::default()),
                &mut toks,
            );
            let mut s = String::with_capacity(text.len() + 256);
            let mut at = 0;
            for (kind, start, end, t, special) in toks {
                let replacement = match kind {
                    TokKind::Ident if globals.contains(&t) => Some(format!("{t}_{k}")),
                    // Prompt definitions are named in quotes where they are played.
                    TokKind::Str if globals.contains(&t) => Some(format!("\"{t}_{k}\"")),
                    TokKind::Str if special && t.ends_with(".flow") => {
                        Some(format!("\"{}_{k}.flow\"", t.trim_end_matches(".flow")))
                    }
                    TokKind::Str if special => {
                        counter += 1;
                        Some(format!("\"+4930{counter:08}\""))
                    }
                    _ => None,
                };
                if let Some(r) = replacement {
                    s.push_str(&text[at..start]);
                    s.push_str(&r);
                    at = end;
                }
            }
            s.push_str(&text[at..]);
            out.push((PathBuf::from(format!("flows/{stem}_{k}.flow")), s));
        }
    }
    out
}

fn check(files: &[(PathBuf, String)]) -> usize {
    check_diags(files).len()
}

fn check_diags(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut p = Project::new();
    for (path, text) in files {
        p.add_file(path, text.clone(), true);
    }
    let mut checked = callflow_compiler::check(&p);
    // What the CLI would have read from disk: every prompt present and playable.
    let ok = MediaFact::Wav {
        sample_rate: 8000,
        channels: 1,
        bits: 16,
        format: 1,
    };
    // ... and every word of the say packs the flows need.
    let facts = Facts {
        files: checked
            .prompt_files
            .iter()
            .map(|f| f.path.clone())
            .chain(checked.say_packs.iter().flat_map(|p| p.files()))
            .map(|f| (f, ok.clone()))
            .collect(),
        ..Facts::default()
    };
    media::check(&mut checked, &facts);
    checked
        .diags
        .list
        .iter()
        .chain(&p.diags.list)
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("check");
    for copies in [1, 10, 100] {
        let files = generate(copies);
        // The generated project must be as clean as the examples, or the figures mean nothing.
        let diags = check_diags(&files);
        assert!(
            diags.is_empty(),
            "generated project has diagnostics: {diags:#?}"
        );
        let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        if copies == 100 {
            g.sample_size(10);
        }
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{copies}x")),
            &files,
            |b, files| b.iter(|| check(files)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
