//! Times the phases of checking the example flows repeated N times (best of 5; for profiling).
use std::path::PathBuf;
use std::time::Instant;
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let mut texts = Vec::new();
    for e in std::fs::read_dir("flows").unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "flow") {
            texts.push((p.clone(), std::fs::read_to_string(&p).unwrap()));
        }
    }
    let all: String = texts
        .iter()
        .map(|t| t.1.as_str())
        .collect::<String>()
        .repeat(n);
    let mb = all.len() as f64 / 1e6;
    let best = |f: &mut dyn FnMut()| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::MAX, f64::min)
    };
    let mut d = callflow_compiler::diagnostics::Diagnostics::default();
    let t_tree = best(&mut || {
        std::hint::black_box(callflow_compiler::syntax::tree::parse(
            Default::default(),
            &all,
            &mut d,
        ));
    });
    let t_syntax = best(&mut || {
        std::hint::black_box(callflow_compiler::syntax::parse(
            Default::default(),
            &all,
            &mut d,
        ));
    });
    println!(
        "{mb:.2} MB: tree {:.1} MB/s, tree+syntax {:.1} MB/s",
        mb / t_tree,
        mb / t_syntax
    );
    // The real project once (not repeated: names would clash).
    let bytes: usize = texts.iter().map(|t| t.1.len()).sum();
    let mb = bytes as f64 / 1e6;
    let mut project = None;
    let t_load = best(&mut || {
        let mut p = callflow_compiler::Project::new();
        for (path, t) in &texts {
            p.add_file(&PathBuf::from(path), t.clone(), true);
        }
        project = Some(p);
    });
    let p = project.unwrap();
    let t_check = best(&mut || {
        std::hint::black_box(callflow_compiler::check(&p).diags.list.len());
    });
    println!(
        "examples {mb:.3} MB: load+parse {:.1} MB/s, check {:.1} MB/s",
        mb / t_load,
        mb / t_check
    );
}
