//! One flow: its settings, its local names (menus, consents, blocks, subflows), variables, and
//! every statement and condition in it: references resolve, values have the right type, each
//! statement stands where it may. Collects what later checks need (local name tables, the
//! prompts the flow plays).

use super::Cx;
use super::keys;
use super::routing;
use super::scope::DefId;
use crate::ast::{
    ArithOp, Body, CmpOp, Collect, Cond, DefKind, Expr, Flow, Handler, Ident, Item, Lookup, Menu,
    ProcKind, Stmt, StmtKind, Text,
};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::{FileId, Span};
use std::collections::HashMap;

/// How often a menu or `collect` is offered again after a wrong or missing input, by default.
pub const DEFAULT_RETRIES: u32 = 2;

/// Names every flow has without defining them.
pub const BUILTINS: &[&str] = &["caller", "dialled", "key", "language"];

/// The checks usable in conditions: name, argument kind, result type.
const FUNCTIONS: &[(&str, Option<DefKind>, Ty)] = &[
    ("open", Some(DefKind::Hours), Ty::Bool),
    ("holiday", Some(DefKind::Holidays), Ty::Bool),
    ("switch", Some(DefKind::Switch), Ty::Bool),
    ("consented", Some(DefKind::Consent), Ty::Bool),
    ("agents_available", Some(DefKind::Group), Ty::Number),
    ("logged_in", Some(DefKind::Group), Ty::Number),
    ("queue_length", Some(DefKind::Group), Ty::Number),
    ("waiting_time", Some(DefKind::Group), Ty::Duration),
    ("expected_wait", Some(DefKind::Group), Ty::Duration),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Bool,
    Number,
    Duration,
    Text,
}

/// The type of `a op b`, when the operator applies: numbers and durations add and subtract,
/// texts join with `+`.
pub fn arith(op: ArithOp, a: Ty, b: Ty) -> Option<Ty> {
    match (op, a, b) {
        (_, Ty::Number, Ty::Number) => Some(Ty::Number),
        (_, Ty::Duration, Ty::Duration) => Some(Ty::Duration),
        (ArithOp::Add, Ty::Text, Ty::Text) => Some(Ty::Text),
        _ => None,
    }
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Bool => "a yes/no check",
            Ty::Number => "a number",
            Ty::Duration => "a duration",
            Ty::Text => "text",
        }
    }
}

/// What the later checks of a flow need.
pub struct FlowChecked<'a> {
    pub file: FileId,
    pub menus: HashMap<&'a str, usize>,
    pub procs: HashMap<&'a str, usize>,
    pub consents: HashMap<&'a str, usize>,
    /// Prompt names the flow plays, with where they are named.
    pub prompts: Vec<&'a Text>,
    /// Where the flow says a value (`say number`, `say digits`): it needs a say pack.
    pub says: Vec<Span>,
    /// Voicemail boxes and other globals the flow uses (their prompts count for the flow).
    pub boxes: Vec<DefId>,
    /// The type of each variable.
    pub var_types: HashMap<String, Ty>,
}

#[derive(Clone, Copy, Default)]
struct Place {
    in_menu: bool,
    in_subflow: bool,
    /// Inside a route's handler: why the caller is there (picks the voicemail greeting).
    reason: Option<&'static str>,
}

struct FlowCx<'c, 'a> {
    cx: &'c Cx<'a>,
    flow: &'a Flow,
    out: FlowChecked<'a>,
    vars: HashMap<&'a str, Span>,
    /// Each variable's type, and the value (or `collect`) it was first known from.
    var_types: HashMap<&'a str, (Ty, Span)>,
    used_local: HashMap<(DefKind, &'a str), bool>,
    time_used: Option<Span>,
    diags: &'c mut Diagnostics,
}

pub fn check<'a>(
    cx: &Cx<'a>,
    file: FileId,
    flow: &'a Flow,
    diags: &mut Diagnostics,
) -> FlowChecked<'a> {
    let mut f = FlowCx {
        cx,
        flow,
        out: FlowChecked {
            file,
            menus: HashMap::new(),
            procs: HashMap::new(),
            consents: HashMap::new(),
            prompts: Vec::new(),
            says: Vec::new(),
            boxes: Vec::new(),
            var_types: HashMap::new(),
        },
        vars: HashMap::new(),
        var_types: HashMap::new(),
        used_local: HashMap::new(),
        time_used: None,
        diags,
    };
    f.locals();
    f.collect_vars();
    f.var_types();
    f.settings();
    if let Some(start) = &flow.start {
        f.body(start, Place::default());
    }
    for p in &flow.procs {
        f.body(
            &p.body,
            Place {
                in_subflow: p.kind == ProcKind::Subflow,
                ..Place::default()
            },
        );
    }
    for m in &flow.menus {
        f.menu(m);
    }
    for c in &flow.consents {
        if let Some(p) = c.prompt.as_ref().or(c.notice.as_ref()) {
            f.prompt(p);
        }
    }
    super::consent::keys(flow, f.diags);
    if let (Some(at), None) = (f.time_used, &flow.timezone) {
        f.diags.push(
            Diagnostic::new(
                codes::MISSING_TIME_ZONE,
                flow.name.span,
                format!(
                    "flow `{}` checks the time but has no time zone",
                    flow.name.name
                ),
                "no `timezone` in this flow",
            )
            .label(at, "the time is checked here")
            .help("add `timezone \"Europe/Berlin\"` (or the zone the opening hours are meant in)"),
        );
    }
    f.unused_locals();
    f.out.var_types = f
        .var_types
        .iter()
        .map(|(k, v)| (k.to_string(), v.0))
        .collect();
    f.out
}

/// Whether a value is text, by the flow's variables' types (for lowering `+`: join or add).
pub fn is_text(e: &Expr, vars: &HashMap<String, Ty>) -> bool {
    match e {
        Expr::Text(_) | Expr::Field { .. } => true,
        Expr::Number(_) | Expr::Duration(_) | Expr::Call { .. } => false,
        Expr::Name(n) => {
            BUILTINS.contains(&n.name.as_str()) || vars.get(&n.name).is_none_or(|t| *t == Ty::Text)
        }
        Expr::Binary { left, .. } => is_text(left, vars),
    }
}

impl<'a> FlowCx<'_, 'a> {
    fn locals(&mut self) {
        let flow = self.flow;
        let mut seen: HashMap<&str, (DefKind, Span)> = HashMap::new();
        let mut add = |kind: DefKind, name: &'a Ident, diags: &mut Diagnostics| -> bool {
            if let Some((k, prev)) = seen.get(name.name.as_str()) {
                let msg = if *k == kind {
                    format!(
                        "{} `{}` is defined twice in this flow",
                        kind.keyword(),
                        name.name
                    )
                } else {
                    format!(
                        "`{}` is already the name of {} in this flow",
                        name.name,
                        k.article()
                    )
                };
                diags.push(
                    Diagnostic::new(codes::DUPLICATE_NAME, name.span, msg, "defined again here")
                        .label(*prev, "first defined here")
                        .help("menus, consents, blocks and subflows of a flow need distinct names"),
                );
                return false;
            }
            seen.insert(&name.name, (kind, name.span));
            true
        };
        for (i, m) in flow.menus.iter().enumerate() {
            if add(DefKind::Menu, &m.name, self.diags) {
                self.out.menus.insert(&m.name.name, i);
            }
        }
        for (i, c) in flow.consents.iter().enumerate() {
            if add(DefKind::Consent, &c.name, self.diags) {
                self.out.consents.insert(&c.name.name, i);
            }
        }
        for (i, p) in flow.procs.iter().enumerate() {
            let kind = match p.kind {
                ProcKind::Block => DefKind::Block,
                ProcKind::Subflow => DefKind::Subflow,
            };
            if add(kind, &p.name, self.diags) {
                self.out.procs.insert(&p.name.name, i);
            }
        }
        if flow.start.is_none() {
            self.diags.push(
                Diagnostic::new(
                    codes::FLOW_WITHOUT_START,
                    flow.name.span,
                    format!("flow `{}` has no `start` block", flow.name.name),
                    "calls to this flow would not know what to do",
                )
                .help("add `start { ... }` with the first statements of a call"),
            );
        }
        if flow.numbers.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    codes::FLOW_WITHOUT_NUMBERS,
                    flow.name.span,
                    format!("flow `{}` has no numbers", flow.name.name),
                    "no call can reach this flow",
                )
                .help("add `numbers \"+49 30 1234567\", \"200\"` with the numbers it answers"),
            );
        }
    }

    /// Every variable the flow sets or collects into, anywhere (flow-wide scope).
    fn collect_vars(&mut self) {
        fn walk<'a>(b: &'a Body, out: &mut HashMap<&'a str, Span>) {
            for s in &b.stmts {
                match &s.kind {
                    StmtKind::Set { var, .. } => {
                        out.entry(&var.name).or_insert(var.span);
                    }
                    StmtKind::Collect(c) => {
                        out.entry(&c.var.name).or_insert(c.var.span);
                    }
                    _ => {}
                }
                for_each_body(s, |b| walk(b, out));
            }
        }
        let flow = self.flow;
        let mut out = HashMap::new();
        if let Some(s) = &flow.start {
            walk(s, &mut out);
        }
        for p in &flow.procs {
            walk(&p.body, &mut out);
        }
        for m in &flow.menus {
            for a in &m.arms {
                walk(&a.body, &mut out);
            }
            for h in &m.handlers {
                walk(&h.body, &mut out);
            }
        }
        self.vars = out;
    }

    /// Each variable's type: that of the first value in the file it is given whose type can be
    /// known — digits collected are text; `set tries = 0` makes a number, so
    /// `set tries = tries + 1` stays one. A variable set to a yes/no check holds the text "yes"
    /// or "no"; one whose values depend only on each other is text.
    fn var_types(&mut self) {
        /// A `set` (with its value) or a `collect` (none: text).
        type Assign<'a> = (&'a Ident, Option<&'a Expr>);
        fn walk<'a>(b: &'a Body, out: &mut Vec<Assign<'a>>) {
            for s in &b.stmts {
                match &s.kind {
                    StmtKind::Set { var, value } => out.push((var, Some(value))),
                    StmtKind::Collect(c) => out.push((&c.var, None)),
                    _ => {}
                }
                for_each_body(s, |b| walk(b, out));
            }
        }
        let flow = self.flow;
        let mut sets = Vec::new();
        let bodies = flow
            .start
            .iter()
            .chain(flow.procs.iter().map(|p| &p.body))
            .chain(flow.menus.iter().flat_map(|m| {
                m.arms
                    .iter()
                    .map(|a| &a.body)
                    .chain(m.handlers.iter().map(|h| &h.body))
            }));
        for b in bodies {
            walk(b, &mut sets);
        }
        sets.sort_by_key(|(var, _)| var.span.start);
        loop {
            let mut changed = false;
            for &(var, value) in &sets {
                if self.var_types.contains_key(var.name.as_str()) {
                    continue;
                }
                let known = match value {
                    None => Some((Ty::Text, var.span)),
                    Some(v) => self.infer(v).map(|t| (t, v.span())),
                };
                if let Some((t, from)) = known {
                    let t = if t == Ty::Bool { Ty::Text } else { t };
                    self.var_types.insert(&var.name, (t, from));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// The type of a value, quietly (`None` when it cannot be known yet, or is wrong: `expr`
    /// reports that).
    fn infer(&self, e: &Expr) -> Option<Ty> {
        match e {
            Expr::Text(_) | Expr::Field { .. } => Some(Ty::Text),
            Expr::Number(_) => Some(Ty::Number),
            Expr::Duration(_) => Some(Ty::Duration),
            Expr::Name(n) if BUILTINS.contains(&n.name.as_str()) => Some(Ty::Text),
            Expr::Name(n) if n.name == "consented" => Some(Ty::Bool),
            Expr::Name(n) => self.var_types.get(n.name.as_str()).map(|t| t.0),
            Expr::Call { func, .. } => FUNCTIONS.iter().find(|f| f.0 == func.name).map(|f| f.2),
            Expr::Binary {
                op, left, right, ..
            } => arith(*op, self.infer(left)?, self.infer(right)?),
        }
    }

    /// The variable's type (text when nothing tells).
    fn var_type(&self, name: &str) -> Ty {
        self.var_types.get(name).map_or(Ty::Text, |t| t.0)
    }

    fn settings(&mut self) {
        let flow = self.flow;
        if let Some(tz) = &flow.timezone {
            super::time::zone(tz, self.diags);
        }
        let mut langs: HashMap<&str, Span> = HashMap::new();
        for l in &flow.languages {
            if let Some(prev) = langs.insert(&l.name, l.span) {
                self.diags.push(
                    Diagnostic::new(
                        codes::DUPLICATE_SETTING,
                        l.span,
                        format!("language `{}` is listed twice", l.name),
                        "listed again here",
                    )
                    .label(prev, "first listed here"),
                );
            }
            if !(2..=8).contains(&l.name.len())
                || !l
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                self.diags.push(
                    Diagnostic::new(
                        codes::BAD_VALUE,
                        l.span,
                        format!("`{}` is not a language code", l.name),
                        "expected a code such as `de` or `en`",
                    )
                    .help(
                        "use short language codes (`de`, `en`, `fr`); they name the prompt folders",
                    ),
                );
            }
        }
    }

    fn mark_local(&mut self, kind: DefKind, name: &'a str) {
        self.used_local.insert((kind, name), true);
    }

    fn unused_locals(&mut self) {
        let flow = self.flow;
        let report = |kind: DefKind,
                      name: &Ident,
                      used: &HashMap<(DefKind, &str), bool>,
                      d: &mut Diagnostics| {
            if !used.contains_key(&(kind, name.name.as_str())) {
                d.push(
                    Diagnostic::new(
                        codes::UNUSED,
                        name.span,
                        format!("{} `{}` is never used", kind.keyword(), name.name),
                        "defined here but never used",
                    )
                    .help(match kind {
                        DefKind::Menu => "enter it with `menu NAME`, or remove it",
                        DefKind::Consent => "ask for it with `ask NAME`, or remove it",
                        DefKind::Block => "jump to it with `goto NAME`, or remove it",
                        _ => "enter it with `call NAME`, or remove it",
                    }),
                );
            }
        };
        for m in &flow.menus {
            report(DefKind::Menu, &m.name, &self.used_local, self.diags);
        }
        for c in &flow.consents {
            report(DefKind::Consent, &c.name, &self.used_local, self.diags);
        }
        for p in &flow.procs {
            let kind = if p.kind == ProcKind::Block {
                DefKind::Block
            } else {
                DefKind::Subflow
            };
            report(kind, &p.name, &self.used_local, self.diags);
        }
    }

    fn menu(&mut self, m: &'a Menu) {
        for p in [&m.prompt, &m.repeat_prompt]
            .into_iter()
            .flatten()
            .chain(&m.more_prompts)
        {
            self.prompt(p);
        }
        if m.prompt.is_none() {
            self.diags.push(
                Diagnostic::new(
                    codes::MISSING_SETTING,
                    m.name.span,
                    format!("menu `{}` has no `prompt`", m.name.name),
                    "callers would hear nothing",
                )
                .help("add `prompt \"NAME\"` with the announcement of the choices"),
            );
        }
        keys::menu(m, self.diags);
        self.handlers(&m.handlers, &["invalid", "timeout", "exhausted"], "a menu");
        let inside = Place {
            in_menu: true,
            ..Place::default()
        };
        for a in &m.arms {
            self.body(&a.body, inside);
        }
        for h in &m.handlers {
            self.body(&h.body, inside);
        }
        let has = |e: &str| m.handlers.iter().any(|h| h.event.name == e);
        if !has("invalid") && !has("timeout") {
            // `retries N`: the menu is offered again N times after a wrong or missing key.
            let tries = m
                .retries
                .map_or(DEFAULT_RETRIES, |r| r.value)
                .saturating_add(1);
            let after = if has("exhausted") {
                "runs `exhausted =>`".to_string()
            } else {
                format!("continues after `menu {}`", m.name.name)
            };
            self.diags.push(
                Diagnostic::new(
                    codes::MENU_WITHOUT_HANDLERS,
                    m.name.span,
                    format!("menu `{}` has no `invalid` or `timeout` handling", m.name.name),
                    if m.retries_invalid.is_some() || m.retries_timeout.is_some() {
                        format!("a wrong key or no key replays this menu; when its retries are used up the call {after}")
                    } else {
                        format!("a wrong key or no key replays this menu; after {tries} tries the call {after}")
                    },
                )
                .help("add `invalid => play \"invalid-choice\"` and `timeout => ...` to tell the caller what went wrong"),
            );
        }
    }

    fn handlers(&mut self, hs: &[Handler], events: &[&str], place: &str) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for h in hs {
            if !events.contains(&h.event.name.as_str()) {
                continue;
            }
            if let Some(prev) = seen.insert(&h.event.name, h.event.span) {
                self.diags.push(
                    Diagnostic::new(
                        codes::DUPLICATE_SETTING,
                        h.event.span,
                        format!("`{} =>` is given twice in {place}", h.event.name),
                        "given again here",
                    )
                    .label(prev, "first given here")
                    .help("keep one; put several statements in `{ ... }`"),
                );
            }
        }
    }

    fn body(&mut self, b: &'a Body, place: Place) {
        for s in &b.stmts {
            self.stmt(s, place);
        }
    }

    fn stmt(&mut self, s: &'a Stmt, place: Place) {
        match &s.kind {
            StmtKind::Play { prompt, .. } => self.prompt(prompt),
            StmtKind::Say { value, .. } => {
                self.out.says.push(s.span);
                if let Some(t) = self.expr(value) {
                    if !matches!(t, Ty::Number | Ty::Text) {
                        self.diags.push(
                            Diagnostic::new(
                                codes::TYPE_MISMATCH,
                                value.span(),
                                format!("`say` reads out numbers and digits, not {}", t.name()),
                                format!("this is {}", t.name()),
                            )
                            .help("say a variable, `caller`, `key` or a count such as `queue_length(sales)`"),
                        );
                    }
                }
            }
            StmtKind::Menu(name) => {
                self.local(name, DefKind::Menu);
            }
            StmtKind::Collect(c) => self.collect(c, place),
            StmtKind::Language(l) => self.language(l),
            StmtKind::If(i) => {
                for (c, b) in &i.branches {
                    self.cond(c);
                    self.body(b, place);
                }
                if let Some(b) = &i.otherwise {
                    self.body(b, place);
                }
            }
            StmtKind::Set { var, value } => {
                if BUILTINS.contains(&var.name.as_str()) {
                    self.diags.push(
                        Diagnostic::new(
                            codes::BAD_VALUE,
                            var.span,
                            format!("`{}` is built in and cannot be set", var.name),
                            "built-in value",
                        )
                        .help("choose another name for the variable"),
                    );
                }
                if let Some(t) = self.expr(value) {
                    let t = if t == Ty::Bool { Ty::Text } else { t };
                    if let Some(&(held, from)) = self.var_types.get(var.name.as_str()) {
                        if held != t && from != value.span() {
                            self.diags.push(
                                Diagnostic::new(
                                    codes::TYPE_MISMATCH,
                                    value.span(),
                                    format!(
                                        "`{}` holds {}, but this is {}",
                                        var.name,
                                        held.name(),
                                        t.name()
                                    ),
                                    format!("this is {}", t.name()),
                                )
                                .label(from, format!("`{}` is {} from here", var.name, held.name()))
                                .help("a variable holds one kind of value; use another variable for this one"),
                            );
                        }
                    }
                }
            }
            StmtKind::Goto(name) => {
                self.local(name, DefKind::Block);
            }
            StmtKind::Call(name) => {
                self.local(name, DefKind::Subflow);
            }
            StmtKind::Return => {
                if !place.in_subflow {
                    self.misplaced(
                        s,
                        "`return` only ends a `subflow`",
                        "use `hangup` to end the call, or `goto` a block",
                    );
                }
            }
            StmtKind::Route(r) => routing::route(self.cx, self.out.file, r, self.diags),
            StmtKind::Transfer(e) => self.transfer(e),
            StmtKind::Voicemail { target, reason } => {
                let id = self.global(target, DefKind::Voicemail);
                if let Some(id) = id {
                    self.out.boxes.push(id);
                }
                let ok = reason
                    .as_ref()
                    .is_none_or(|r| routing::reason(r, self.diags));
                let why = reason.as_ref().map(|r| r.name.as_str()).or(place.reason);
                if let (Some(id), Some(why), true) = (id, why, ok) {
                    if let Item::Voicemail(v) = self.cx.item(id) {
                        routing::greeting_for(v, why, s.span, self.diags);
                    }
                }
            }
            StmtKind::Lookup { name, handlers } => {
                self.global(name, DefKind::Lookup);
                self.handlers(handlers, &["error", "not_found"], "a lookup");
                for h in handlers {
                    self.body(&h.body, place);
                }
            }
            StmtKind::Ask(name) => {
                self.local(name, DefKind::Consent);
            }
            StmtKind::Record(spec) => {
                if let Some(c) = &spec.consent {
                    self.local(c, DefKind::Consent);
                }
                self.sides(spec);
            }
            StmtKind::StopRecording | StmtKind::Hangup | StmtKind::Answer | StmtKind::Wait(_) => {}
            StmtKind::Back | StmtKind::Top | StmtKind::Repeat => {
                if !place.in_menu {
                    let kw = self.cx.text(s.keyword).to_string();
                    self.misplaced(
                        s,
                        &format!("`{kw}` only works inside a menu"),
                        "use it in a menu's key, `invalid` or `timeout` handler",
                    );
                }
            }
        }
        // Bodies nested in routes are walked here so each statement is checked once.
        if let StmtKind::Route(r) = &s.kind {
            if let Some(c) = r.record.as_ref().and_then(|spec| spec.consent.as_ref()) {
                self.local(c, DefKind::Consent);
            }
            if let Some(spec) = &r.record {
                self.sides(spec);
            }
            let events: &[&str] = if r.choice.is_some() {
                &["no_answer", "busy", "error", "otherwise"]
            } else {
                &["no_answer", "busy", "error"]
            };
            self.handlers(&r.handlers, events, "a route");
            if let Some(c) = &r.choice {
                if let Some(t) = self.expr(&c.value) {
                    if t != Ty::Text {
                        self.diags.push(
                            Diagnostic::new(
                                codes::TYPE_MISMATCH,
                                c.value.span(),
                                format!("a group is chosen by a name, not by {}", t.name()),
                                format!("this is {}", t.name()),
                            )
                            .help("route by a text that names the group, such as a lookup field: `route by crm.team among sales, care`"),
                        );
                    }
                }
            }
            if let Some(p) = &r.priority {
                // A number; a lookup's field (text) is read as one, 0 when it is none.
                if let Some(t @ (Ty::Duration | Ty::Bool)) = self.expr(p) {
                    self.diags.push(
                        Diagnostic::new(
                            codes::TYPE_MISMATCH,
                            p.span(),
                            format!("a priority is a number, not {}", t.name()),
                            format!("this is {}", t.name()),
                        )
                        .help("give a number (higher waits ahead): `priority 10`, or a variable set to one"),
                    );
                }
            }
            for h in r.handlers.iter().filter(|h| h.event.name == "otherwise") {
                if r.choice.is_none() {
                    self.diags.push(
                        Diagnostic::new(
                            codes::MISPLACED,
                            h.event.span,
                            "`otherwise =>` belongs to a route that chooses its group by a value",
                            "this route always rings its one group",
                        )
                        .help("remove it, or choose the group at run time: `route by VALUE among GROUP, GROUP { otherwise => ... }`"),
                    );
                }
            }
            let because = |reason: &'static str| Place {
                reason: Some(reason),
                ..place
            };
            for h in &r.handlers {
                match h.event.name.as_str() {
                    "busy" | "error" => self.body(&h.body, because("busy")),
                    "no_answer" => self.body(&h.body, because("no_answer")),
                    _ => self.body(&h.body, place),
                }
            }
            if let Some(q) = &r.queue {
                for p in [&q.music, &q.greeting].into_iter().flatten() {
                    self.prompt(p);
                }
                for a in &q.announcements {
                    if let crate::ast::AnnounceWhat::Prompt(p) = &a.what {
                        self.prompt(p);
                    }
                    if let Some((_, Some(p))) = &a.up_to {
                        self.prompt(p);
                    }
                }
                if let Some((_, Some(b))) = &q.max_wait {
                    self.body(b, because("no_answer"));
                }
                if let Some((_, Some(b))) = &q.max_length {
                    self.body(b, because("busy"));
                }
                if let Some(b) = q.no_agents.as_ref().and_then(|n| n.body.as_ref()) {
                    self.body(b, because("no_answer"));
                }
                if let Some((h, b)) = &q.hours {
                    self.global(h, DefKind::Hours);
                    if self.time_used.is_none() {
                        self.time_used = Some(h.span);
                    }
                    if let Some(b) = b {
                        self.body(b, because("closed"));
                    }
                }
                for k in &q.exit_keys {
                    keys::single_key(&k.key, self.diags);
                    self.body(&k.body, place);
                }
            }
        }
    }

    /// Records a played prompt, checking that its name can name a file.
    /// `record caller`, `record agent`, `record both`: nothing else.
    fn sides(&mut self, spec: &crate::ast::RecordSpec) {
        const SIDES: &[&str] = &["caller", "agent", "both"];
        if let Some(s) = &spec.sides {
            if !SIDES.contains(&s.name.as_str()) {
                self.diags.push(
                    Diagnostic::new(
                        codes::EXPECTED,
                        s.span,
                        format!("`record {}`: a recording holds the caller, the agent or both", s.name),
                        "not a side of the call",
                    )
                    .suggest(
                        &s.name,
                        SIDES.iter().copied(),
                        "write `record caller`, `record agent` or `record both` (the default), then `if consented` if needed",
                    ),
                );
            }
        }
    }

    fn prompt(&mut self, t: &'a Text) {
        if super::media::valid_name(&t.value) {
            self.out.prompts.push(t);
            return;
        }
        self.diags.push(
            Diagnostic::new(
                codes::BAD_VALUE,
                t.span,
                format!("\"{}\" is not a prompt name", t.value),
                "cannot name a prompt file",
            )
            .help("prompt names are file names under the prompt folder, without `..` or a leading `/`, such as \"welcome\" or \"menus/main\""),
        );
    }

    fn misplaced(&mut self, s: &Stmt, msg: &str, help: &str) {
        self.diags.push(
            Diagnostic::new(
                codes::MISPLACED,
                s.keyword,
                msg.to_string(),
                "not allowed here",
            )
            .help(help.to_string()),
        );
    }

    fn language(&mut self, l: &Ident) {
        let flow = self.flow;
        if flow.languages.iter().any(|x| x.name == l.name) {
            return;
        }
        let d = Diagnostic::new(
            codes::UNDECLARED_LANGUAGE,
            l.span,
            format!("language `{}` is not one of this flow's languages", l.name),
            "not declared",
        );
        let d = if flow.languages.is_empty() {
            d.help(format!(
                "declare the languages in the flow: `languages {}`",
                l.name
            ))
        } else {
            d.suggest(
                &l.name,
                flow.languages.iter().map(|x| x.name.as_str()),
                format!(
                    "add `{}` to `languages` in the flow, with its prompts",
                    l.name
                ),
            )
            .label(
                flow.languages[0]
                    .span
                    .to(flow.languages[flow.languages.len() - 1].span),
                "the flow's languages",
            )
        };
        self.diags.push(d);
    }

    fn collect(&mut self, c: &'a Collect, place: Place) {
        if let Some(p) = &c.prompt {
            self.prompt(p);
        } else {
            self.diags.push(
                Diagnostic::new(
                    codes::MISSING_SETTING,
                    c.var.span,
                    format!("`collect {}` has no `prompt`", c.var.name),
                    "callers would not know what to type",
                )
                .help("add `prompt \"NAME\"` asking for the digits"),
            );
        }
        if BUILTINS.contains(&c.var.name.as_str()) {
            self.diags.push(
                Diagnostic::new(
                    codes::BAD_VALUE,
                    c.var.span,
                    format!("`{}` is built in and cannot receive digits", c.var.name),
                    "built-in value",
                )
                .help("choose another name for the variable"),
            );
        }
        if let (Some(min), Some(max)) = (c.min_len, c.max_len) {
            if min.value > max.value || max.value == 0 || max.value > 32 {
                self.diags.push(
                    Diagnostic::new(
                        codes::BAD_VALUE,
                        min.span.to(max.span),
                        format!(
                            "cannot collect between {} and {} digits",
                            min.value, max.value
                        ),
                        "not a usable length",
                    )
                    .help("write `length 4` or `length 6..10` (at most 32 digits)"),
                );
            }
        }
        if let Some(t) = &c.terminator {
            keys::single_key(t, self.diags);
        }
        if let Some(&(held, from)) = self.var_types.get(c.var.name.as_str()) {
            if held != Ty::Text {
                self.diags.push(
                    Diagnostic::new(
                        codes::TYPE_MISMATCH,
                        c.var.span,
                        format!("`{}` holds {}, but collected digits are text", c.var.name, held.name()),
                        "collects text here",
                    )
                    .label(from, format!("`{}` is {} from here", c.var.name, held.name()))
                    .help("collect into a variable of its own; digits compare with numbers as numbers (`digits > 100`)"),
                );
            }
        }
        self.handlers(
            &c.handlers,
            &["invalid", "timeout", "exhausted"],
            "`collect`",
        );
        for h in &c.handlers {
            self.body(&h.body, place);
        }
    }

    fn transfer(&mut self, e: &'a Expr) {
        match e {
            Expr::Text(t) => {
                let number = super::numbers::flow_number(self.flow, &t.value);
                if number.is_none() && !super::numbers::is_sip_uri(&t.value) {
                    self.diags.push(
                        Diagnostic::new(
                            codes::BAD_VALUE,
                            t.span,
                            format!("\"{}\" is neither a phone number nor a SIP address", t.value),
                            "cannot transfer here",
                        )
                        .help("write a number such as \"+49 30 2555 5000\" or \"200\", or a SIP address such as \"sip:desk@pbx.example.com\""),
                    );
                }
            }
            other => {
                if let Some(t) = self.expr(other) {
                    if t != Ty::Text {
                        self.diags.push(
                            Diagnostic::new(
                                codes::TYPE_MISMATCH,
                                other.span(),
                                format!("cannot transfer to {}", t.name()),
                                format!("this is {}", t.name()),
                            )
                            .help("transfer to a number or SIP address in quotes, or to a variable holding one"),
                        );
                    }
                }
            }
        }
    }

    /// Resolves a flow-local name of `kind`, marking it used.
    fn local(&mut self, name: &'a Ident, kind: DefKind) -> Option<usize> {
        let flow = self.flow;
        let table = match kind {
            DefKind::Menu => &self.out.menus,
            DefKind::Consent => &self.out.consents,
            _ => &self.out.procs,
        };
        if let Some(&i) = table.get(name.name.as_str()) {
            let actual = match kind {
                DefKind::Block | DefKind::Subflow => match flow.procs[i].kind {
                    ProcKind::Block => DefKind::Block,
                    ProcKind::Subflow => DefKind::Subflow,
                },
                k => k,
            };
            self.mark_local(actual, &name.name);
            if actual != kind {
                let how = if actual == DefKind::Subflow {
                    "enter a subflow with `call`"
                } else {
                    "jump to a block with `goto`"
                };
                self.diags.push(
                    super::scope::wrong_kind(
                        name,
                        actual,
                        kind,
                        flow.procs[i].name.span,
                        "defined here",
                    )
                    .help(how),
                );
                return None;
            }
            return Some(i);
        }
        // Another kind of local with this name?
        let other = [
            (
                DefKind::Menu,
                self.out
                    .menus
                    .get(name.name.as_str())
                    .map(|&i| flow.menus[i].name.span),
            ),
            (
                DefKind::Consent,
                self.out
                    .consents
                    .get(name.name.as_str())
                    .map(|&i| flow.consents[i].name.span),
            ),
            (
                DefKind::Block,
                self.out
                    .procs
                    .get(name.name.as_str())
                    .map(|&i| flow.procs[i].name.span),
            ),
        ]
        .into_iter()
        .find_map(|(k, s)| s.map(|s| (k, s)));
        if let Some((k, span)) = other {
            self.mark_local(k, &name.name);
            self.diags.push(super::scope::wrong_kind(
                name,
                k,
                kind,
                span,
                "defined here",
            ));
            return None;
        }
        let candidates: Vec<&str> = match kind {
            DefKind::Menu => flow.menus.iter().map(|m| m.name.name.as_str()).collect(),
            DefKind::Consent => flow.consents.iter().map(|c| c.name.name.as_str()).collect(),
            DefKind::Block => flow
                .procs
                .iter()
                .filter(|p| p.kind == ProcKind::Block)
                .map(|p| p.name.name.as_str())
                .collect(),
            _ => flow
                .procs
                .iter()
                .filter(|p| p.kind == ProcKind::Subflow)
                .map(|p| p.name.name.as_str())
                .collect(),
        };
        self.diags.push(
            Diagnostic::new(
                codes::UNKNOWN_NAME,
                name.span,
                format!("unknown {} `{}`", kind.keyword(), name.name),
                format!("no {} of this flow has this name", kind.keyword()),
            )
            .suggest(
                &name.name,
                candidates,
                format!(
                    "define it in this flow with `{} {} {{ ... }}`",
                    kind.keyword(),
                    name.name
                ),
            ),
        );
        None
    }

    fn global(&mut self, name: &Ident, kind: DefKind) -> Option<DefId> {
        self.cx
            .globals
            .resolve(name, kind, self.out.file, self.cx.project, self.diags)
    }

    /// The type of a value, or `None` when it is wrong (already reported).
    fn expr(&mut self, e: &'a Expr) -> Option<Ty> {
        match e {
            Expr::Text(_) => Some(Ty::Text),
            Expr::Number(_) => Some(Ty::Number),
            Expr::Duration(_) => Some(Ty::Duration),
            Expr::Name(n) => {
                if BUILTINS.contains(&n.name.as_str()) {
                    return Some(Ty::Text);
                }
                if self.vars.contains_key(n.name.as_str()) {
                    return Some(self.var_type(&n.name));
                }
                if n.name == "consented" {
                    return Some(Ty::Bool);
                }
                if FUNCTIONS.iter().any(|f| f.0 == n.name) {
                    self.diags.push(
                        Diagnostic::new(
                            codes::EXPECTED,
                            n.span,
                            format!("`{}` needs the name of what it checks", n.name),
                            "missing `(...)`",
                        )
                        .help(format!("write `{}(NAME)`", n.name)),
                    );
                    return None;
                }
                let names = BUILTINS
                    .iter()
                    .copied()
                    .chain(self.vars.keys().copied())
                    .chain(["consented"]);
                self.diags.push(
                    Diagnostic::new(
                        codes::UNKNOWN_VARIABLE,
                        n.span,
                        format!("unknown variable `{}`", n.name),
                        "never set in this flow",
                    )
                    .suggest(&n.name, names, format!("set it first with `set {} = ...` or `collect {} {{ ... }}`; text goes in quotes", n.name, n.name)),
                );
                None
            }
            Expr::Field { lookup, field } => {
                let id = self.global(lookup, DefKind::Lookup)?;
                let Item::Lookup(l) = self.cx.item(id) else {
                    return None;
                };
                if !l.fields.is_empty() && !l.fields.iter().any(|f| f.name == field.name) {
                    self.diags.push(
                        Diagnostic::new(
                            codes::UNKNOWN_FIELD,
                            field.span,
                            format!("lookup `{}` has no field `{}`", lookup.name, field.name),
                            "not among its `fields`",
                        )
                        .label(l.name.span, "the lookup is defined here")
                        .suggest(
                            &field.name,
                            l.fields.iter().map(|f| f.name.as_str()),
                            format!(
                                "add `{}` to the `fields` of lookup `{}`",
                                field.name, lookup.name
                            ),
                        ),
                    );
                    return None;
                }
                Some(Ty::Text)
            }
            Expr::Call { func, args, span } => {
                let Some(&(_, arg_kind, ty)) = FUNCTIONS.iter().find(|f| f.0 == func.name) else {
                    self.diags.push(
                        Diagnostic::new(
                            codes::UNKNOWN_NAME,
                            func.span,
                            format!("unknown check `{}`", func.name),
                            "not a known check",
                        )
                        .suggest(&func.name, FUNCTIONS.iter().map(|f| f.0), "known checks: `open`, `holiday`, `switch`, `consented`, `agents_available`, `logged_in`, `queue_length`, `waiting_time`, `expected_wait`"),
                    );
                    return None;
                };
                let optional = func.name == "consented";
                if args.len() > 1 || (args.is_empty() && !optional) {
                    self.diags.push(
                        Diagnostic::new(
                            codes::BAD_VALUE,
                            *span,
                            format!("`{}` takes one name", func.name),
                            format!("{} given", args.len()),
                        )
                        .help(format!("write `{}(NAME)`", func.name)),
                    );
                    return None;
                }
                if matches!(func.name.as_str(), "open" | "holiday") && self.time_used.is_none() {
                    self.time_used = Some(*span);
                }
                if let (Some(arg), Some(kind)) = (args.first(), arg_kind) {
                    if kind == DefKind::Consent {
                        self.local(arg, kind)?;
                    } else {
                        self.global(arg, kind)?;
                    }
                }
                Some(ty)
            }
            Expr::Binary {
                op,
                op_span,
                left,
                right,
            } => {
                let (a, b) = (self.expr(left), self.expr(right));
                let (a, b) = (a?, b?);
                if let Some(t) = arith(*op, a, b) {
                    return Some(t);
                }
                let what = match op {
                    ArithOp::Add => format!("add {} and {}", a.name(), b.name()),
                    ArithOp::Sub => format!("subtract {} from {}", b.name(), a.name()),
                };
                let help = match (op, a, b) {
                    (ArithOp::Add, Ty::Text, Ty::Number) | (ArithOp::Add, Ty::Number, Ty::Text) => {
                        "to join, write the number as text in quotes (`\"0\" + digits`); to add, both sides must be numbers (digits collected are text)"
                    }
                    (_, Ty::Duration, Ty::Number) | (_, Ty::Number, Ty::Duration)
                        if matches!(**left, Expr::Number(_))
                            || matches!(**right, Expr::Number(_)) =>
                    {
                        "durations need a unit: write `1m` or `30s`"
                    }
                    (ArithOp::Sub, Ty::Text, Ty::Text) => {
                        "texts are joined with `+`; nothing is taken away from text"
                    }
                    (_, Ty::Bool, _) | (_, _, Ty::Bool) => {
                        "a yes/no check is a condition by itself: `if open(office_hours)`"
                    }
                    _ => "numbers add to numbers, durations to durations, texts join with texts",
                };
                self.diags.push(
                    Diagnostic::new(
                        codes::TYPE_MISMATCH,
                        e.span(),
                        format!("cannot {what} with `{}`", op.as_str()),
                        format!("{} {} {}", a.name(), op.as_str(), b.name()),
                    )
                    .label(*op_span, "here")
                    .help(help),
                );
                None
            }
        }
    }

    fn cond(&mut self, c: &'a Cond) {
        match c {
            Cond::And(a, b) | Cond::Or(a, b) => {
                self.cond(a);
                self.cond(b);
            }
            Cond::Not(c, _) => self.cond(c),
            Cond::Anonymous(_) => {}
            Cond::Test(e) => match self.expr(e) {
                Some(Ty::Bool | Ty::Number) | None => {}
                Some(t) => {
                    self.diags.push(
                        Diagnostic::new(
                            codes::TYPE_MISMATCH,
                            e.span(),
                            format!("{} is not a condition", t.name()),
                            "this is a value, not a yes/no check",
                        )
                        .help("compare it, for example `NAME == \"gold\"` or `caller starts_with \"+49\"`"),
                    );
                }
            },
            Cond::In { left, list, .. } => {
                let lt = self.expr(left);
                for e in list {
                    if !matches!(e, Expr::Text(_) | Expr::Number(_) | Expr::Duration(_)) {
                        self.diags.push(
                            Diagnostic::new(
                                codes::BAD_VALUE,
                                e.span(),
                                "lists after `in` hold fixed values",
                                "not text in quotes or a number",
                            )
                            .help("write the values themselves, such as `caller in (\"+4930123\", \"+4930124\")`; compare with a variable using `==`"),
                        );
                        continue;
                    }
                    let t = self.expr(e);
                    if let (Some(a), Some(b)) = (lt, t) {
                        self.compatible(left, a, CmpOp::Eq, e, b, e.span());
                    }
                }
            }
            Cond::Compare {
                left,
                op,
                op_span,
                right,
            } => {
                let (Some(a), Some(b)) = (self.expr(left), self.expr(right)) else {
                    return;
                };
                self.compatible(left, a, *op, right, b, *op_span);
                if matches!(op, CmpOp::Matches) {
                    if let Expr::Text(t) = right {
                        keys::caller_pattern(t, self.diags);
                    }
                }
            }
        }
    }

    fn compatible(&mut self, left: &Expr, a: Ty, op: CmpOp, right: &Expr, b: Ty, op_span: Span) {
        use Ty::*;
        let ok = match op {
            CmpOp::Eq | CmpOp::Ne => {
                a != Bool
                    && b != Bool
                    && (a == b || matches!((a, b), (Text, Number) | (Number, Text)))
            }
            CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => matches!(
                (a, b),
                (Number, Number) | (Duration, Duration) | (Text, Number) | (Number, Text)
            ),
            CmpOp::StartsWith | CmpOp::Matches => a == Text && matches!(right, Expr::Text(_)),
        };
        if ok {
            return;
        }
        let help = match (a, b) {
            (Duration, Number) | (Number, Duration) => {
                "durations need a unit: write `2m` or `90s`".to_string()
            }
            (Bool, _) | (_, Bool) => {
                "a yes/no check is a condition by itself: `if open(office_hours)`".to_string()
            }
            _ if matches!(op, CmpOp::StartsWith | CmpOp::Matches) => format!(
                "`{}` compares text with text in quotes: `caller {} \"+49\"`",
                op.as_str(),
                op.as_str()
            ),
            _ => format!(
                "compare values of the same kind; `{}` is {} and `{}` is {}",
                self.cx.text(left.span()),
                a.name(),
                self.cx.text(right.span()),
                b.name()
            ),
        };
        self.diags.push(
            Diagnostic::new(
                codes::TYPE_MISMATCH,
                left.span().to(right.span()),
                format!(
                    "cannot compare {} with {} using `{}`",
                    a.name(),
                    b.name(),
                    op.as_str()
                ),
                "these values cannot be compared",
            )
            .label(op_span, "compared here")
            .help(help),
        );
    }
}

/// Calls `f` for every body nested directly in a statement (branches, handlers, queue arms).
pub fn for_each_body<'a>(s: &'a Stmt, mut f: impl FnMut(&'a Body)) {
    match &s.kind {
        StmtKind::If(i) => {
            for (_, b) in &i.branches {
                f(b);
            }
            if let Some(b) = &i.otherwise {
                f(b);
            }
        }
        StmtKind::Collect(c) => c.handlers.iter().for_each(|h| f(&h.body)),
        StmtKind::Lookup { handlers, .. } => handlers.iter().for_each(|h| f(&h.body)),
        StmtKind::Route(r) => {
            r.handlers.iter().for_each(|h| f(&h.body));
            if let Some(q) = &r.queue {
                if let Some((_, Some(b))) = &q.max_wait {
                    f(b);
                }
                if let Some((_, Some(b))) = &q.max_length {
                    f(b);
                }
                if let Some(b) = q.no_agents.as_ref().and_then(|n| n.body.as_ref()) {
                    f(b);
                }
                if let Some((_, Some(b))) = &q.hours {
                    f(b);
                }
                q.exit_keys.iter().for_each(|k| f(&k.body));
            }
        }
        _ => {}
    }
}

/// Checks a lookup definition: it needs an http(s) URL, and the caller must not wait on it
/// for long (a timeout and a retry pause of at most 30 s each).
pub fn lookup_def(l: &Lookup, diags: &mut Diagnostics) {
    let pause = l.retries.and_then(|(_, p)| p);
    for d in [l.timeout, pause].into_iter().flatten() {
        if d.millis > 30_000 {
            diags.push(
                Diagnostic::new(
                    codes::BAD_VALUE,
                    d.span,
                    "a caller waits on a lookup at most 30 seconds per try",
                    "too long",
                )
                .help("web services answer in a second or two: `timeout 2s`, `retries 2 after 1s`"),
            );
        }
    }
    match &l.url {
        None => diags.push(
            Diagnostic::new(
                codes::MISSING_SETTING,
                l.name.span,
                format!("lookup `{}` has no `url`", l.name.name),
                "nothing to ask",
            )
            .help("add `url \"https://crm.example.com/callers/{caller}\"`"),
        ),
        Some(u) if !(u.value.starts_with("https://") || u.value.starts_with("http://")) => diags.push(
            Diagnostic::new(
                codes::BAD_VALUE,
                u.span,
                format!("\"{}\" is not an http or https URL", u.value),
                "expected http:// or https://",
            )
            .help("lookups ask a web service: write its full URL; `{caller}` and `{dialled}` are filled in"),
        ),
        Some(_) => {}
    }
}
