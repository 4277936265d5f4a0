//! Call-centre engine benchmarks (docs/PERFORMANCE.md records the figures):
//! - one arrival: a call routed to a group of 10, 100 or 1,000 ready agents until the first
//!   agent rings (the plan, the offer, the actions out);
//! - an agent finishing wrap-up in a group of 100 agents while 1,000 or 10,000 callers wait:
//!   the longest-waiting caller is found and rung;
//! - memory per waiting caller (printed once; counted by a wrapping allocator).
//!
//! Run: `cargo bench -p callflow-runtime --bench engine`.

use callflow_compiler::Project;
use callflow_compiler::bytecode::Program;
use callflow_runtime::acd::agent::Presence;
use callflow_runtime::acd::engine::{Action, Config, Engine, RouteRequest};
use callflow_runtime::acd::store::Durable;
use callflow_runtime::acd::{AgentId, CallId};
use criterion::{Criterion, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[path = "common/counting.rs"]
mod counting;
use counting::{COUNTING, Counting, LIVE};

#[global_allocator]
static ALLOC: Counting = Counting;

/// A project with `agents` agents in one group (`strategy`, a queue with `queue` settings).
fn program(agents: usize, strategy: &str, queue: &str) -> Program {
    let mut text = String::new();
    for i in 0..agents {
        text.push_str(&format!("agent a{i} {{ contact \"sip:a{i}@pbx\" }}\n"));
    }
    let members: Vec<String> = (0..agents).map(|i| format!("a{i}")).collect();
    text.push_str(&format!(
        "group g {{ members {}; strategy {strategy}; ring 15s; wrap_up 30s }}\n",
        members.join(", ")
    ));
    text.push_str(&format!(
        "flow f {{ numbers \"200\" timezone \"Europe/Berlin\" start {{ route g {{ sticky today; \
         queue {{ {queue} }}; busy => hangup }} }} }}\n"
    ));
    let mut p = Project::new();
    p.add_file(Path::new("bench.flow"), text, true);
    let checked = callflow_compiler::check(&p);
    callflow_compiler::lower::lower(&checked).expect("the bench flow compiles")
}

/// As a call centre configures it: music, position announcements, a maximum wait.
const CENTRE_QUEUE: &str = "music \"hold\"; announce position every 60s; max_wait 20m => hangup";
/// Music only, so that no other timer falls due while agents free up over simulated weeks.
const PLAIN_QUEUE: &str = "music \"hold\"";

fn engine(p: Program) -> Engine {
    Engine::new(
        Arc::new(p),
        Config {
            default_presence: Presence::Ready,
            max_wait_ceiling_ms: 10 * 365 * 86_400_000,
            // What a server logging at info level does: plans without the skipped list.
            explain: false,
            ..Config::default()
        },
        &Durable::default(),
    )
}

fn drain(e: &mut Engine) -> Option<(CallId, AgentId)> {
    let mut rung = None;
    while let Some(a) = e.poll_action() {
        if let Action::Ring { call, agent, .. } = a {
            rung.get_or_insert((call, agent));
        }
    }
    rung
}

fn request<'a>(caller: &'a str, zone: &jiff::tz::TimeZone) -> RouteRequest<'a> {
    RouteRequest {
        route: 0,
        caller,
        zone: zone.clone(),
        entropy: 1,
        priority: 0,
    }
}

fn berlin() -> jiff::tz::TimeZone {
    jiff::tz::db().get("Europe/Berlin").unwrap()
}

fn start() -> Timestamp {
    "2026-01-07T09:00:00Z".parse().unwrap()
}

fn arrival(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/arrival");
    for agents in [10, 100, 1000] {
        for strategy in ["sequential", "longest_idle"] {
            let mut e = engine(program(agents, strategy, CENTRE_QUEUE));
            let now = start();
            let zone = berlin();
            let callers: Vec<String> = (0..64).map(|i| format!("+49170{i:07}")).collect();
            let mut call: CallId = 0;
            g.bench_function(format!("{strategy}/{agents}_agents"), |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for i in 0..iters {
                        call += 1;
                        let caller = &callers[i as usize % callers.len()];
                        let req = request(caller, &zone);
                        let t = Instant::now();
                        e.route(now, call, req).unwrap();
                        let rung = drain(&mut e);
                        spent += t.elapsed();
                        assert!(rung.is_some());
                        e.left(now, call).unwrap();
                        drain(&mut e);
                    }
                    spent
                })
            });
        }
    }
    g.finish();
}

/// `agents` busy agents and `waiting` callers in the queue; the first agent is in wrap-up.
fn busy_centre(agents: usize, waiting: usize) -> (Engine, Timestamp, CallId) {
    let mut e = engine(program(agents, "sequential", PLAIN_QUEUE));
    let mut now = start();
    let zone = berlin();
    for a in 1..agents {
        e.busy_elsewhere(a as AgentId, None).unwrap();
    }
    // Agent 0 takes call 1 and goes into wrap-up when it ends.
    e.route(now, 1, request("+491", &zone)).unwrap();
    e.answered(now, 1, 0).unwrap();
    for c in 2..waiting as CallId + 2 {
        now += SignedDuration::from_millis(10);
        e.route(now, c, request("+492", &zone)).unwrap();
    }
    // Fire what is due (the first call's stale ring timer): the wrap-up end is next.
    now += SignedDuration::from_secs(60);
    e.handle_timeout(now);
    e.ended(now, 1).unwrap();
    drain(&mut e);
    (e, now, waiting as CallId + 2)
}

fn agent_free(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/agent_free");
    for waiting in [1_000, 10_000] {
        let (mut e, mut now, mut next) = busy_centre(100, waiting);
        let zone = berlin();
        g.bench_function(format!("100_agents/{waiting}_waiting"), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    // Wrap-up (30 s) ends: the longest-waiting caller rings agent 0. (The
                    // last caller's ring timer, stale since the answer, fires on the way.)
                    now += SignedDuration::from_secs(30);
                    let t = Instant::now();
                    e.handle_timeout(now);
                    let rung = drain(&mut e);
                    spent += t.elapsed();
                    let (call, agent) = rung.expect("a caller rings the free agent");
                    // Untimed: the call is taken and ends; a new caller joins the line.
                    e.answered(now, call, agent).unwrap();
                    e.ended(now, call).unwrap();
                    e.route(now, next, request("+493", &zone)).unwrap();
                    next += 1;
                    drain(&mut e);
                }
                spent
            })
        });
    }
    g.finish();
}

fn memory(_: &mut Criterion) {
    COUNTING.store(true, Ordering::Relaxed);
    for waiting in [1_000usize, 10_000] {
        let before = LIVE.load(Ordering::Relaxed);
        let (e, _, _) = busy_centre(100, waiting);
        let after = LIVE.load(Ordering::Relaxed);
        let empty_before = LIVE.load(Ordering::Relaxed);
        let (e0, _, _) = busy_centre(100, 0);
        let empty = LIVE.load(Ordering::Relaxed) - empty_before;
        println!(
            "engine memory: {waiting} callers waiting: {} bytes per waiting caller (engine with 100 agents and nobody waiting: {empty} bytes; timers pending: {})",
            ((after - before) - empty) / waiting as isize,
            e.timers()
        );
        drop(e0);
        drop(e);
    }
    COUNTING.store(false, Ordering::Relaxed);
}

criterion_group!(benches, arrival, agent_free, memory);
criterion_main!(benches);
