//! VM benchmarks on the example flows (docs/PERFORMANCE.md records the figures):
//! - a call from its start to the first effect (the decision path: calendars, conditions);
//! - a full traversal of the three-level IVR menu of `flows/ivr.flow`, answering every effect;
//! - compiling the example project (check + lower + verify).
//!
//! Run: `cargo bench -p callflow-runtime --bench vm`.

use callflow_compiler::Project;
use callflow_compiler::bytecode::{Program, Stat};
use callflow_runtime::vm::{Event, Machine, NoTrace, Step, World};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;

/// The allocator the `callflow` binary uses, so the figures are what users get.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Fixed(jiff::Timestamp);

impl World for Fixed {
    fn now(&self) -> jiff::Timestamp {
        self.0
    }
    fn switch(&self, _: &str, default: bool) -> bool {
        default
    }
    fn stat(&self, _: &str, _: Stat) -> i64 {
        3
    }
}

fn project() -> Project {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows");
    let mut p = Project::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    for path in paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "flow"))
    {
        p.add_file(&path, std::fs::read_to_string(&path).unwrap(), true);
    }
    p
}

fn compile(p: &Project) -> Program {
    let checked = callflow_compiler::check(p);
    let program = callflow_compiler::lower::lower(&checked).expect("examples compile");
    callflow_compiler::bytecode::verify::verify(&program).expect("verifies");
    program
}

/// Wednesday 2026-01-07 10:00 in Berlin: every office is open.
fn morning() -> jiff::Timestamp {
    "2026-01-07T09:00:00Z".parse().unwrap()
}

fn bench(c: &mut Criterion) {
    let project = project();
    let program = compile(&project);
    let m = Machine::new(program.clone()).unwrap();
    let world = Fixed(morning());
    let support = program.flow_for("+493025555366").unwrap();
    let ivr = program.flow_for("+493025555000").unwrap();

    let mut jitted = Machine::new(program.clone()).unwrap();
    let code = jitted.enable_jit().expect("the JIT compiles the examples");
    eprintln!(
        "jit: {} regions compiled in {:?}",
        code.compiled_regions, code.compile_time
    );
    for (tier, m) in [("interpreter", &m), ("jit", &jitted)] {
        c.bench_function(&format!("vm/{tier}/start_to_first_effect (support)"), |b| {
            b.iter(|| {
                let mut call = m.start(support, "+4930123456", "+493025555366");
                black_box(m.resume(&mut call, 0, Event::Start, &world, &mut NoTrace))
            })
        });
        // The IVR: main menu "3" (service), "2" (billing), "*" (back to service), "2"
        // (billing), "0" (top: main), "215" (extension pattern) → transfer.
        let keys = ["3", "2", "*", "2", "0", "215"];
        let traverse = || {
            let mut call = m.start(ivr, "+4930123456", "+493025555000");
            let (mut id, mut event) = (0, Event::Start);
            let mut k = keys.iter();
            loop {
                match m.resume(&mut call, id, event, &world, &mut NoTrace) {
                    Ok(Step::End(end)) => return end,
                    Ok(Step::Effect(next, callflow_runtime::vm::Effect::Keys { .. })) => {
                        id = next;
                        event = Event::Keys(k.next().map_or("", |s| *s).to_string())
                    }
                    Ok(Step::Effect(next, _)) => (id, event) = (next, Event::Done),
                    Err(e) => panic!("refused: {e}"),
                }
            }
        };
        assert!(
            matches!(traverse(), callflow_runtime::vm::End::Transferred(_)),
            "the traversal reaches the extension"
        );
        c.bench_function(&format!("vm/{tier}/ivr_menu_traversal"), |b| {
            b.iter(|| black_box(traverse()))
        });
    }
    c.bench_function("jit/compile_example_program", |b| {
        b.iter(|| {
            black_box(
                callflow_runtime::jit::compile(&program)
                    .unwrap()
                    .compiled_regions,
            )
        })
    });

    c.bench_function("compile/example_project", |b| {
        b.iter(|| black_box(compile(&project).code.len()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
