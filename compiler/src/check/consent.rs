//! Recording consent, proven statically: a `record` (or a route that records) must only be
//! reachable where the caller's consent is known to be given, i.e. inside `if consented(...)`.
//! The analysis follows every path from `start` through blocks, subflows and menus with a
//! two-valued state (consent known given, or not), keeps one example path per state, and
//! reports a violation with that path as numbered labels. Also checks consent keys.

use super::Cx;
use super::flow::FlowChecked;
use super::keys;
use crate::ast::{Body, Cond, Expr, Flow, ProcKind, RecordSpec, Stmt, StmtKind};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::pattern::Pattern;
use crate::source::Span;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use super::graph::Node;

/// One step of an example path (a persistent list, newest first).
struct Step {
    span: Span,
    text: String,
    prev: Trail,
    len: usize,
}

type Trail = Option<Rc<Step>>;

fn push(t: &Trail, span: Span, text: String) -> Trail {
    let len = t.as_ref().map_or(0, |s| s.len) + 1;
    Some(Rc::new(Step {
        span,
        text,
        prev: t.clone(),
        len,
    }))
}

const N: usize = 0;
const G: usize = 1;

/// Per consent state (not known given, given): an example path reaching here, if any.
type Slots = [Option<Trail>; 2];

fn join(a: &mut Slots, b: Slots) {
    for (x, y) in a.iter_mut().zip(b) {
        if x.is_none() {
            *x = y;
        }
    }
}

fn live(s: &Slots) -> bool {
    s[N].is_some() || s[G].is_some()
}

/// Which consent an analysis is about: its name, and whether it is the flow's only consent
/// (then a bare `consented` means it too).
#[derive(Clone, Copy)]
struct Target<'a> {
    name: &'a str,
    only: bool,
}

/// What `cond` having the value `outcome` says about the target consent: given, not given, or
/// nothing.
fn implies(c: &Cond, outcome: bool, t: Target) -> Option<bool> {
    match c {
        Cond::Test(Expr::Call { func, args, .. }) if func.name == "consented" => match args.first()
        {
            Some(a) if a.name == t.name => Some(outcome),
            None if t.only => Some(outcome),
            _ => None,
        },
        Cond::Test(Expr::Name(n)) if n.name == "consented" && t.only => Some(outcome),
        Cond::Not(c, _) => implies(c, !outcome, t),
        Cond::And(a, b) if outcome => implies(a, true, t).or(implies(b, true, t)),
        Cond::Or(a, b) if !outcome => implies(a, false, t).or(implies(b, false, t)),
        Cond::And(a, b) | Cond::Or(a, b) => {
            let (x, y) = (implies(a, outcome, t), implies(b, outcome, t));
            if x == y { x } else { None }
        }
        _ => None,
    }
}

/// The consent a recording needs: the one it names, else the flow's only one.
pub fn needed<'a>(flow: &'a Flow, spec: &'a RecordSpec) -> Option<&'a str> {
    match &spec.consent {
        Some(n) => Some(n.name.as_str()),
        None if flow.consents.len() == 1 => Some(flow.consents[0].name.name.as_str()),
        None => None,
    }
}

/// Moves every example path into the state `given` (when a condition settles it).
fn settle(s: Slots, given: Option<bool>) -> Slots {
    match given {
        None => s,
        Some(true) => {
            let [n, g] = s;
            [None, g.or(n)]
        }
        Some(false) => {
            let [n, g] = s;
            [n.or(g), None]
        }
    }
}

struct Violation {
    span: Span,
    trail: Trail,
    asked: bool,
}

struct Walk<'f, 'a> {
    cx: &'f Cx<'f>,
    /// The consent this walk proves (`None`: the flow asks for none, nothing is ever given).
    target: Option<Target<'a>>,
    /// Re-offers of a menu in another state: the exits of the second count for the first.
    aliases: Vec<((Node, usize), (Node, usize))>,
    flow: &'a Flow,
    fc: &'f FlowChecked<'a>,
    /// Exit states of each (procedure, entry state), from the previous round.
    exits: HashMap<(Node, usize), [bool; 2]>,
    /// Exit states found in this round.
    found: HashMap<(Node, usize), [bool; 2]>,
    queue: VecDeque<(Node, usize, Trail)>,
    seen: HashMap<(Node, usize), ()>,
    violations: Vec<Violation>,
    parents: HashMap<usize, Vec<usize>>,
    tops: Vec<usize>,
}

impl<'a> Walk<'_, 'a> {
    fn enqueue(&mut self, node: Node, s: &Slots) {
        for st in [N, G] {
            if let Some(t) = &s[st] {
                if self.seen.insert((node, st), ()).is_none() {
                    self.queue.push_back((node, st, t.clone()));
                }
            }
        }
    }

    /// The menu `node`, entered in state `entry`, is offered again (after a handler, `repeat`,
    /// `back`, `top`) in states `s`: walk those too, and let their exits count as this entry's.
    fn reoffer(&mut self, node: Node, entry: usize, s: &Slots) {
        for st in [N, G] {
            if s[st].is_some() && st != entry {
                self.aliases.push(((node, entry), (node, st)));
            }
        }
        self.enqueue(node, s);
    }

    fn exit(&mut self, node: Node, entry: usize, s: &Slots) {
        let e = self.found.entry((node, entry)).or_default();
        e[N] |= s[N].is_some();
        e[G] |= s[G].is_some();
    }

    /// Continuation after calling `node` in states `s`.
    fn after_call(&mut self, node: Node, s: &Slots, span: Span, text: &str) -> Slots {
        self.enqueue(node, s);
        let mut out: Slots = [None, None];
        for st in [N, G] {
            if let Some(t) = &s[st] {
                let ex = self.exits.get(&(node, st)).copied().unwrap_or_default();
                for to in [N, G] {
                    if ex[to] && out[to].is_none() {
                        out[to] = Some(push(t, span, text.to_string()));
                    }
                }
            }
        }
        out
    }

    /// A recording: a violation when it needs this walk's consent (or the flow has none) and
    /// is not guarded, on a path where that consent is not known to be given.
    fn record_spec(&mut self, spec: &RecordSpec, s: &Slots) {
        if spec.guarded {
            return;
        }
        let mine = match self.target {
            None => true,
            Some(t) => needed(self.flow, spec) == Some(t.name),
        };
        if mine {
            self.record(spec.span, s);
        }
    }

    fn record(&mut self, span: Span, s: &Slots) {
        if let Some(t) = &s[N] {
            let mut asked = false;
            let mut cur = t.clone();
            while let Some(step) = cur {
                asked |= step.text.starts_with("`ask");
                cur = step.prev.clone();
            }
            self.violations.push(Violation {
                span,
                trail: t.clone(),
                asked,
            });
        }
    }

    fn body(&mut self, ctx: (Node, usize), b: &'a Body, mut s: Slots) -> Slots {
        for st in &b.stmts {
            if !live(&s) {
                break;
            }
            s = self.stmt(ctx, st, s);
        }
        s
    }

    fn branch(
        &mut self,
        ctx: (Node, usize),
        b: &'a Body,
        s: &Slots,
        span: Span,
        text: String,
    ) -> Slots {
        let s = [
            s[N].as_ref().map(|t| push(t, span, text.clone())),
            s[G].as_ref().map(|t| push(t, span, text.clone())),
        ];
        self.body(ctx, b, s)
    }

    fn stmt(&mut self, ctx: (Node, usize), st: &'a Stmt, s: Slots) -> Slots {
        let none: Slots = [None, None];
        match &st.kind {
            StmtKind::Record(spec) => {
                self.record_spec(spec, &s);
                s
            }
            StmtKind::Ask(name) if self.target.is_some_and(|t| t.name != name.name) => s,
            StmtKind::Ask(name)
                if self
                    .flow
                    .consents
                    .iter()
                    .any(|c| c.name.name == name.name && c.notice.is_some()) =>
            {
                // A notice heard in full is consent (a caller who hangs up meanwhile goes no
                // further): every path goes on with consent given.
                let [n, g] = s;
                let t = g.or(n).map(|t| {
                    push(
                        &t,
                        st.span,
                        format!("`ask {}`: the notice is heard in full", name.name),
                    )
                });
                [None, t]
            }
            StmtKind::Ask(name) => {
                let [n, g] = s;
                let g = g.map(|t| {
                    push(
                        &t,
                        st.span,
                        format!("`ask {}`: the caller may refuse", name.name),
                    )
                });
                let n = n.map(|t| {
                    push(
                        &t,
                        st.span,
                        format!("`ask {}`: the caller may refuse", name.name),
                    )
                });
                [n.or(g), None]
            }
            StmtKind::Goto(n) => {
                if let Some(&i) = self.fc.procs.get(n.name.as_str()) {
                    let s = [
                        s[N].as_ref()
                            .map(|t| push(t, st.span, format!("`goto {}`", n.name))),
                        s[G].as_ref()
                            .map(|t| push(t, st.span, format!("`goto {}`", n.name))),
                    ];
                    self.enqueue(Node::Proc(i), &s);
                }
                none
            }
            StmtKind::Call(n) => match self.fc.procs.get(n.name.as_str()) {
                Some(&i) if self.flow.procs[i].kind == ProcKind::Subflow => {
                    let entered = [
                        s[N].as_ref()
                            .map(|t| push(t, st.span, format!("`call {}`", n.name))),
                        s[G].as_ref()
                            .map(|t| push(t, st.span, format!("`call {}`", n.name))),
                    ];
                    self.enqueue(Node::Proc(i), &entered);
                    self.after_call(
                        Node::Proc(i),
                        &s,
                        st.span,
                        &format!("after `call {}`", n.name),
                    )
                }
                _ => s,
            },
            StmtKind::Menu(n) => match self.fc.menus.get(n.name.as_str()) {
                Some(&i) => {
                    let entered = [
                        s[N].as_ref()
                            .map(|t| push(t, st.span, format!("menu `{}`", n.name))),
                        s[G].as_ref()
                            .map(|t| push(t, st.span, format!("menu `{}`", n.name))),
                    ];
                    self.enqueue(Node::Menu(i), &entered);
                    self.after_call(
                        Node::Menu(i),
                        &s,
                        st.span,
                        &format!("after menu `{}`", n.name),
                    )
                }
                None => s,
            },
            StmtKind::Return => {
                self.exit(ctx.0, ctx.1, &s);
                none
            }
            StmtKind::Repeat => {
                self.reoffer(ctx.0, ctx.1, &s);
                none
            }
            StmtKind::Back | StmtKind::Top => {
                if let Node::Menu(m) = ctx.0 {
                    let targets = if matches!(st.kind, StmtKind::Back) {
                        self.parents.get(&m).cloned().unwrap_or_default()
                    } else {
                        self.tops.clone()
                    };
                    for t in targets {
                        // The exits of the menu gone back to also count for either state it
                        // was entered in before.
                        self.reoffer(Node::Menu(t), N, &s);
                        self.reoffer(Node::Menu(t), G, &s);
                    }
                }
                none
            }
            StmtKind::Hangup | StmtKind::Transfer(_) | StmtKind::Voicemail { .. } => none,
            StmtKind::If(i) => {
                let mut out: Slots = [None, None];
                let mut before_false: Option<bool> = None;
                for (c, b) in &i.branches {
                    let given = self
                        .target
                        .and_then(|t| implies(c, true, t))
                        .or(before_false);
                    let text = format!("when `{}` holds", self.cx.text(c.span()));
                    let entry = settle(s.clone(), given);
                    let r = self.branch(ctx, b, &entry, c.span(), text);
                    join(&mut out, r);
                    before_false = before_false.or(self.target.and_then(|t| implies(c, false, t)));
                }
                let rest = settle(s, before_false);
                match &i.otherwise {
                    Some(b) => {
                        let r = self.branch(
                            ctx,
                            b,
                            &rest,
                            st.keyword,
                            "when no condition of this `if` holds".into(),
                        );
                        join(&mut out, r);
                    }
                    None => join(&mut out, rest),
                }
                out
            }
            StmtKind::Route(r) => {
                if let Some(spec) = &r.record {
                    self.record_spec(spec, &s);
                }
                let mut out: Slots = [None, None];
                for (event, body) in super::routing::outcomes(r) {
                    let Some(b) = body else {
                        join(&mut out, s.clone());
                        continue;
                    };
                    let text = match event {
                        "busy" => "when every agent is busy",
                        "max_wait" => "when the caller waited too long",
                        "max_length" => "when the queue is full",
                        "no_agents" => "when nobody of the group is logged in",
                        "closed" => "when the queue's hours end",
                        "error" => "when no agent's phone could be reached",
                        "key" => "when the caller leaves the queue with a key",
                        _ => "when nobody answers",
                    };
                    let x = self.branch(ctx, b, &s, b.span, text.into());
                    join(&mut out, x);
                }
                out
            }
            StmtKind::Lookup { handlers, .. } => {
                let mut out = s.clone();
                for h in handlers {
                    let x = self.branch(
                        ctx,
                        &h.body,
                        &s,
                        h.event.span,
                        format!("when the lookup ends with `{}`", h.event.name),
                    );
                    join(&mut out, x);
                }
                out
            }
            StmtKind::Collect(c) => {
                let mut out = s.clone();
                for h in &c.handlers {
                    let x = self.branch(
                        ctx,
                        &h.body,
                        &s,
                        h.event.span,
                        format!("when the input is `{}`", h.event.name),
                    );
                    join(&mut out, x);
                }
                out
            }
            _ => s,
        }
    }

    /// Walks one procedure entered in state `entry` along `trail`.
    fn proc(&mut self, node: Node, entry: usize, trail: Trail) {
        let mut s: Slots = [None, None];
        s[entry] = Some(trail);
        let ctx = (node, entry);
        match node {
            Node::Start => {
                if let Some(b) = &self.flow.start {
                    self.body(ctx, b, s);
                }
            }
            Node::Proc(i) => {
                let flow = self.flow;
                let end = self.body(ctx, &flow.procs[i].body, s);
                if flow.procs[i].kind == ProcKind::Subflow {
                    self.exit(node, entry, &end);
                }
            }
            Node::Menu(i) => {
                let m = &self.flow.menus[i];
                for a in &m.arms {
                    let end = self.branch(
                        ctx,
                        &a.body,
                        &s,
                        a.key.span,
                        format!("caller presses \"{}\"", a.key.value),
                    );
                    self.exit(node, entry, &end);
                }
                let mut exhausted = false;
                for h in &m.handlers {
                    let end = self.branch(
                        ctx,
                        &h.body,
                        &s,
                        h.event.span,
                        format!("when the menu input is `{}`", h.event.name),
                    );
                    if h.event.name == "exhausted" {
                        exhausted = true;
                        self.exit(node, entry, &end);
                    } else {
                        // The menu is offered again, in whatever state the handler left.
                        self.reoffer(node, entry, &end);
                    }
                }
                if !exhausted {
                    self.exit(node, entry, &s);
                }
            }
        }
    }
}

/// Menus that contain `menu X` in an arm or handler (for `back`), and menus entered from outside
/// menus (for `top`).
fn menu_links(flow: &Flow, fc: &FlowChecked) -> (HashMap<usize, Vec<usize>>, Vec<usize>) {
    fn entered(b: &Body, fc: &FlowChecked, out: &mut Vec<usize>) {
        for s in &b.stmts {
            if let StmtKind::Menu(n) = &s.kind {
                if let Some(&i) = fc.menus.get(n.name.as_str()) {
                    out.push(i);
                }
            }
            crate::check::flow::for_each_body(s, |inner| entered(inner, fc, out));
        }
    }
    let mut parents: HashMap<usize, Vec<usize>> = HashMap::new();
    for (p, m) in flow.menus.iter().enumerate() {
        let mut out = Vec::new();
        for b in m
            .arms
            .iter()
            .map(|a| &a.body)
            .chain(m.handlers.iter().map(|h| &h.body))
        {
            entered(b, fc, &mut out);
        }
        for child in out {
            parents.entry(child).or_default().push(p);
        }
    }
    let mut tops = Vec::new();
    if let Some(s) = &flow.start {
        entered(s, fc, &mut tops);
    }
    for p in &flow.procs {
        entered(&p.body, fc, &mut tops);
    }
    tops.sort_unstable();
    tops.dedup();
    (parents, tops)
}

/// Every recording of the flow (statements and routes).
fn recordings(flow: &Flow) -> Vec<&RecordSpec> {
    fn walk<'a>(b: &'a Body, out: &mut Vec<&'a RecordSpec>) {
        for s in &b.stmts {
            match &s.kind {
                StmtKind::Record(spec) => out.push(spec),
                StmtKind::Route(r) => out.extend(r.record.as_ref()),
                _ => {}
            }
            crate::check::flow::for_each_body(s, |inner| walk(inner, out));
        }
    }
    let mut out = Vec::new();
    let mut bodies: Vec<&Body> = flow.start.iter().collect();
    bodies.extend(flow.procs.iter().map(|p| &p.body));
    for m in &flow.menus {
        bodies.extend(m.arms.iter().map(|a| &a.body));
        bodies.extend(m.handlers.iter().map(|h| &h.body));
    }
    for b in bodies {
        walk(b, &mut out);
    }
    out
}

/// Walks the flow for one consent (or, with `target` `None`, for a flow that asks none).
fn walk_for<'f, 'a>(
    cx: &'f Cx<'f>,
    flow: &'a Flow,
    fc: &'f FlowChecked<'a>,
    target: Option<Target<'a>>,
) -> Vec<Violation> {
    let (parents, tops) = menu_links(flow, fc);
    let mut w = Walk {
        cx,
        target,
        aliases: Vec::new(),
        flow,
        fc,
        exits: HashMap::new(),
        found: HashMap::new(),
        queue: VecDeque::new(),
        seen: HashMap::new(),
        violations: Vec::new(),
        parents,
        tops,
    };
    // Rounds until the exit states of procedures stop changing; the last round's violations hold.
    for _ in 0..64 {
        w.found.clear();
        w.seen.clear();
        w.violations.clear();
        w.aliases.clear();
        w.seen.insert((Node::Start, N), ());
        w.queue.push_back((Node::Start, N, None));
        while let Some((node, entry, trail)) = w.queue.pop_front() {
            w.proc(node, entry, trail);
        }
        // A menu offered again in another state can leave in that state too.
        loop {
            let mut changed = false;
            for &(to, from) in &w.aliases {
                let add = w.found.get(&from).copied().unwrap_or_default();
                let e = w.found.entry(to).or_default();
                for st in [N, G] {
                    if add[st] && !e[st] {
                        e[st] = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        if w.found == w.exits {
            break;
        }
        w.exits = std::mem::take(&mut w.found);
    }
    w.violations
}

pub fn check(cx: &Cx, flow: &Flow, fc: &FlowChecked, diags: &mut Diagnostics) {
    // A recording that does not say which of several consents it needs cannot be proven.
    if flow.consents.len() > 1 {
        for spec in recordings(flow).into_iter().filter(|s| s.consent.is_none()) {
            let names: Vec<String> = flow
                .consents
                .iter()
                .map(|c| format!("`{}`", c.name.name))
                .collect();
            diags.push(
                Diagnostic::new(
                    codes::RECORD_WITHOUT_CONSENT,
                    spec.span,
                    "this recording does not say which consent it needs",
                    format!("the flow asks for {}", names.join(" and ")),
                )
                .help(format!("name it: `record if consented({})`, or guard it with `if consented(NAME) {{ record }}` and write `record if consented(NAME)`", flow.consents[0].name.name)),
            );
        }
    }
    let targets: Vec<Option<Target>> = if flow.consents.is_empty() {
        vec![None]
    } else {
        flow.consents
            .iter()
            .map(|c| {
                Some(Target {
                    name: &c.name.name,
                    only: flow.consents.len() == 1,
                })
            })
            .collect()
    };
    let mut reported: Vec<Span> = Vec::new();
    for target in targets {
        for v in walk_for(cx, flow, fc, target) {
            if reported.contains(&v.span) {
                continue;
            }
            reported.push(v.span);
            report(flow, target, v, diags);
        }
    }
    never_asked(flow, diags);
}

fn report(flow: &Flow, target: Option<Target>, v: Violation, diags: &mut Diagnostics) {
    let mut steps = Vec::new();
    let mut cur = v.trail.clone();
    while let Some(step) = cur {
        steps.push((step.span, step.text.clone()));
        cur = step.prev.clone();
    }
    steps.reverse();
    let total = steps.len();
    // Keep the first two and the last five steps of long paths.
    let keep: Vec<(usize, &(Span, String))> = steps
        .iter()
        .enumerate()
        .filter(|(i, _)| *i < 2 || *i + 5 >= total)
        .collect();
    let label = match (target, v.asked) {
        (None, _) => "recording starts here, but this flow never asks for consent".to_string(),
        (Some(t), true) => format!(
            "recording starts here, but the caller may have refused `{}`",
            t.name
        ),
        (Some(t), false) => format!(
            "recording starts here, but `{}` was never asked on this path",
            t.name
        ),
    };
    let mut d = Diagnostic::new(
        codes::RECORD_WITHOUT_CONSENT,
        v.span,
        "this recording can start without the caller's consent",
        label,
    );
    for (i, (span, text)) in keep {
        d = d.label(*span, format!("{}. {text}", i + 1));
    }
    let name = target.map_or_else(
        || {
            flow.consents
                .first()
                .map_or("recording_consent", |c| c.name.name.as_str())
        },
        |t| t.name,
    );
    diags.push(d.help(format!(
        "record only where consent is known: `if consented({name}) {{ record }}`, or `record if consented` in a route"
    )));
}

/// `record if consented` in a flow that never asks: it can never record (CF0403).
fn never_asked(flow: &Flow, diags: &mut Diagnostics) {
    let asks = {
        fn any_ask(b: &Body) -> bool {
            b.stmts.iter().any(|s| {
                let mut found = matches!(s.kind, StmtKind::Ask(_));
                crate::check::flow::for_each_body(s, |inner| found |= any_ask(inner));
                found
            })
        }
        flow.start
            .iter()
            .chain(flow.procs.iter().map(|p| &p.body))
            .any(any_ask)
            || flow.menus.iter().any(|m| {
                m.arms
                    .iter()
                    .map(|a| &a.body)
                    .chain(m.handlers.iter().map(|h| &h.body))
                    .any(any_ask)
            })
    };
    if asks {
        return;
    }
    for spec in recordings(flow).into_iter().filter(|s| s.guarded) {
        diags.push(
            Diagnostic::new(
                codes::CONSENT_NEVER_ASKED,
                spec.span,
                "this never records: the flow never asks for consent",
                "consent is never given in this flow",
            )
            .help("define `consent NAME { ... }` in the flow and `ask NAME` before routing"),
        );
    }
}

/// Consent blocks: prompt and keys present, keys valid and distinct, the withdraw key not
/// clashing with any menu or queue key of the flow (CF0202, CF0307, CF0402).
pub fn keys(flow: &Flow, diags: &mut Diagnostics) {
    let mut flow_keys: Vec<(Span, String, Pattern)> = Vec::new();
    let mut add = |k: &crate::ast::Text| {
        if let Ok(p) = crate::pattern::parse_key(&k.value) {
            flow_keys.push((k.span, k.value.clone(), p));
        }
    };
    fn queue_keys<'a>(b: &'a Body, out: &mut Vec<&'a crate::ast::Text>) {
        for s in &b.stmts {
            if let StmtKind::Route(r) = &s.kind {
                if let Some(q) = &r.queue {
                    out.extend(q.exit_keys.iter().map(|k| &k.key));
                }
            }
            crate::check::flow::for_each_body(s, |inner| queue_keys(inner, out));
        }
    }
    fn collects<'a>(b: &'a Body, out: &mut Vec<&'a crate::ast::Collect>) {
        for s in &b.stmts {
            if let StmtKind::Collect(c) = &s.kind {
                out.push(c);
            }
            crate::check::flow::for_each_body(s, |inner| collects(inner, out));
        }
    }
    let mut qkeys = Vec::new();
    let mut inputs = Vec::new();
    for b in flow.start.iter().chain(flow.procs.iter().map(|p| &p.body)) {
        queue_keys(b, &mut qkeys);
        collects(b, &mut inputs);
    }
    for m in &flow.menus {
        for b in m
            .arms
            .iter()
            .map(|a| &a.body)
            .chain(m.handlers.iter().map(|h| &h.body))
        {
            collects(b, &mut inputs);
        }
    }
    for m in &flow.menus {
        for a in &m.arms {
            add(&a.key);
            queue_keys(&a.body, &mut qkeys);
        }
        for h in &m.handlers {
            queue_keys(&h.body, &mut qkeys);
        }
    }
    for k in qkeys {
        add(k);
    }
    for c in &flow.consents {
        if let Some((crate::ast::ConsentAnswer::Accept, span)) = c.silence {
            diags.push(
                Diagnostic::new(
                    codes::CONSENT_BY_SILENCE,
                    span,
                    format!("consent `{}` counts silence as consent", c.name.name),
                    "a caller who presses nothing is recorded",
                )
                .help("consent to recording is usually an explicit key press; write `silence means refuse` unless the law where your callers are says otherwise"),
            );
        }
        if let Some(notice) = &c.notice {
            // Consent by notice: heard in full is consent; there is nothing to answer.
            let answers = [
                ("prompt", c.prompt.as_ref().map(|t| t.span)),
                ("accept", c.accept.as_ref().map(|t| t.span)),
                ("refuse", c.refuse.as_ref().map(|t| t.span)),
                ("silence", c.silence.map(|s| s.1)),
                ("timeout", c.timeout.as_ref().map(|t| t.span)),
            ];
            for (what, span) in answers {
                let Some(span) = span else { continue };
                diags.push(
                    Diagnostic::new(
                        codes::NOTICE_WITH_ANSWER,
                        span,
                        format!("consent `{}` is a notice: it takes no `{what}`", c.name.name),
                        "a notice is not answered",
                    )
                    .label(notice.span, "heard in full, this notice is the consent")
                    .help("remove it; or, to let the caller choose with keys, write `prompt` instead of `notice` with `accept` and `refuse`"),
                );
            }
        }
        for (what, slot) in [
            ("prompt", c.prompt.is_some() || c.notice.is_some()),
            ("accept", c.accept.is_some() || c.notice.is_some()),
            ("refuse", c.refuse.is_some() || c.notice.is_some()),
        ] {
            if !slot {
                let help = match what {
                    "prompt" => {
                        "add `prompt \"recording-notice\"`: the caller must hear what they agree to"
                    }
                    "accept" => "add `accept \"1\"`: the key that gives consent",
                    _ => "add `refuse \"2\"`: the key that refuses",
                };
                diags.push(
                    Diagnostic::new(
                        codes::MISSING_SETTING,
                        c.name.span,
                        format!("consent `{}` has no `{what}`", c.name.name),
                        format!("`{what}` is required"),
                    )
                    .help(help),
                );
            }
        }
        let parsed: Vec<(&str, &crate::ast::Text, Pattern)> = [
            ("accept", &c.accept),
            ("refuse", &c.refuse),
            ("withdraw", &c.withdraw),
        ]
        .into_iter()
        .filter_map(|(n, t)| t.as_ref().map(|t| (n, t)))
        .filter_map(|(n, t)| keys::single_key(t, diags).map(|p| (n, t, p)))
        .collect();
        for (i, (ni, ti, pi)) in parsed.iter().enumerate() {
            for (nj, tj, pj) in &parsed[..i] {
                if pi.overlaps_prefix_of(pj) || pj.overlaps_prefix_of(pi) {
                    diags.push(
                        Diagnostic::new(codes::CONSENT_KEYS_CLASH, ti.span, format!("the `{ni}` key clashes with the `{nj}` key of consent `{}`", c.name.name), format!("`{ni}` key"))
                            .label(tj.span, format!("`{nj}` key"))
                            .help("use distinct keys that do not start alike, such as accept \"1\", refuse \"2\", withdraw \"*9\""),
                    );
                }
            }
        }
        if let Some((_, tw, pw)) = parsed.iter().find(|(n, _, _)| *n == "withdraw") {
            for (span, value, p) in &flow_keys {
                if pw.overlaps_prefix_of(p) || p.overlaps_prefix_of(pw) {
                    diags.push(
                        Diagnostic::new(codes::CONSENT_KEYS_CLASH, tw.span, format!("withdraw key \"{}\" clashes with key \"{value}\"", tw.value), "works at any time during the call")
                            .label(*span, "this key starts the same way")
                            .help("the withdraw key is heard during menus and queues too; choose keys so that no menu or queue key starts like the withdraw key"),
                    );
                    break;
                }
            }
            // `collect` takes digits and ends on its terminator: a withdraw key starting with
            // a digit, or with a collect's terminator, would be typed inside the input.
            let first = tw.value.chars().next().unwrap_or(' ');
            for input in &inputs {
                let ends_on = input
                    .terminator
                    .as_ref()
                    .filter(|t| t.value.starts_with(first));
                if first.is_ascii_digit() || ends_on.is_some() {
                    let why = match ends_on {
                        Some(t) => format!("`{}` ends its input", t.value),
                        None => "it takes digits".to_string(),
                    };
                    diags.push(
                        Diagnostic::new(
                            codes::CONSENT_KEYS_CLASH,
                            tw.span,
                            format!(
                                "withdraw key \"{}\" can be typed inside collect `{}`",
                                tw.value, input.var.name
                            ),
                            "works at any time during the call",
                        )
                        .label(input.var.span, format!("{why}: a caller typing it here withdraws consent"))
                        .help("collect input is digits and its terminator; choose a withdraw key that starts with `*` (or `#`) and a terminator that differs from it"),
                    );
                    break;
                }
            }
        }
    }
}
