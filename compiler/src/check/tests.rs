//! Flow tests (`test "..." { ... }`): the number they call is answered by a flow, every name
//! they mention exists (agents, switches, lookups and their fields, groups, voicemail boxes),
//! states and reasons are known words, dates and times exist, and each test expects something.

use super::Cx;
use super::routing::REASONS;
use crate::ast::{DefKind, ExpectKind, Flow, Item, LookupOutcome, TestAgent, TestCall, TestDef};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::FileId;

pub const AGENT_STATES: &[&str] = &[
    "ready",
    "busy",
    "not_ready",
    "dnd",
    "wrap_up",
    "logged_out",
    "no_answer",
    "unreachable",
];

pub fn check(
    cx: &Cx,
    file: FileId,
    t: &TestDef,
    flows: &[(FileId, &Flow)],
    diags: &mut Diagnostics,
) {
    let resolve = |name: &crate::ast::Ident, kind: DefKind, diags: &mut Diagnostics| {
        cx.globals.resolve(name, kind, file, cx.project, diags)
    };
    let what = if t.scenario { "scenario" } else { "test" };
    if t.calls.is_empty() {
        diags.push(
            Diagnostic::new(
                codes::TEST_INCOMPLETE,
                t.name.span,
                format!("{what} \"{}\" makes no call", t.name.value),
                "no `call` line",
            )
            .help("add `call \"+49 30 2555 5366\" from \"+49 30 1234567\" at 2026-12-24 10:15`"),
        );
    }
    for c in &t.calls {
        match super::numbers::normalize(&c.number.value) {
            None => diags.push(
                Diagnostic::new(
                    codes::BAD_NUMBER,
                    c.number.span,
                    format!("\"{}\" is not a valid phone number", c.number.value),
                    "cannot be dialled",
                )
                .help(
                    "write the number as a flow lists it, such as \"+49 30 2555 5366\" or \"200\"",
                ),
            ),
            Some(_) => {
                let answered = flows
                    .iter()
                    .any(|(_, f)| super::numbers::answers(f, &c.number.value));
                if !answered {
                    let all: Vec<String> = flows
                        .iter()
                        .flat_map(|(_, f)| f.numbers.iter().map(|x| x.value.clone()))
                        .collect();
                    diags.push(
                        Diagnostic::new(
                            codes::TEST_UNKNOWN_NUMBER,
                            c.number.span,
                            format!("no flow answers \"{}\"", c.number.value),
                            "no flow has this number",
                        )
                        .suggest(
                            &c.number.value,
                            all.iter().map(String::as_str),
                            "call one of the numbers a flow lists in `numbers`",
                        ),
                    );
                }
            }
        }
        if let Some((d, time)) = &c.at {
            super::time::date(d, diags);
            super::time::time_of_day(time, diags);
        }
    }
    if !t.scenario && t.expects().next().is_none() {
        diags.push(
            Diagnostic::new(codes::TEST_INCOMPLETE, t.name.span, format!("test \"{}\" expects nothing", t.name.value), "it cannot fail")
                .help("add what must happen, such as `expect voicemail support_box closed` or `expect agent jan`"),
        );
    }
    for TestAgent {
        agent,
        state,
        lasts,
    } in &t.agents
    {
        resolve(agent, DefKind::Agent, diags);
        if let (Some(d), "ready" | "no_answer" | "unreachable") = (lasts, state.name.as_str()) {
            diags.push(
                Diagnostic::new(
                    codes::BAD_VALUE,
                    d.span,
                    format!("`{}` lasts all along; `for` is for states that end", state.name),
                    "nothing to end",
                )
                .help("write `for` after busy, wrap_up, not_ready, dnd or logged_out: the agent is ready afterwards"),
            );
        }
        if !AGENT_STATES.contains(&state.name.as_str()) {
            diags.push(
                Diagnostic::new(
                    codes::BAD_VALUE,
                    state.span,
                    format!("`{}` is not an agent state", state.name),
                    "unknown state",
                )
                .suggest(
                    &state.name,
                    AGENT_STATES.iter().copied(),
                    format!("agent states: {}", AGENT_STATES.join(", ")),
                ),
            );
        }
    }
    for (s, _) in &t.switches {
        resolve(s, DefKind::Switch, diags);
    }
    for (i, l) in t.lookups.iter().enumerate() {
        if let Some(first) = t.lookups[..i].iter().find(|x| x.name.name == l.name.name) {
            diags.push(
                Diagnostic::new(
                    codes::DUPLICATE_SETTING,
                    l.name.span,
                    format!("the answer of lookup `{}` is given twice", l.name.name),
                    "given again here",
                )
                .label(first.name.span, "first given here")
                .help(format!(
                    "give the answers in order on one line: `lookup {} fails then tier \"gold\"` \
                     (the last one repeats)",
                    l.name.name
                )),
            );
            continue;
        }
        let Some(id) = resolve(&l.name, DefKind::Lookup, diags) else {
            continue;
        };
        let Item::Lookup(def) = cx.item(id) else {
            continue;
        };
        let fields = l.outcomes.iter().flat_map(|o| match o {
            LookupOutcome::Fields(f) => f.as_slice(),
            _ => &[],
        });
        for (f, _) in fields {
            if !def.fields.is_empty() && !def.fields.iter().any(|x| x.name == f.name) {
                diags.push(
                    Diagnostic::new(
                        codes::UNKNOWN_FIELD,
                        f.span,
                        format!("lookup `{}` has no field `{}`", l.name.name, f.name),
                        "not among its `fields`",
                    )
                    .suggest(
                        &f.name,
                        def.fields.iter().map(|x| x.name.as_str()),
                        "use a field the lookup lists",
                    ),
                );
            }
        }
    }
    for (agent, at) in &t.earlier {
        resolve(agent, DefKind::Agent, diags);
        if let Some((d, time)) = at {
            super::time::date(d, diags);
            super::time::time_of_day(time, diags);
            let call_at = t.calls.first().and_then(|c| c.at.as_ref());
            let key = |d: &crate::ast::DateLit, t: &crate::ast::TimeLit| {
                (d.year, d.month, d.day, t.hour, t.minute)
            };
            let local_call = t.calls.first().is_some_and(|c| c.offset.is_none());
            if local_call && call_at.is_some_and(|(cd, ct)| key(d, time) > key(cd, ct)) {
                diags.push(
                    Diagnostic::new(codes::BAD_VALUE, d.span.to(time.span), "this earlier call is after the test's call", "later than the call")
                        .help("earlier calls happen before the call being tested; without a time, an earlier call is an hour before"),
                );
            }
        }
    }
    for (g, _, _) in &t.queues {
        resolve(g, DefKind::Group, diags);
    }
    for (e, call) in t
        .calls
        .iter()
        .flat_map(|c| c.lines.expects.iter().map(move |e| (e, c)))
    {
        match &e.kind {
            ExpectKind::Voicemail { vbox, reason } => {
                resolve(vbox, DefKind::Voicemail, diags);
                if let Some(r) = reason {
                    if !REASONS.contains(&r.name.as_str()) && r.name != "default" {
                        super::routing::reason(r, diags);
                    }
                }
            }
            ExpectKind::Route { group, order } => {
                resolve(group, DefKind::Group, diags);
                for a in order.iter().flatten() {
                    resolve(a, DefKind::Agent, diags);
                }
            }
            ExpectKind::Agent(a) => {
                resolve(a, DefKind::Agent, diags);
            }
            ExpectKind::Queued(g) => {
                resolve(g, DefKind::Group, diags);
            }
            ExpectKind::Language(l) => {
                let langs: Vec<&str> = called_flow(call, flows).map_or_else(Vec::new, |f| {
                    f.languages.iter().map(|x| x.name.as_str()).collect()
                });
                if !langs.contains(&l.name.as_str()) {
                    diags.push(
                        Diagnostic::new(
                            codes::UNDECLARED_LANGUAGE,
                            l.span,
                            format!("the called flow has no language `{}`", l.name),
                            "not among the flow's languages",
                        )
                        .suggest(
                            &l.name,
                            langs.iter().copied(),
                            if langs.is_empty() {
                                "the flow declares no `languages`".to_string()
                            } else {
                                format!("the flow's languages: {}", langs.join(", "))
                            },
                        ),
                    );
                }
            }
            ExpectKind::Transfer(_)
            | ExpectKind::Played(_)
            | ExpectKind::PlayedTimes(..)
            | ExpectKind::Waited(_)
            | ExpectKind::Recording(_)
            | ExpectKind::Hangup => {}
        }
    }
}

/// The flow a call of the test reaches, if its number is answered.
fn called_flow<'a>(c: &TestCall, flows: &[(FileId, &'a Flow)]) -> Option<&'a Flow> {
    flows
        .iter()
        .map(|(_, f)| *f)
        .find(|f| super::numbers::answers(f, &c.number.value))
}
