//! `callflow test`: runs the admins' own flow tests (`test "..." { ... }` blocks) through the
//! simulator — the same VM and agent selection as live calls — and compares what happened with
//! what each test expects. On failure it shows expected vs actual and the call's trace;
//! `--coverage` lists the flow lines no test reached.

use crate::compile_cmd;
use crate::simulate::{agent_setting, local_time, outcome_text, text};
use callflow_compiler::Project;
use callflow_compiler::ast::{
    DateLit, ExpectKind, Item, LookupOutcome, TestCall, TestDef, TimeLit,
};
use callflow_compiler::bytecode::Program;
use callflow_compiler::check::numbers::normalize;
use callflow_runtime::sim::{self, CallScript, LookupScript, Outcome, Scenario, SimEnd};
use callflow_runtime::vm::{End, Machine};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

/// Calls without `at` happen at this local time (a Wednesday morning), so tests are repeatable.
pub const DEFAULT_AT: &str = "2026-01-07T10:00";
pub const DEFAULT_CALLER: &str = "+4930123456";

#[derive(clap::Args)]
pub struct Args {
    /// Flow files or directories (tests are `test "..." { }` blocks in them).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Report the flow lines no test reached.
    #[arg(long)]
    pub coverage: bool,
    /// Only tests whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Run decision code through the cranelift tier (native code) instead of the interpreter.
    #[arg(long)]
    pub jit: bool,
}

pub fn scenario(
    t: &TestDef,
    m: &Machine,
    prompt_ms: &std::collections::HashMap<String, u64>,
) -> Result<Scenario, String> {
    let p = m.program();
    if t.calls.is_empty() {
        return Err("the test makes no call".into());
    }
    let mut calls = Vec::new();
    let mut previous: Option<jiff::Timestamp> = None;
    for c in &t.calls {
        normalize(&c.number.value).ok_or("not a phone number")?;
        let (flow, number) = p
            .flow_for_dialled(&c.number.value)
            .ok_or_else(|| format!("no flow answers {}", c.number.value))?;
        let zone = m.zone(flow);
        // Without `at`: the first call at the default time, later ones with the call before.
        let at = match (&c.at, previous) {
            (Some(when), _) => match c.offset {
                // An instant: the offset says when, whatever the zone.
                Some(o) => at_offset(when, o.minutes)?,
                None => at_local(when, zone)?,
            },
            (None, Some(prev)) => prev,
            (None, None) => local_time(DEFAULT_AT, zone)?,
        };
        previous = Some(at);
        let caller = c
            .from
            .as_ref()
            .map_or(DEFAULT_CALLER.to_string(), |f| f.value.clone());
        let mut script = CallScript::new(&number, &caller, at);
        script.keys = c.lines.keys.iter().map(|k| k.value.clone()).collect();
        script.hang_up_after_ms = c.lines.hangs_up.map(|d| d.millis);
        if let Some(talk) = c.lines.talks {
            script.talk_ms = talk.millis;
        }
        calls.push(script);
    }
    let at = calls[0].at;
    let mut s = Scenario::new(&calls[0].dialled, &calls[0].caller, at);
    s.calls = calls;
    for a in &t.agents {
        s.agents.insert(
            a.agent.name.clone(),
            agent_setting(&a.state.name)
                .ok_or_else(|| format!("unknown state {}", a.state.name))?,
        );
        if let Some(d) = a.lasts {
            s.agent_for.insert(a.agent.name.clone(), d.millis);
        }
    }
    for (sw, on) in &t.switches {
        s.switches.insert(sw.name.clone(), *on);
    }
    for l in &t.lookups {
        let scripts = l
            .outcomes
            .iter()
            .map(|o| match o {
                LookupOutcome::Fails => LookupScript::Fails,
                LookupOutcome::NotFound => LookupScript::NotFound,
                LookupOutcome::Fields(f) => LookupScript::Fields(
                    f.iter()
                        .map(|(k, v)| (k.name.clone(), v.value.clone()))
                        .collect(),
                ),
            })
            .collect();
        s.lookups.insert(l.name.name.clone(), scripts);
    }
    let zone = m.zone(p.flow_for(&s.calls[0].dialled).unwrap_or(0));
    for (a, when) in &t.earlier {
        let t_at = match when {
            Some(when) => at_local(when, zone)?,
            // Without a time: an hour before the first call.
            None => at
                .checked_sub(jiff::SignedDuration::from_hours(1))
                .map_err(|e| e.to_string())?,
        };
        s.earlier.push((a.name.clone(), t_at));
    }
    for (g, n, wait) in &t.queues {
        s.queues.insert(
            g.name.clone(),
            (i64::from(n.value), wait.map_or(0, |w| w.millis as i64)),
        );
    }
    if let Some(seed) = t.seed {
        s.seed = u64::from(seed.value);
    }
    s.prompt_ms = prompt_ms.clone();
    Ok(s)
}

/// A test's `DATE TIME` as an instant in the flow's zone.
fn at_local(
    (d, t): &(DateLit, TimeLit),
    zone: &jiff::tz::TimeZone,
) -> Result<jiff::Timestamp, String> {
    local_time(
        &format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}",
            d.year, d.month, d.day, t.hour, t.minute
        ),
        zone,
    )
}

/// A test's `DATE TIME +HH:MM` as an instant.
fn at_offset((d, t): &(DateLit, TimeLit), minutes: i32) -> Result<jiff::Timestamp, String> {
    let dt = jiff::civil::DateTime::new(
        d.year as i16,
        d.month as i8,
        d.day as i8,
        t.hour as i8,
        t.minute as i8,
        0,
        0,
    )
    .map_err(|e| e.to_string())?;
    jiff::tz::Offset::from_seconds(minutes * 60)
        .and_then(|o| o.to_timestamp(dt))
        .map_err(|e| e.to_string())
}

fn same_target(a: &str, b: &str) -> bool {
    a == b || normalize(a).is_some_and(|x| normalize(b).as_deref() == Some(x.as_str()))
}

/// Each expectation of a call that does not hold, as "expected ..., but ...".
fn failures(c: &TestCall, o: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    let actual = outcome_text(o);
    for e in &c.lines.expects {
        let fail = match &e.kind {
            ExpectKind::Voicemail { vbox, reason } => {
                let ok = o.voicemail.as_ref().is_some_and(|(b, r)| {
                    *b == vbox.name && reason.as_ref().is_none_or(|x| x.name == *r)
                });
                (!ok).then(|| {
                    let want = reason
                        .as_ref()
                        .map_or(String::new(), |r| format!(" ({})", r.name));
                    format!(
                        "expected voicemail box `{}`{want}, but the outcome was: {actual}",
                        vbox.name
                    )
                })
            }
            ExpectKind::Route { group, order } => {
                let tries: Vec<_> = o.routes.iter().filter(|r| r.group == group.name).collect();
                if tries.is_empty() {
                    let routed: Vec<String> =
                        o.routes.iter().map(|r| format!("`{}`", r.group)).collect();
                    Some(format!(
                        "expected a route to `{}`, but {}",
                        group.name,
                        if routed.is_empty() {
                            "no group was rung".to_string()
                        } else {
                            format!("only {} was rung", routed.join(", "))
                        }
                    ))
                } else if let Some(order) = order {
                    let want: Vec<&str> = order.iter().map(|a| a.name.as_str()).collect();
                    let got = &tries[0].order;
                    (got.iter().map(String::as_str).collect::<Vec<_>>() != want).then(|| {
                        format!(
                            "expected `{}` to ring {}, but the order was {}",
                            group.name,
                            want.join(", "),
                            if got.is_empty() {
                                "empty (nobody available)".into()
                            } else {
                                got.join(", ")
                            }
                        )
                    })
                } else {
                    None
                }
            }
            ExpectKind::Agent(a) => {
                let ok = matches!(&o.end, SimEnd::Vm(End::Answered { agent }) if *agent == a.name);
                (!ok).then(|| {
                    format!(
                        "expected `{}` to answer, but the outcome was: {actual}",
                        a.name
                    )
                })
            }
            ExpectKind::Transfer(t) => {
                let ok = o
                    .transfer
                    .as_deref()
                    .is_some_and(|x| same_target(x, &t.value));
                (!ok).then(|| {
                    format!(
                        "expected a transfer to \"{}\", but the outcome was: {actual}",
                        t.value
                    )
                })
            }
            ExpectKind::Played(list) => {
                let mut it = o.played.iter();
                let missing = list.iter().find(|want| !it.any(|p| *p == want.value));
                missing.map(|m| format!("expected \"{}\" to be played (in this order: {}), but the caller heard: {}", m.value, list.iter().map(|x| format!("\"{}\"", x.value)).collect::<Vec<_>>().join(", "), o.played.iter().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(", ")))
            }
            ExpectKind::PlayedTimes(prompt, n) => {
                let heard = o.played.iter().filter(|p| **p == prompt.value).count();
                (heard != n.value as usize).then(|| {
                    format!(
                        "expected \"{}\" to be played {} time(s), but it was played {heard} time(s)",
                        prompt.value, n.value
                    )
                })
            }
            ExpectKind::Waited(d) => {
                let waited: u64 = o.routes.iter().map(|r| r.waited_ms).sum();
                // Whole seconds: what a test can write.
                (waited / 1000 != d.millis / 1000).then(|| {
                    format!(
                        "expected the caller to wait {} in queues, but they waited {}",
                        sim::duration(d.millis),
                        sim::duration(waited)
                    )
                })
            }
            ExpectKind::Recording(want) => (o.recorded != *want).then(|| {
                if *want {
                    "expected the call to be recorded, but it was not".to_string()
                } else {
                    "expected no recording, but the call was recorded".to_string()
                }
            }),
            ExpectKind::Hangup => (!matches!(o.end, SimEnd::Vm(End::Hangup)))
                .then(|| format!("expected the flow to hang up, but the outcome was: {actual}")),
            ExpectKind::Language(l) => (o.language != l.name).then(|| {
                format!(
                    "expected the call to end in language `{}`, but it ended in `{}`",
                    l.name, o.language
                )
            }),
            ExpectKind::Queued(g) => {
                let ok = matches!(&o.end, SimEnd::Queued { group } if *group == g.name);
                (!ok).then(|| format!("expected the caller to wait in `{}`'s queue, but the outcome was: {actual}", g.name))
            }
        };
        out.extend(fail);
    }
    if let SimEnd::Vm(End::Failed(e)) = &o.end {
        out.push(format!("the call failed: {e}"));
    }
    out
}

/// Lines of each flow file with instructions, and those the tests reached.
fn coverage(project: &Project, p: &Program, covered: &BTreeSet<u32>) -> String {
    let mut lines: BTreeMap<u16, (BTreeSet<u32>, BTreeSet<u32>)> = BTreeMap::new();
    for (pc, loc) in p.debug.iter().enumerate() {
        if loc.implicit {
            continue; // the compiler's own ends: no line of the admin's to reach
        }
        let e = lines.entry(loc.file).or_default();
        e.0.insert(loc.line);
        if covered.contains(&(pc as u32)) {
            e.1.insert(loc.line);
        }
    }
    let mut out = String::from("coverage:\n");
    let (mut all, mut hit) = (0, 0);
    for (file, (code, reached)) in &lines {
        let name = project
            .sources
            .get(callflow_compiler::source::FileId(u32::from(*file)))
            .name
            .clone();
        let missed: Vec<u32> = code.difference(reached).copied().collect();
        all += code.len();
        hit += reached.len();
        out.push_str(&format!(
            "  {name}: {}/{} lines reached",
            reached.len(),
            code.len()
        ));
        if !missed.is_empty() {
            out.push_str(&format!("; never reached: {}", ranges(&missed)));
        }
        out.push('\n');
    }
    let pct = if all == 0 {
        100.0
    } else {
        hit as f64 * 100.0 / all as f64
    };
    out.push_str(&format!("  total: {hit}/{all} lines ({pct:.1}%)\n"));
    out
}

/// 3, 4, 5, 9 → "3-5, 9".
fn ranges(v: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        while i + 1 < v.len() && v[i + 1] == v[i] + 1 {
            i += 1;
        }
        parts.push(if v[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", v[i])
        });
        i += 1;
    }
    parts.join(", ")
}

pub fn run(a: &Args) -> ExitCode {
    let (project, program) = match compile_cmd::build(&a.paths, compile_cmd::Prompts::Optional) {
        Ok(x) => x,
        Err(e) => return compile_cmd::report(e),
    };
    let m = match crate::compile_cmd::machine(&program, a.jit) {
        Ok(m) => m,
        Err(code) => return code,
    };
    // Prompts play as long as their files (the simulated clock).
    let lengths = crate::wav::prompt_lengths(&program);
    let (mut passed, mut failed) = (0, 0);
    let mut covered: BTreeSet<u32> = BTreeSet::new();
    for module in &project.modules {
        let file = project.sources.get(module.file);
        for item in &module.items {
            let Item::Test(t) = item else { continue };
            if t.scenario {
                continue; // for `callflow simulate --scenario`
            }
            if a.filter
                .as_ref()
                .is_some_and(|f| !t.name.value.contains(f.as_str()))
            {
                continue;
            }
            let at = file.line_col(t.keyword.start);
            let label = format!("test \"{}\" ({}:{})", t.name.value, file.name, at.line);
            let result = scenario(t, &m, &lengths).and_then(|s| sim::run_all(&m, &s));
            match result {
                Err(e) => {
                    failed += 1;
                    println!("{label} ... FAILED\n    {e}");
                }
                Ok(outs) => {
                    let several = outs.len() > 1;
                    let mut report = String::new();
                    for (i, (c, o)) in t.calls.iter().zip(&outs).enumerate() {
                        covered.extend(o.covered.iter().copied());
                        let f = failures(c, o);
                        if f.is_empty() {
                            continue;
                        }
                        let who = if several {
                            format!("call {} ({} from {})", i + 1, c.number.value, o.caller)
                        } else {
                            String::new()
                        };
                        for x in &f {
                            if several {
                                report.push_str(&format!("    {who}: {x}\n"));
                            } else {
                                report.push_str(&format!("    {x}\n"));
                            }
                        }
                        let header = if several {
                            format!("{who}:")
                        } else {
                            "the call:".to_string()
                        };
                        for l in text(&program, o, &header).lines() {
                            report.push_str(&format!("    {l}\n"));
                        }
                    }
                    if report.is_empty() {
                        passed += 1;
                        println!("{label} ... ok");
                    } else {
                        failed += 1;
                        println!("{label} ... FAILED");
                        print!("{report}");
                    }
                }
            }
        }
    }
    if a.coverage {
        print!("{}", coverage(&project, &program, &covered));
    }
    let total = passed + failed;
    if total == 0 {
        match &a.filter {
            Some(f) => eprintln!("error: no test name contains \"{f}\""),
            None => eprintln!(
                "no tests: write `test \"...\" {{ ... }}` blocks (see docs/language.md, Testing flows)"
            ),
        }
        return ExitCode::from(if a.filter.is_some() { 1 } else { 0 });
    }
    eprintln!(
        "{passed} passed, {failed} failed ({total} test{})",
        if total == 1 { "" } else { "s" }
    );
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
