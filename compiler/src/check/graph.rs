//! The flow graph: which statements can complete (so what follows a `hangup` is unreachable),
//! which paths reach the end of `start` or a block without saying how the call ends, routes
//! with no fallback at such an end, and `goto`/`call` loops that never wait for the caller.
//! Works on the syntax tree with per-procedure summaries (subflows, menus), so each subflow or
//! menu is judged by what it can do, not by where it is called from.

use super::Cx;
use super::flow::FlowChecked;
use crate::ast::{Body, Flow, Ident, ProcKind, Stmt, StmtKind};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::Span;

/// A procedure of a flow: `start`, a block or subflow, or a menu.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    Start,
    Proc(usize),
    Menu(usize),
}

/// Whether subflows can return and menus can be left, by fixpoint over the flow.
pub struct Summaries {
    pub subflow_returns: Vec<bool>,
    pub menu_exits: Vec<bool>,
}

pub struct Graph<'a> {
    pub flow: &'a Flow,
    pub fc: &'a FlowChecked<'a>,
    pub sum: Summaries,
}

impl<'a> Graph<'a> {
    pub fn new(flow: &'a Flow, fc: &'a FlowChecked<'a>) -> Graph<'a> {
        let mut g = Graph {
            flow,
            fc,
            sum: Summaries {
                subflow_returns: vec![false; flow.procs.len()],
                menu_exits: vec![false; flow.menus.len()],
            },
        };
        loop {
            let mut changed = false;
            for (i, p) in flow.procs.iter().enumerate() {
                if p.kind == ProcKind::Subflow && !g.sum.subflow_returns[i] {
                    let (normal, returns) = g.body(&p.body);
                    if normal || returns {
                        g.sum.subflow_returns[i] = true;
                        changed = true;
                    }
                }
            }
            for (i, m) in flow.menus.iter().enumerate() {
                if !g.sum.menu_exits[i] {
                    let exhausted = m.handlers.iter().find(|h| h.event.name == "exhausted");
                    let exits = exhausted.is_none_or(|h| g.body(&h.body).0)
                        || m.arms.iter().any(|a| g.body(&a.body).0);
                    if exits {
                        g.sum.menu_exits[i] = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                return g;
            }
        }
    }

    /// (completes normally, reaches a `return`).
    pub fn body(&self, b: &Body) -> (bool, bool) {
        let mut returns = false;
        for s in &b.stmts {
            let (normal, r) = self.stmt(s);
            returns |= r;
            if !normal {
                return (false, returns);
            }
        }
        (true, returns)
    }

    /// Handler bodies of a statement with "absent" meaning "continue".
    fn arms(&self, bodies: impl IntoIterator<Item = Option<&'a Body>>) -> (bool, bool) {
        let (mut normal, mut returns) = (false, false);
        for b in bodies {
            match b {
                None => normal = true,
                Some(b) => {
                    let (n, r) = self.body(b);
                    normal |= n;
                    returns |= r;
                }
            }
        }
        (normal, returns)
    }

    /// (completes normally, reaches a `return`) for one statement.
    pub fn stmt(&self, s: &'a Stmt) -> (bool, bool) {
        match &s.kind {
            StmtKind::Hangup
            | StmtKind::Transfer(_)
            | StmtKind::Voicemail { .. }
            | StmtKind::Goto(_)
            | StmtKind::Back
            | StmtKind::Top
            | StmtKind::Repeat => (false, false),
            StmtKind::Return => (false, true),
            StmtKind::Call(n) => {
                let r = self
                    .fc
                    .procs
                    .get(n.name.as_str())
                    .is_none_or(|&i| self.sum.subflow_returns[i]);
                (r, false)
            }
            StmtKind::Menu(n) => {
                let r = self
                    .fc
                    .menus
                    .get(n.name.as_str())
                    .is_none_or(|&i| self.sum.menu_exits[i]);
                (r, false)
            }
            StmtKind::If(i) => {
                let mut bodies: Vec<Option<&Body>> =
                    i.branches.iter().map(|(_, b)| Some(b)).collect();
                bodies.push(i.otherwise.as_ref());
                self.arms(bodies)
            }
            StmtKind::Route(r) => {
                self.arms(super::routing::outcomes(r).into_iter().map(|(_, b)| b))
            }
            StmtKind::Lookup { handlers, .. } => {
                let (_, returns) = self.arms(handlers.iter().map(|h| Some(&h.body)));
                (true, returns)
            }
            StmtKind::Collect(c) => {
                let (_, returns) = self.arms(c.handlers.iter().map(|h| Some(&h.body)));
                (true, returns)
            }
            _ => (true, false),
        }
    }
}

pub fn check(cx: &Cx, flow: &Flow, fc: &FlowChecked, diags: &mut Diagnostics) {
    let g = Graph::new(flow, fc);
    let mut bodies: Vec<&Body> = Vec::new();
    if let Some(s) = &flow.start {
        bodies.push(s);
    }
    bodies.extend(flow.procs.iter().map(|p| &p.body));
    for m in &flow.menus {
        bodies.extend(m.arms.iter().map(|a| &a.body));
        bodies.extend(m.handlers.iter().map(|h| &h.body));
    }
    for b in bodies {
        unreachable(cx, &g, b, diags);
    }
    if let Some(s) = &flow.start {
        ends(&g, s, "start", diags);
    }
    for p in &flow.procs {
        if p.kind == ProcKind::Block {
            ends(&g, &p.body, &format!("block {}", p.name.name), diags);
        }
    }
    loops(&g, diags);
    unreached(&g, diags);
}

/// The procedures and menus a body enters (`goto`, `call`, `menu`), at any depth.
fn entered(g: &Graph, b: &Body, out: &mut Vec<Node>) {
    for s in &b.stmts {
        match &s.kind {
            StmtKind::Goto(n) | StmtKind::Call(n) => {
                if let Some(&i) = g.fc.procs.get(n.name.as_str()) {
                    out.push(Node::Proc(i));
                }
            }
            StmtKind::Menu(n) => {
                if let Some(&i) = g.fc.menus.get(n.name.as_str()) {
                    out.push(Node::Menu(i));
                }
            }
            _ => {}
        }
        crate::check::flow::for_each_body(s, |inner| entered(g, inner, out));
    }
}

fn bodies_of(flow: &Flow, n: Node) -> Vec<&Body> {
    match n {
        Node::Start => flow.start.iter().collect(),
        Node::Proc(i) => vec![&flow.procs[i].body],
        Node::Menu(i) => {
            let m = &flow.menus[i];
            m.arms
                .iter()
                .map(|a| &a.body)
                .chain(m.handlers.iter().map(|h| &h.body))
                .collect()
        }
    }
}

/// Blocks, subflows and menus that are named somewhere but never reached from `start` (CF0107;
/// those named nowhere are reported by the flow check).
fn unreached(g: &Graph, diags: &mut Diagnostics) {
    let flow = g.flow;
    let mut reached = vec![Node::Start];
    let mut i = 0;
    while i < reached.len() {
        let mut next = Vec::new();
        for b in bodies_of(flow, reached[i]) {
            entered(g, b, &mut next);
        }
        for n in next {
            if !reached.contains(&n) {
                reached.push(n);
            }
        }
        i += 1;
    }
    let mut named = Vec::new();
    let all = (0..flow.procs.len())
        .map(Node::Proc)
        .chain((0..flow.menus.len()).map(Node::Menu));
    for n in all.clone() {
        for b in bodies_of(flow, n) {
            entered(g, b, &mut named);
        }
    }
    for n in all {
        if reached.contains(&n) || !named.contains(&n) {
            continue;
        }
        let (what, name) = match n {
            Node::Proc(i) => (
                if flow.procs[i].kind == ProcKind::Block {
                    "block"
                } else {
                    "subflow"
                },
                &flow.procs[i].name,
            ),
            Node::Menu(i) => ("menu", &flow.menus[i].name),
            Node::Start => continue,
        };
        diags.push(
            Diagnostic::new(
                codes::UNUSED,
                name.span,
                format!("{what} `{}` is never reached from `start`", name.name),
                "only entered from parts that no call reaches",
            )
            .help("enter it from `start` (or from a part `start` reaches), or remove it"),
        );
    }
}

/// Reports the statements after one that never completes (CF0301), in every nested body.
fn unreachable(cx: &Cx, g: &Graph, b: &Body, diags: &mut Diagnostics) {
    for (i, s) in b.stmts.iter().enumerate() {
        crate::check::flow::for_each_body(s, |inner| unreachable(cx, g, inner, diags));
        if g.stmt(s).0 || i + 1 == b.stmts.len() {
            continue;
        }
        let rest = b.stmts[i + 1].span.to(b.stmts[b.stmts.len() - 1].span);
        let what = match &s.kind {
            StmtKind::If(_) => "every branch of this `if` ends the path".to_string(),
            StmtKind::Route(_) => {
                "this route ends the path whether or not an agent answers".to_string()
            }
            StmtKind::Menu(_) => "every way out of this menu ends the path".to_string(),
            StmtKind::Call(_) => "this subflow never returns".to_string(),
            _ => format!("`{}` ends the path", cx.text(s.keyword)),
        };
        diags.push(
            Diagnostic::new(
                codes::UNREACHABLE,
                rest,
                "unreachable statements",
                "these statements never run",
            )
            .label(s.span.to(s.keyword), what)
            .help("remove them, or move them before the statement that ends the path"),
        );
        return;
    }
}

enum End {
    Plain(Span, &'static str),
    /// A route with an outcome that continues after it (the outcome's name).
    Route(Span, &'static str),
}

/// Why a body can complete normally: the statements through which control leaves it.
fn end_reasons(g: &Graph, b: &Body, out: &mut Vec<End>) {
    let Some(last) = b.stmts.last() else {
        out.push(End::Plain(b.span, "this block is empty"));
        return;
    };
    if !g.body(b).0 {
        return;
    }
    match &last.kind {
        StmtKind::If(i) => {
            for (_, body) in &i.branches {
                end_reasons(g, body, out);
            }
            match &i.otherwise {
                Some(e) => end_reasons(g, e, out),
                None => out.push(End::Plain(
                    last.keyword,
                    "when no branch of this `if` applies",
                )),
            }
        }
        StmtKind::Route(r) => {
            let span = r.group.span.to(last.keyword);
            let before = out.len();
            for (event, body) in super::routing::outcomes(r) {
                match body {
                    None => out.push(End::Route(span, event)),
                    Some(b) => end_reasons(g, b, out),
                }
            }
            // One warning per route: for nobody answering when that is among its outcomes, else
            // nobody logged in, else no phone reached.
            let rank = |e: &End| match e {
                End::Route(s, ev) if *s == span => Some(match *ev {
                    "no_agents" => 1,
                    "error" => 2,
                    _ => 0,
                }),
                _ => None,
            };
            let keep = out[before..]
                .iter()
                .enumerate()
                .filter_map(|(i, e)| Some((rank(e)?, i)))
                .min();
            if let Some((_, keep)) = keep {
                let chosen = out.remove(before + keep);
                out.retain(|e| rank(e).is_none());
                out.push(chosen);
            }
        }
        StmtKind::Menu(_) => out.push(End::Plain(last.span, "when the caller leaves this menu")),
        _ => out.push(End::Plain(last.span, "the path goes on after this")),
    }
}

/// CF0302 for paths that run off the end of `start` or a block; CF0601 for routes there.
fn ends(g: &Graph, b: &Body, what: &str, diags: &mut Diagnostics) {
    let mut reasons = Vec::new();
    end_reasons(g, b, &mut reasons);
    let mut plain: Vec<(Span, &str)> = Vec::new();
    for r in reasons {
        match r {
            End::Route(span, "no_agents") => diags.push(
                Diagnostic::new(
                    codes::NO_FALLBACK,
                    span,
                    "this route has no fallback when nobody of the group is logged in",
                    "with nobody logged in, waiting callers are hung up",
                )
                .label(b.end, format!("the end of `{what}`"))
                .help("add `no_agents => voicemail BOX` to the queue (or `busy =>` to the route, or statements after it)"),
            ),
            End::Route(span, "error") => diags.push(
                Diagnostic::new(
                    codes::NO_FALLBACK,
                    span,
                    "this route has no fallback when no agent's phone can be reached",
                    "if every phone rung fails, the call is hung up",
                )
                .label(b.end, format!("the end of `{what}`"))
                .help("add `error => transfer \"...\"` (or `busy =>`, or statements after the route)"),
            ),
            End::Route(span, _) => diags.push(
                Diagnostic::new(
                    codes::NO_FALLBACK,
                    span,
                    "this route has no fallback when nobody answers",
                    "if no agent answers, the call is hung up",
                )
                .label(b.end, format!("the end of `{what}`"))
                .help("add `no_answer => voicemail BOX` (or `transfer`, or statements after the route)"),
            ),
            End::Plain(span, text) => plain.push((span, text)),
        }
    }
    if let Some(&(span, text)) = plain.first() {
        let mut d = Diagnostic::new(
            codes::FALLS_OFF_END,
            b.end,
            format!("`{what}` can end without saying how the call ends"),
            "here the caller is hung up without a word",
        )
        .label(span, text.to_string());
        for &(s, t) in plain.iter().skip(1).take(3) {
            d = d.label(s, t.to_string());
        }
        diags.push(d.help("end every path with `hangup`, `voicemail`, `transfer` or `goto`, so the caller hears a goodbye or reaches someone"));
    }
}

/// Effect status of paths that have not waited for the caller: bit 0 = did nothing audible
/// yet, bit 1 = played, rang or looked something up; bit 2 (with bit 1) = went through a menu
/// without a key pressed (its `timeout` and `exhausted` handlers: silence is no input).
type Status = u8;
const PURE: Status = 1;
const EFFECT: Status = 2;
const SILENT: Status = 4;

struct Edge {
    from: Node,
    to: Node,
    /// Reachable on a path that did nothing at all.
    pure: bool,
    /// Reachable only by a caller who pressed nothing in a menu on the way.
    silent: bool,
    span: Span,
}

struct LoopWalk<'g, 'a> {
    g: &'g Graph<'a>,
    /// Statuses with which each subflow can return without input (fixpoint).
    returns: Vec<Status>,
    edges: Vec<Edge>,
    /// Menus whose silent path the current walk has entered (each once: menus may lead to
    /// one another, and to themselves, from their handlers).
    in_menus: Vec<bool>,
}

impl<'a> LoopWalk<'_, 'a> {
    /// A menu waits for keys, but a caller who presses none goes through its `timeout` and
    /// `exhausted` handlers, and then on after the `menu` statement (without `exhausted`, or
    /// when its statements finish): that path has no input. Keys pressed end the walk here.
    fn silent_menu(&mut self, from: Node, name: &Ident, st: Status, ret: &mut Status) -> Status {
        if st == 0 {
            return 0;
        }
        let Some(&i) = self.g.fc.menus.get(name.name.as_str()) else {
            return 0;
        };
        if self.in_menus.get(i).copied().unwrap_or(true) {
            // Already on this silent path: a menu that comes round again waits for the caller
            // once more (no statement follows it on this path).
            return 0;
        }
        let outermost = !self.in_menus.iter().any(|&m| m);
        self.in_menus[i] = true;
        let out = self.silent_handlers(from, i, ret);
        if outermost {
            // Each statement's walk starts afresh.
            self.in_menus.fill(false);
        }
        out
    }

    fn silent_handlers(&mut self, from: Node, i: usize, ret: &mut Status) -> Status {
        let menu = &self.g.flow.menus[i];
        let silent = EFFECT | SILENT;
        // With `retries timeout unlimited`, silence never uses the menu up: a silent caller
        // is offered it again and again, each time waiting, and never goes past it.
        let endless = matches!(
            menu.retries_timeout,
            Some(crate::ast::Retries::Unlimited(_))
        );
        let mut out = 0;
        let mut exhausted = false;
        for h in &menu.handlers {
            match h.event.name.as_str() {
                // After `timeout` the menu is offered again: only its jumps lead elsewhere.
                "timeout" => {
                    self.body(from, &h.body, silent, ret);
                }
                "exhausted" if !endless => {
                    exhausted = true;
                    out |= self.body(from, &h.body, silent, ret);
                }
                _ => {}
            }
        }
        if !exhausted && !endless {
            out |= silent;
        }
        out
    }

    fn body(&mut self, from: Node, b: &'a Body, mut st: Status, ret: &mut Status) -> Status {
        for s in &b.stmts {
            if st == 0 {
                return 0;
            }
            st = self.stmt(from, s, st, ret);
        }
        st
    }

    fn stmt(&mut self, from: Node, s: &'a Stmt, st: Status, ret: &mut Status) -> Status {
        let effect = if st != 0 { EFFECT | (st & SILENT) } else { 0 };
        match &s.kind {
            StmtKind::Menu(n) => self.silent_menu(from, n, st, ret),
            StmtKind::Collect(_) | StmtKind::Ask(_) => 0,
            StmtKind::Hangup
            | StmtKind::Transfer(_)
            | StmtKind::Voicemail { .. }
            | StmtKind::Back
            | StmtKind::Top
            | StmtKind::Repeat => 0,
            StmtKind::Return => {
                *ret |= st;
                0
            }
            StmtKind::Goto(n) => {
                if let Some(&i) = self.g.fc.procs.get(n.name.as_str()) {
                    self.edges.push(Edge {
                        from,
                        to: Node::Proc(i),
                        pure: st & PURE != 0,
                        silent: st & SILENT != 0,
                        span: s.span,
                    });
                }
                0
            }
            StmtKind::Call(n) => {
                let Some(&i) = self.g.fc.procs.get(n.name.as_str()) else {
                    return st;
                };
                self.edges.push(Edge {
                    from,
                    to: Node::Proc(i),
                    pure: st & PURE != 0,
                    silent: st & SILENT != 0,
                    span: s.span,
                });
                let r = self.returns[i];
                let mut out = 0;
                if st & PURE != 0 {
                    out |= r;
                }
                if st & EFFECT != 0 && r != 0 {
                    out |= EFFECT | (st & SILENT);
                }
                out
            }
            StmtKind::If(i) => {
                let mut out = if i.otherwise.is_none() { st } else { 0 };
                for (_, b) in &i.branches {
                    out |= self.body(from, b, st, ret);
                }
                if let Some(b) = &i.otherwise {
                    out |= self.body(from, b, st, ret);
                }
                out
            }
            StmtKind::Route(r) => {
                let mut out = 0;
                for (_, body) in super::routing::outcomes(r) {
                    out |= match body {
                        Some(b) => self.body(from, b, effect, ret),
                        None => effect,
                    };
                }
                out
            }
            StmtKind::Lookup { handlers, .. } => {
                let mut out = effect;
                for h in handlers {
                    out |= self.body(from, &h.body, effect, ret);
                }
                out
            }
            StmtKind::Play { .. }
            | StmtKind::Say { .. }
            | StmtKind::Record { .. }
            | StmtKind::Wait(_) => effect,
            StmtKind::Set { .. }
            | StmtKind::Language(_)
            | StmtKind::StopRecording
            | StmtKind::Answer => st,
        }
    }
}

/// Strongly connected components (Tarjan, iterative) of `n` nodes with the given edges.
fn sccs(n: usize, adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        while let Some((v, ei)) = work.pop() {
            if ei == 0 {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on[v] = true;
            }
            if let Some(&w) = adj[v].get(ei) {
                work.push((v, ei + 1));
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(comp);
            }
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
        }
    }
    out
}

fn loops(g: &Graph, diags: &mut Diagnostics) {
    let flow = g.flow;
    let mut w = LoopWalk {
        g,
        returns: vec![0; flow.procs.len()],
        edges: Vec::new(),
        in_menus: vec![false; flow.menus.len()],
    };
    // Fixpoint of subflow return statuses, then one final walk for the edges.
    loop {
        let mut changed = false;
        for (i, p) in flow.procs.iter().enumerate() {
            if p.kind != ProcKind::Subflow {
                continue;
            }
            let mut ret = 0;
            let end = w.body(Node::Proc(i), &p.body, PURE, &mut ret);
            let r = ret | end;
            if r | w.returns[i] != w.returns[i] {
                w.returns[i] |= r;
                changed = true;
            }
        }
        w.edges.clear();
        if !changed {
            break;
        }
    }
    if let Some(s) = &flow.start {
        w.body(Node::Start, s, PURE, &mut 0);
    }
    for (i, p) in flow.procs.iter().enumerate() {
        w.body(Node::Proc(i), &p.body, PURE, &mut 0);
    }
    let n = flow.procs.len() + 1;
    let id = |node: Node| match node {
        Node::Start => 0,
        Node::Proc(i) => i + 1,
        // Menus wait for input, so loop edges never touch them; map them anywhere harmless.
        Node::Menu(_) => 0,
    };
    let name = |i: usize| {
        if i == 0 {
            "start".to_string()
        } else {
            format!("`{}`", flow.procs[i - 1].name.name)
        }
    };
    let mut reported: Vec<usize> = Vec::new();
    for pure_only in [true, false] {
        let mut adj = vec![Vec::new(); n];
        for e in w.edges.iter().filter(|e| e.pure || !pure_only) {
            adj[id(e.from)].push(id(e.to));
        }
        for comp in sccs(n, &adj) {
            let cyclic = comp.len() > 1 || adj[comp[0]].contains(&comp[0]);
            if !cyclic || comp.iter().any(|c| reported.contains(c)) {
                continue;
            }
            reported.extend(&comp);
            let Some(edge) = w
                .edges
                .iter()
                .filter(|e| {
                    (e.pure || !pure_only) && comp.contains(&id(e.from)) && comp.contains(&id(e.to))
                })
                .max_by_key(|e| e.span.start)
            else {
                continue;
            };
            let mut members: Vec<usize> = comp.clone();
            members.sort_unstable();
            let list = members
                .iter()
                .map(|&c| name(c))
                .collect::<Vec<_>>()
                .join(", ");
            let mut d = if pure_only {
                Diagnostic::new(
                    codes::BUSY_LOOP,
                    edge.span,
                    "this loop can repeat forever without doing anything",
                    format!("loops through {list} without playing, ringing or asking anything"),
                )
                .help("the call would be ended by the step limit; add a `menu`, `collect` or an end (`hangup`) to the loop")
            } else if w
                .edges
                .iter()
                .any(|e| e.silent && comp.contains(&id(e.from)) && comp.contains(&id(e.to)))
            {
                // The loop passes a menu, but only a caller who presses nothing goes round it.
                Diagnostic::new(
                    codes::LOOP_WITHOUT_INPUT,
                    edge.span,
                    "a caller who presses nothing goes round this loop forever",
                    format!("loops through {list} by a menu's `timeout` or `exhausted` path"),
                )
                .help("silence is no answer: end the silent path (`exhausted => voicemail BOX`, `transfer` or `hangup`)")
            } else {
                Diagnostic::new(
                    codes::LOOP_WITHOUT_INPUT,
                    edge.span,
                    "this loop can repeat forever without waiting for the caller",
                    format!("loops through {list} without a menu, `collect` or `ask`"),
                )
                .help("let the caller leave the loop (a `menu` with a choice), or end it after some tries with a variable")
            };
            for &c in members.iter().filter(|&&c| c != 0) {
                d = d.label(flow.procs[c - 1].name.span, "part of the loop");
            }
            diags.push(d);
        }
    }
}
