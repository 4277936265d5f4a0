//! `callflow simulate`: one call through a flow without a phone. Builds a scenario from the
//! command line, runs the runtime's simulator (the real VM and agent selection) and prints the
//! trace: each source line reached, each decision with its reason, each effect, the outcome.

use crate::compile_cmd;
use callflow_compiler::bytecode::Program;
use callflow_runtime::acd::strategy::AgentState;
use callflow_runtime::sim::{
    self, AgentSetting, LookupScript, Outcome, Scenario, SimEnd, TraceLine,
};
use callflow_runtime::vm::{End, Machine};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Flow files or directories (or a compiled bytecode file).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The number dialled (decides the flow).
    #[arg(long, required_unless_present = "scenario")]
    pub number: Option<String>,
    /// Run a `scenario "NAME" { ... }` (or a test) of the flow files instead: several calls
    /// arriving at their times and sharing agents and queues. Prints each call's trace and a
    /// summary with the waiting times.
    #[arg(long, conflicts_with_all = ["number", "keys", "agents", "earlier", "queues"])]
    pub scenario: Option<String>,
    /// The caller's number (`anonymous` for a withheld number).
    #[arg(long, default_value = "+4930123456")]
    pub caller: String,
    /// When the call comes: a local time in the flow's zone (2026-12-24T10:15) or an instant
    /// with its offset (2026-12-24T09:15Z, 2026-12-24T10:15+01:00). Default: now.
    #[arg(long)]
    pub at: Option<String>,
    /// Keys pressed at each prompt, in order; an empty entry is no key (`1,,2`).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub keys: Vec<String>,
    /// Agent states: `jan=busy,jennifer=ready` (ready, busy, not_ready, dnd, wrap_up,
    /// logged_out, no_answer for ready but not picking up, or unreachable for a phone that
    /// fails). Unlisted agents are ready.
    #[arg(long, value_delimiter = ',')]
    pub agents: Vec<String>,
    /// Operator switches: `emergency=on`.
    #[arg(long = "switch", value_delimiter = ',')]
    pub switches: Vec<String>,
    /// Lookup answers: `crm=answer.json` (a JSON object of fields), `crm=not_found`, `crm=error`.
    #[arg(long = "lookup", value_delimiter = ',')]
    pub lookups: Vec<String>,
    /// Earlier calls of this caller, for sticky agents: `jan@2026-12-24T09:00`.
    #[arg(long, value_delimiter = ',')]
    pub earlier: Vec<String>,
    /// Callers already waiting in a group's queue, and optionally the longest wait so far:
    /// `support=5` or `support=5:15m`.
    #[arg(long = "queue", value_delimiter = ',')]
    pub queues: Vec<String>,
    /// Seed for the `random` strategy.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Run decision code through the cranelift tier (native code) instead of the interpreter.
    #[arg(long)]
    pub jit: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

fn split<'a>(s: &'a str, what: &str) -> Result<(&'a str, &'a str), String> {
    s.split_once('=')
        .ok_or_else(|| format!("{what} `{s}` needs the form NAME=VALUE"))
}

/// Parses a time from the command line or a test: an instant with its offset (RFC 3339:
/// `2026-03-09T14:00Z`, `2026-03-09T12:59+01:00`), or a local time in `zone`
/// (`2026-12-24T10:15` or `2026-12-24 10:15`). A local time the zone skips (spring forward) or
/// has twice (fall back) is an error that names the offsets to choose from — never shifted.
pub fn local_time(s: &str, zone: &jiff::tz::TimeZone) -> Result<jiff::Timestamp, String> {
    use jiff::tz::AmbiguousOffset;
    let text = s.trim().replace(' ', "T");
    let example = "2026-12-24T10:15 (local time) or 2026-12-24T09:15Z / 2026-12-24T10:15+01:00";
    if has_offset(&text) {
        // An instant: the offset says when it is, whatever the flow's zone.
        return text
            .parse::<jiff::Timestamp>()
            .map_err(|_| format!("`{s}` is not a date and time such as {example}"));
    }
    let dt: jiff::civil::DateTime = text
        .parse()
        .map_err(|_| format!("`{s}` is not a date and time such as {example}"))?;
    let name = zone.iana_name().unwrap_or("the flow's time zone");
    let with = |o: jiff::tz::Offset| format!("{}{}", dt.strftime("%Y-%m-%dT%H:%M"), o);
    match zone.to_ambiguous_zoned_datetime(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => {
            offset.to_timestamp(dt).map_err(|e| format!("`{s}`: {e}"))
        }
        AmbiguousOffset::Gap { before, after } => Err(format!(
            "`{s}` does not exist in {name}: the clocks skip that hour (from {before} to {after}); \
             give a time outside it, or an offset ({})",
            with(before)
        )),
        AmbiguousOffset::Fold { before, after } => Err(format!(
            "`{s}` happens twice in {name}: the clocks go back an hour; give the offset — {} \
             (the first time) or {} (the second)",
            with(before),
            with(after)
        )),
    }
}

/// Whether a date and time names its offset (`Z`, `+01:00`, `-05`) after the time of day.
fn has_offset(text: &str) -> bool {
    let Some(t) = text.find(['T', 't']) else {
        return false;
    };
    text[t..].contains(['Z', 'z', '+', '-'])
}

/// `name` is one of `names`, or an error with a did-you-mean.
fn known<'a>(
    name: &str,
    what: &str,
    names: impl Iterator<Item = &'a str> + Clone,
) -> Result<(), String> {
    if names.clone().any(|n| n == name) {
        return Ok(());
    }
    let hint = callflow_compiler::diagnostics::suggest::closest(name, names.clone()).map_or_else(
        || format!("the flows define: {}", names.collect::<Vec<_>>().join(", ")),
        |c| format!("did you mean `{c}`?"),
    );
    Err(format!("no {what} `{name}` in these flows; {hint}"))
}

pub fn agent_setting(s: &str) -> Option<AgentSetting> {
    if s == "no_answer" {
        Some(AgentSetting::NoAnswer)
    } else if s == "unreachable" {
        Some(AgentSetting::Unreachable)
    } else {
        AgentState::parse(s).map(AgentSetting::State)
    }
}

fn scenario(a: &Args, m: &Machine) -> Result<Scenario, String> {
    let p = m.program();
    let dialled = a.number.as_deref().unwrap_or_default();
    let number = callflow_compiler::check::numbers::normalize(dialled)
        .ok_or_else(|| format!("`{dialled}` is not a phone number"))?;
    let found = p.flow_for_dialled(dialled);
    let number = found.as_ref().map_or(number, |(_, n)| n.clone());
    let flow = found.map(|(f, _)| f).ok_or_else(|| {
        let all: Vec<String> = p
            .flows
            .iter()
            .flat_map(|f| f.numbers.iter().map(|&n| p.str(n).to_string()))
            .collect();
        format!(
            "no flow answers {number}; the numbers are: {}",
            all.join(", ")
        )
    })?;
    let zone = m.zone(flow);
    let at = match &a.at {
        Some(t) => local_time(t, zone)?,
        None => jiff::Timestamp::now(),
    };
    let mut s = Scenario::new(&number, &a.caller, at);
    s.call().keys = a.keys.clone();
    s.seed = a.seed;
    for x in &a.agents {
        let (name, state) = split(x, "agent")?;
        let setting = agent_setting(state).ok_or_else(|| format!("unknown agent state `{state}`: use ready, busy, not_ready, dnd, wrap_up, logged_out or no_answer"))?;
        if !p.agents.iter().any(|ag| p.str(ag.name) == name) {
            return Err(format!("no agent `{name}` in these flows"));
        }
        s.agents.insert(name.to_string(), setting);
    }
    for x in &a.switches {
        let (name, v) = split(x, "switch")?;
        let on = match v {
            "on" | "true" | "1" => true,
            "off" | "false" | "0" => false,
            _ => return Err(format!("switch `{name}`: `{v}` is neither on nor off")),
        };
        known(name, "switch", p.switches.iter().map(|x| p.str(x.name)))?;
        s.switches.insert(name.to_string(), on);
    }
    for x in &a.lookups {
        let (name, v) = split(x, "lookup")?;
        let script = match v {
            "not_found" => LookupScript::NotFound,
            "error" | "fails" => LookupScript::Fails,
            file => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read `{file}`: {e}"))?;
                let json: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| format!("`{file}` is not JSON: {e}"))?;
                let obj = json
                    .as_object()
                    .ok_or_else(|| format!("`{file}` must hold a JSON object of fields"))?;
                LookupScript::Fields(
                    obj.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_string),
                            )
                        })
                        .collect(),
                )
            }
        };
        known(name, "lookup", p.lookups.iter().map(|x| p.str(x.name)))?;
        s.lookups.insert(name.to_string(), vec![script]);
    }
    for x in &a.earlier {
        let (agent, when) = x
            .split_once('@')
            .ok_or_else(|| format!("earlier call `{x}` needs the form AGENT@TIME"))?;
        s.earlier.push((agent.to_string(), local_time(when, zone)?));
    }
    for x in &a.queues {
        let (group, v) = split(x, "queue")?;
        let (n, wait) = v.split_once(':').unwrap_or((v, "0s"));
        let n: i64 = n
            .parse()
            .map_err(|_| format!("queue `{group}`: `{n}` is not a number"))?;
        let wait = callflow_compiler::syntax::cursor::parse_duration(wait)
            .ok_or_else(|| format!("queue `{group}`: `{wait}` is not a duration such as 15m"))?;
        known(group, "group", p.groups.iter().map(|x| p.str(x.name)))?;
        s.queues.insert(group.to_string(), (n, wait as i64));
    }
    Ok(s)
}

pub fn outcome_text(o: &Outcome) -> String {
    match &o.end {
        SimEnd::Vm(End::Hangup) => "the flow hangs up".into(),
        SimEnd::Vm(End::Transferred(t)) => format!("transferred to {t}"),
        SimEnd::Vm(End::Voicemail) => match &o.voicemail {
            Some((b, r)) => format!("voicemail box `{b}` ({r})"),
            None => "voicemail".into(),
        },
        SimEnd::Vm(End::Answered { agent }) => {
            let g = o
                .routes
                .last()
                .map_or(String::new(), |r| format!(" of group `{}`", r.group));
            format!("answered by `{agent}`{g}")
        }
        SimEnd::Vm(End::CallerHungUp) => "the caller hung up".into(),
        SimEnd::Vm(End::TransferFailed(t)) => format!("the transfer to {t} failed"),
        SimEnd::Vm(End::VoicemailFailed) => "the voicemail box could not take the message".into(),
        SimEnd::Vm(End::Failed(e)) => format!("the call failed: {e}"),
        SimEnd::Queued { group } => {
            format!("still waiting in the queue of `{group}` when the simulation stopped")
        }
        SimEnd::TooLong => format!(
            "stopped after {} effects (the flow keeps asking)",
            sim::MAX_EFFECTS
        ),
    }
}

fn source_line(p: &Program, file: u16, line: u32) -> (String, String) {
    p.files
        .get(file as usize)
        .map_or(("?".into(), String::new()), |f| {
            (
                f.name.clone(),
                f.text
                    .lines()
                    .nth(line.saturating_sub(1) as usize)
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            )
        })
}

/// Time since the call began: `0:05`, `12:30`, `1:02:03`.
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The readable trace.
pub fn text(p: &Program, o: &Outcome, header: &str) -> String {
    let mut out = format!("{header} → flow `{}`\n", o.flow);
    for l in &o.trace {
        match l {
            TraceLine::Source { file, line, .. } => {
                let (name, src) = source_line(p, *file, *line);
                out.push_str(&format!("  {name}:{line}  {src}\n"));
            }
            // The notes already say what each condition was; the jump shows in the next line.
            TraceLine::Decision { .. } => {}
            TraceLine::Note { text, .. } => out.push_str(&format!("      · {text}\n")),
            TraceLine::Effect { text, .. } => out.push_str(&format!("      ▶ {text}\n")),
            TraceLine::Answer { text } => out.push_str(&format!("      ◀ {text}\n")),
            TraceLine::Time { ms } => out.push_str(&format!("  [{}]\n", clock(*ms))),
        }
    }
    out.push_str(&format!("outcome: {}\n", outcome_text(o)));
    out
}

pub fn json(p: &Program, o: &Outcome) -> serde_json::Value {
    let trace: Vec<serde_json::Value> = o
        .trace
        .iter()
        .map(|l| match l {
            TraceLine::Source { pc, file, line } => {
                let (name, src) = source_line(p, *file, *line);
                json!({"kind": "source", "pc": pc, "file": name, "line": line, "text": src})
            }
            TraceLine::Decision { pc, taken } => {
                json!({"kind": "decision", "pc": pc, "value": taken})
            }
            TraceLine::Note { pc, text } => json!({"kind": "note", "pc": pc, "text": text}),
            TraceLine::Effect { pc, text } => json!({"kind": "effect", "pc": pc, "text": text}),
            TraceLine::Answer { text } => json!({"kind": "answer", "text": text}),
            TraceLine::Time { ms } => json!({"kind": "time", "ms": ms}),
        })
        .collect();
    let routes: Vec<serde_json::Value> = o
        .routes
        .iter()
        .map(|r| json!({"group": r.group, "order": r.order, "answered": r.answered, "outcome": r.outcome, "waited_ms": r.waited_ms}))
        .collect();
    json!({
        "flow": o.flow,
        "outcome": outcome_text(o),
        "played": o.played,
        "routes": routes,
        "voicemail": o.voicemail.as_ref().map(|(b, r)| json!({"box": b, "reason": r})),
        "transfer": o.transfer,
        "recorded": o.recorded,
        "trace": trace,
    })
}

pub fn run(a: &Args) -> ExitCode {
    if let Some(name) = &a.scenario {
        return run_scenario(a, name);
    }
    let program = match compile_cmd::program(&a.paths, compile_cmd::Prompts::Optional) {
        Ok(p) => p,
        Err(e) => return compile_cmd::report(e),
    };
    let m = match crate::compile_cmd::machine(&program, a.jit) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let s = match scenario(a, &m) {
        Ok(mut s) => {
            s.prompt_ms = crate::wav::prompt_lengths(&program);
            s
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let o = match sim::run(&m, &s) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match a.format {
        Format::Text => {
            let when = match &a.at {
                Some(t) => t.clone(),
                None => {
                    let flow = program.flow_for(&s.calls[0].dialled).unwrap_or(0);
                    let local = m.zone(flow).to_datetime(s.calls[0].at);
                    format!("{} (now)", local.strftime("%Y-%m-%dT%H:%M"))
                }
            };
            print!(
                "{}",
                text(
                    &program,
                    &o,
                    &format!(
                        "call from {} to {} at {when}",
                        a.caller,
                        a.number.as_deref().unwrap_or_default()
                    )
                )
            );
        }
        Format::Json => println!("{}", json(&program, &o)),
    }
    if matches!(o.end, SimEnd::Vm(End::Failed(_))) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `--scenario NAME`: the named scenario (or test) of the flow files, all its calls.
fn run_scenario(a: &Args, name: &str) -> ExitCode {
    let (project, program) = match compile_cmd::build(&a.paths, compile_cmd::Prompts::Optional) {
        Ok(x) => x,
        Err(e) => return compile_cmd::report(e),
    };
    let m = match crate::compile_cmd::machine(&program, a.jit) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let all: Vec<&callflow_compiler::ast::TestDef> = project
        .modules
        .iter()
        .flat_map(|module| &module.items)
        .filter_map(|item| match item {
            callflow_compiler::ast::Item::Test(t) => Some(t),
            _ => None,
        })
        .collect();
    let Some(t) = all.iter().find(|t| t.name.value == name) else {
        let names = all.iter().map(|t| t.name.value.as_str());
        let scenarios: Vec<String> = all
            .iter()
            .filter(|t| t.scenario)
            .map(|t| format!("\"{}\"", t.name.value))
            .collect();
        let hint = callflow_compiler::diagnostics::suggest::closest(name, names).map_or_else(
            || match scenarios.is_empty() {
                true => {
                    "write `scenario \"NAME\" { ... }` in a flow file (docs/language.md)".into()
                }
                false => format!(
                    "the scenarios are: {} (a test's name works too)",
                    scenarios.join(", ")
                ),
            },
            |c| format!("did you mean \"{c}\"?"),
        );
        eprintln!("error: no scenario or test \"{name}\" in these files; {hint}");
        return ExitCode::from(2);
    };
    let lengths = crate::wav::prompt_lengths(&program);
    let outs = match crate::flowtest::scenario(t, &m, &lengths).and_then(|s| sim::run_all(&m, &s)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let local = |o: &Outcome, at: jiff::Timestamp| {
        let flow = program.flow_named(&o.flow).unwrap_or(0);
        m.zone(flow)
            .to_datetime(at)
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    match a.format {
        Format::Text => {
            for (i, (c, o)) in t.calls.iter().zip(&outs).enumerate() {
                let header = format!(
                    "call {} from {} to {} at {}",
                    i + 1,
                    o.caller,
                    c.number.value,
                    local(o, o.at)
                );
                println!("{}", text(&program, o, &header));
            }
            println!("summary of \"{name}\":");
            for (i, o) in outs.iter().enumerate() {
                let waited: u64 = o.routes.iter().map(|r| r.waited_ms).sum();
                println!(
                    "  call {:<3} {:<18} arrived {}  waited {:<7} {}",
                    i + 1,
                    o.caller,
                    local(o, o.at),
                    // Whole seconds, as `expect waited` compares them.
                    sim::duration(waited / 1000 * 1000),
                    outcome_text(o)
                );
            }
        }
        Format::Json => {
            let calls: Vec<serde_json::Value> = outs
                .iter()
                .map(|o| {
                    let mut v = json(&program, o);
                    v["caller"] = json!(o.caller);
                    v["arrived"] = json!(local(o, o.at));
                    v["ended"] = json!(local(o, o.ended_at));
                    v["waited_ms"] = json!(o.routes.iter().map(|r| r.waited_ms).sum::<u64>());
                    v
                })
                .collect();
            println!("{}", json!({"scenario": name, "calls": calls}));
        }
    }
    if outs
        .iter()
        .any(|o| matches!(o.end, SimEnd::Vm(End::Failed(_))))
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
