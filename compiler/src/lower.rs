//! Lower: a checked project without errors → one bytecode `Program`. Statements become
//! instructions, conditions become jumping code (short-circuit, no booleans materialised),
//! menus and `collect` become key tables plus handler code, calendars become minute-of-week
//! bit sets and day lists, and every instruction records the source span it came from.

use crate::ast::{
    AnnounceWhat, ArithOp, Body, CmpOp, Cond, ConsentAnswer, DefKind, Expr, Flow, HolidayKind,
    HoursRule, Ident, Item, Menu, ProcKind, Sticky as AstSticky, Stmt, StmtKind,
};
use crate::bytecode::{
    self, AgentInfo, AnnounceKind, BoxInfo, CalendarTable, CollectInfo, ConsentInfo, Const,
    DebugFile, FlowInfo, GroupInfo, HoursTable, Instr, Loc, LookupInfo, LookupSite, MenuInfo, Pc,
    Program, PromptInfo, QueueInfo, Reason, RecordMode, RouteInfo, Stat, Sticky, Strategy,
    SwitchInfo, var,
};
use crate::check::Checked;
use crate::check::flow::DEFAULT_RETRIES;
use crate::check::routing::DEFAULT_RING_MS;
use crate::diagnostics::{Diagnostic, Severity, codes};
use crate::pattern;
use crate::source::Span;
use std::collections::HashMap;

/// Why lowering could not run.
#[derive(Debug)]
pub enum LowerError {
    /// The project has errors; fix them first (`check` lists them).
    HasErrors(usize),
    /// Lowering met something the checker should have refused (CF0901, a bug of callflow's):
    /// it compiles nothing rather than guess.
    Internal(Vec<Diagnostic>),
}

const MENU_TIMEOUT_MS: u64 = 5_000;
const DIGIT_TIMEOUT_MS: u64 = 3_000;
const CONSENT_TIMEOUT_MS: u64 = 5_000;
const LOOKUP_TIMEOUT_MS: u64 = 3_000;
/// The pause before a lookup is asked again (`retries N` without `after`).
const LOOKUP_RETRY_MS: u64 = 500;

/// Compiles a checked project. Refuses when the check found errors (warnings are fine).
pub fn lower(checked: &Checked) -> Result<Program, LowerError> {
    let errors = checked
        .diags
        .list
        .iter()
        .chain(&checked.project.diags.list)
        .filter(|d| d.severity() == Severity::Error)
        .count();
    if errors > 0 {
        return Err(LowerError::HasErrors(errors));
    }
    let mut l = Lower {
        checked,
        p: Program::default(),
        strings: HashMap::new(),
        defs: HashMap::new(),
        prompts: HashMap::new(),
        loc: Loc::default(),
        label: None,
        cur: None,
        gaps: Vec::new(),
    };
    for (id, f) in checked.project.sources.iter() {
        let _ = id;
        l.p.files.push(DebugFile {
            name: f.name.clone(),
            text: f.text.to_string(),
        });
    }
    for module in &checked.project.modules {
        for item in &module.items {
            if let Item::Flow(f) = item {
                l.cur = Some(CurFlow {
                    file: module.file,
                    languages: f.languages.iter().map(|x| x.name.clone()).collect(),
                    prompts_dir: f
                        .prompts_dir
                        .as_ref()
                        .map_or("prompts".to_string(), |d| d.value.clone()),
                });
                l.flow(f);
            }
        }
    }
    // Keep the source text only of files that produced code (for disasm and traces); the
    // others (definitions only, tests) keep their name so file indices stay valid.
    let mut used = vec![false; l.p.files.len()];
    for d in &l.p.debug {
        if let Some(u) = used.get_mut(d.file as usize) {
            *u = true;
        }
    }
    for (f, used) in l.p.files.iter_mut().zip(used) {
        if !used {
            f.text.clear();
        }
    }
    if !l.gaps.is_empty() {
        return Err(LowerError::Internal(l.gaps));
    }
    Ok(l.p)
}

/// What a handler body was reached for, to pick a voicemail greeting.
#[derive(Clone, Copy)]
struct Ctx {
    reason: Reason,
}

impl Ctx {
    /// Outside route handlers: a voicemail plays the box's plain greeting.
    const PLAIN: Ctx = Ctx {
        reason: Reason::Default,
    };
}

/// A jump whose target is filled in later.
struct Fixup {
    at: usize,
    span: Span,
    target: Target,
}

enum Target {
    Proc(String),
}

struct FlowState<'a> {
    /// The flow's country (for numbers written the national way).
    country: Option<&'static crate::numbers::Country>,
    vars: HashMap<&'a str, u16>,
    menus: HashMap<&'a str, u16>,
    consents: HashMap<&'a str, u16>,
    procs: HashMap<&'a str, Pc>,
    fixups: Vec<Fixup>,
    /// The checker's type of each variable (`+` joins texts and adds numbers).
    var_types: Option<&'a HashMap<String, crate::check::flow::Ty>>,
}

/// A prompt name with its files per language (the same name may mean other files elsewhere).
type PromptKey = (String, Vec<(Option<String>, String)>);

struct CurFlow {
    file: crate::source::FileId,
    languages: Vec<String>,
    prompts_dir: String,
}

struct Lower<'c> {
    checked: &'c Checked<'c>,
    p: Program,
    strings: HashMap<String, u32>,
    /// Global definitions already lowered: (kind, name) → index in their pool.
    defs: HashMap<(DefKind, String), u16>,
    prompts: HashMap<PromptKey, u32>,
    /// The flow being lowered (for resolving prompt files).
    cur: Option<CurFlow>,
    loc: Loc,
    /// The last position taken as a jump target.
    label: Option<Pc>,
    /// What the checker let through that lowering cannot compile (internal errors).
    gaps: Vec<Diagnostic>,
}

impl<'c> Lower<'c> {
    fn str(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.p.strings.len() as u32;
        self.p.strings.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    fn at(&mut self, span: Span) {
        let file = self.checked.project.sources.get(span.file);
        self.loc = Loc {
            file: span.file.0 as u16,
            start: span.start,
            end: span.end,
            line: file.line_col(span.start).line,
            implicit: false,
        };
    }

    /// Like `at`, for what the compiler adds at the end of a body (implicit hang-ups, returns,
    /// jumps over the other branches): traces and coverage leave these out.
    fn at_end(&mut self, span: Span) {
        self.at(span);
        self.loc.implicit = true;
    }

    fn emit(&mut self, i: Instr) -> usize {
        self.p.code.push(i);
        self.p.debug.push(self.loc);
        self.p.code.len() - 1
    }

    /// The current position as a jump target: code will follow here, even after a terminator.
    fn here(&mut self) -> Pc {
        self.label = Some(self.pc());
        self.pc()
    }

    /// Whether the last instruction never falls through and nothing jumps to the current
    /// position (so a jump or an implicit end emitted here would be dead).
    fn ended(&self) -> bool {
        self.label != Some(self.pc())
            && matches!(
                self.p.code.last(),
                Some(
                    Instr::Jump(_)
                        | Instr::Goto(_)
                        | Instr::Return
                        | Instr::Hangup
                        | Instr::Transfer
                        | Instr::Voicemail { .. }
                        | Instr::MenuExit
                        | Instr::MenuRetry(_)
                        | Instr::Back
                        | Instr::Top
                        | Instr::Repeat
                )
            )
    }

    /// A jump to be patched, unless the code before it never falls through.
    fn jump_out(&mut self, jumps: &mut Vec<usize>) {
        if !self.ended() {
            jumps.push(self.emit(Instr::Jump(0)));
        }
    }

    fn pc(&self) -> Pc {
        self.p.code.len() as Pc
    }

    fn patch(&mut self, at: usize, target: Pc) {
        self.p.code[at] = match self.p.code[at] {
            Instr::Jump(_) => Instr::Jump(target),
            Instr::JumpIf(_) => Instr::JumpIf(target),
            Instr::JumpIfNot(_) => Instr::JumpIfNot(target),
            Instr::Call(_) => Instr::Call(target),
            Instr::Goto(_) => Instr::Goto(target),
            other => other,
        };
    }

    fn item(&self, name: &str) -> Option<&'c Item> {
        let g = &self.checked.globals;
        let id = g.get(name)?;
        let d = g.def(id);
        Some(&self.checked.project.modules[d.file.0 as usize].items[d.item])
    }

    /// A prompt as the current flow plays it: its files per language, resolved like the check
    /// does (a visible `prompt` definition, else `<flow folder>/<prompts>/<language>/NAME.wav`).
    fn prompt(&mut self, name: &str) -> u32 {
        let mut files: Vec<(Option<String>, String)> = Vec::new();
        let project = self.checked.project;
        let dir = |file: crate::source::FileId| {
            project.paths[file.0 as usize]
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default()
        };
        let globals = &self.checked.globals;
        let def = globals.get(name).filter(|&id| {
            globals.def(id).kind == DefKind::Prompt
                && self
                    .cur
                    .as_ref()
                    .is_none_or(|c| globals.visible_from(id, c.file))
        });
        if let Some(id) = def {
            let d = globals.def(id);
            if let Item::Prompt(pd) = &project.modules[d.file.0 as usize].items[d.item] {
                for (lang, file) in &pd.files {
                    let path = dir(d.file).join(&file.value).to_string_lossy().into_owned();
                    files.push((lang.as_ref().map(|l| l.name.clone()), path));
                }
            }
        } else if let Some(c) = &self.cur {
            let base = dir(c.file).join(&c.prompts_dir);
            if c.languages.is_empty() {
                files.push((
                    None,
                    base.join(format!("{name}.wav"))
                        .to_string_lossy()
                        .into_owned(),
                ));
            }
            for l in &c.languages {
                files.push((
                    Some(l.clone()),
                    base.join(l)
                        .join(format!("{name}.wav"))
                        .to_string_lossy()
                        .into_owned(),
                ));
            }
        }
        let key = (name.to_string(), files.clone());
        if let Some(&i) = self.prompts.get(&key) {
            return i;
        }
        let name_s = self.str(name);
        let files = files
            .iter()
            .map(|(l, f)| (l.as_ref().map(|l| self.str(l)), self.str(f)))
            .collect();
        let i = self.p.prompts.len() as u32;
        self.p.prompts.push(PromptInfo {
            name: name_s,
            files,
        });
        self.prompts.insert(key, i);
        i
    }

    /// Records something the checker should have refused (an internal error, CF0901).
    fn gap(&mut self, span: Span, what: String) {
        self.gaps.push(
            Diagnostic::new(
                codes::INTERNAL,
                span,
                format!("internal compiler error: {what}"),
                "the checker let this through, but it cannot be compiled",
            )
            .help(
                "this is a bug in callflow: please report it with this flow; nothing was compiled",
            ),
        );
    }

    /// A flow-local name (menu, variable, consent) the checker resolved.
    fn local(&mut self, names: &HashMap<&str, u16>, name: &Ident, what: &str) -> u16 {
        match names.get(name.name.as_str()) {
            Some(&i) => i,
            None => {
                self.gap(name.span, format!("no {what} `{}` in this flow", name.name));
                0
            }
        }
    }

    fn def(&mut self, kind: DefKind, name: &Ident) -> u16 {
        if let Some(&i) = self.defs.get(&(kind, name.name.clone())) {
            return i;
        }
        let item = self.item(&name.name);
        let i = match (kind, item) {
            (DefKind::Hours, Some(Item::Hours(h))) => self.hours(h),
            (DefKind::Holidays, Some(Item::Holidays(h))) => self.calendar(h),
            (DefKind::Switch, Some(Item::Switch(s))) => {
                let n = self.str(&s.name.name);
                self.p.switches.push(SwitchInfo {
                    name: n,
                    default_on: s.default_on.is_some_and(|d| d.0),
                });
                self.p.switches.len() - 1
            }
            (DefKind::Group, Some(Item::Group(g))) => self.group(g),
            (DefKind::Agent, Some(Item::Agent(a))) => {
                let name = self.str(&a.name.name);
                let display = a.display.as_ref().map(|d| self.str(&d.value));
                let contact = self.str(a.contact.as_ref().map_or("", |c| c.value.as_str()));
                let skills = a
                    .skills
                    .iter()
                    .map(|s| (self.str(&s.name.name), s.level.value))
                    .collect();
                self.p.agents.push(AgentInfo {
                    name,
                    display,
                    contact,
                    skills,
                });
                self.p.agents.len() - 1
            }
            (DefKind::Voicemail, Some(Item::Voicemail(v))) => {
                let name = self.str(&v.name.name);
                let mut greetings = [None; 4];
                for (reason, t) in &v.greetings {
                    let slot = match reason.as_ref().map(|r| r.name.as_str()) {
                        None => Reason::Default,
                        Some("busy") => Reason::Busy,
                        Some("no_answer") => Reason::NoAnswer,
                        Some("closed") => Reason::Closed,
                        Some(other) => {
                            let span = reason.as_ref().map_or(t.span, |r| r.span);
                            self.gap(span, format!("unknown greeting reason `{other}`"));
                            continue;
                        }
                    };
                    greetings[slot as usize] = Some(self.prompt(&t.value));
                }
                let email = v.email.as_ref().map(|e| self.str(&e.value));
                self.p.boxes.push(BoxInfo {
                    name,
                    greetings,
                    max_length_ms: v.max_length.map(|d| d.millis),
                    email,
                });
                self.p.boxes.len() - 1
            }
            (DefKind::Lookup, Some(Item::Lookup(l))) => {
                let name = self.str(&l.name.name);
                let url = self.str(l.url.as_ref().map_or("", |u| u.value.as_str()));
                let fields = l.fields.iter().map(|f| self.str(&f.name)).collect();
                self.p.lookups.push(LookupInfo {
                    name,
                    url,
                    timeout_ms: l.timeout.map_or(LOOKUP_TIMEOUT_MS, |d| d.millis),
                    retries: l.retries.map_or(0, |(n, _)| n.value),
                    retry_ms: l
                        .retries
                        .and_then(|(_, p)| p)
                        .map_or(LOOKUP_RETRY_MS, |d| d.millis),
                    fields,
                });
                self.p.lookups.len() - 1
            }
            _ => {
                self.gap(
                    name.span,
                    format!("no {} `{}` to compile", kind.keyword(), name.name),
                );
                0
            }
        } as u16;
        self.defs.insert((kind, name.name.clone()), i);
        i
    }

    fn hours(&mut self, h: &crate::ast::Hours) -> usize {
        let name = self.str(&h.name.name);
        let mut week = vec![0u64; bytecode::WEEK_WORDS];
        let mut special: Vec<(i32, Vec<(u16, u16)>)> = Vec::new();
        let total = 7 * 1440;
        for rule in &h.rules {
            match rule {
                HoursRule::Weekly { days, windows, .. } => {
                    for d in days {
                        for w in windows {
                            let (s, mut e) = (w.start.minutes(), w.end.minutes());
                            if e <= s {
                                e += 1440;
                            }
                            for m in s..e {
                                let bit = (u32::from(d.0) * 1440 + m) % total;
                                week[bit as usize / 64] |= 1 << (bit % 64);
                            }
                        }
                    }
                }
                HoursRule::Special {
                    from, to, windows, ..
                } => {
                    let ws: Vec<(u16, u16)> = windows
                        .iter()
                        .map(|w| (w.start.minutes() as u16, w.end.minutes() as u16))
                        .collect();
                    let Some(first) = crate::calendar::date(from.year, from.month, from.day) else {
                        continue;
                    };
                    let last = to
                        .as_ref()
                        .and_then(|t| crate::calendar::date(t.year, t.month, t.day))
                        .unwrap_or(first);
                    let (a, b) = (bytecode::day_number(first), bytecode::day_number(last));
                    for day in a..=b.min(a + 400) {
                        special.push((day, ws.clone()));
                    }
                }
            }
        }
        special.sort_by_key(|s| s.0);
        special.dedup_by_key(|s| s.0);
        let closed_on = h
            .closed_on
            .iter()
            .map(|c| self.def(DefKind::Holidays, c))
            .collect();
        self.p.hours.push(HoursTable {
            name,
            week,
            special,
            closed_on,
        });
        self.p.hours.len() - 1
    }

    fn calendar(&mut self, h: &crate::ast::Holidays) -> usize {
        let name = self.str(&h.name.name);
        let mut days: Vec<(i32, Option<u32>)> = Vec::new();
        for e in &h.entries {
            let label = e.label.as_ref().map(|l| self.str(&l.value));
            let years: Vec<i16> = match e.kind {
                HolidayKind::Date(_) | HolidayKind::Range(..) => vec![0],
                _ => (bytecode::CALENDAR_YEARS.0..=bytecode::CALENDAR_YEARS.1).collect(),
            };
            for y in years {
                for d in crate::calendar::dates_in_year(&e.kind, y) {
                    days.push((bytecode::day_number(d), label));
                }
            }
        }
        days.sort_by_key(|d| d.0);
        days.dedup_by_key(|d| d.0);
        self.p.calendars.push(CalendarTable { name, days });
        self.p.calendars.len() - 1
    }

    fn group(&mut self, g: &crate::ast::Group) -> usize {
        let name = self.str(&g.name.name);
        let members = g
            .members
            .iter()
            .map(|m| {
                (
                    self.def(DefKind::Agent, &m.agent),
                    m.tier.map_or(0, |t| t.value),
                )
            })
            .collect();
        let require = g
            .require
            .iter()
            .map(|s| (self.str(&s.name.name), s.level.value))
            .collect();
        let strategy = match &g.strategy {
            None => Strategy::RingAll,
            Some(s) => Strategy::from_name(&s.name).unwrap_or_else(|| {
                self.gap(s.span, format!("unknown strategy `{}`", s.name));
                Strategy::RingAll
            }),
        };
        self.p.groups.push(GroupInfo {
            name,
            strategy,
            ring_ms: g.ring.map_or(DEFAULT_RING_MS, |d| d.millis),
            wrap_up_ms: g.wrap_up.map_or(0, |d| d.millis),
            members,
            tier_opens_ms: crate::check::routing::tier_openings(g),
            require,
        });
        self.p.groups.len() - 1
    }

    fn flow(&mut self, f: &'c Flow) {
        let mut st = FlowState {
            country: crate::check::numbers::country_of(f),
            vars: HashMap::new(),
            menus: HashMap::new(),
            consents: HashMap::new(),
            procs: HashMap::new(),
            fixups: Vec::new(),
            var_types: self.checked.var_types.get(&f.name.span),
        };
        let name = self.str(&f.name.name);
        let numbers = f
            .numbers
            .iter()
            .filter_map(|n| crate::check::numbers::flow_number(f, &n.value))
            .map(|n| self.str(&n))
            .collect();
        let timezone = f.timezone.as_ref().map(|t| self.str(&t.value));
        let country = crate::check::numbers::country_of(f).map(|c| self.str(c.code));
        let languages = f.languages.iter().map(|l| self.str(&l.name)).collect();
        let mut var_names = Vec::new();
        for name in flow_vars(f) {
            let slot = var::FIRST_USER + var_names.len() as u16;
            st.vars.insert(name, slot);
            var_names.push(self.str(name));
        }
        let mut consents = Vec::new();
        for c in &f.consents {
            let n = self.str(&c.name.name);
            let prompt = self.prompt(
                c.prompt
                    .as_ref()
                    .or(c.notice.as_ref())
                    .map_or("", |p| p.value.as_str()),
            );
            let accept = self.str(c.accept.as_ref().map_or("1", |k| k.value.as_str()));
            let refuse = self.str(c.refuse.as_ref().map_or("2", |k| k.value.as_str()));
            let withdraw = c.withdraw.as_ref().map(|k| self.str(&k.value));
            let idx = self.p.consents.len() as u16;
            self.p.consents.push(ConsentInfo {
                name: n,
                prompt,
                accept,
                refuse,
                withdraw,
                silence_accepts: c.silence.is_some_and(|s| s.0 == ConsentAnswer::Accept),
                timeout_ms: c.timeout.map_or(CONSENT_TIMEOUT_MS, |d| d.millis),
                notice: c.notice.is_some(),
            });
            st.consents.insert(&c.name.name, idx);
            consents.push(idx);
        }
        for m in &f.menus {
            let idx = self.p.menus.len() as u16;
            let name = self.str(&m.name.name);
            // `prompt "a", "b", "c"`: a and b first, keys asked with c.
            let mut list: Vec<u32> = m
                .prompt
                .iter()
                .chain(&m.more_prompts)
                .map(|p| self.prompt(&p.value))
                .collect();
            let prompt = list.pop().unwrap_or_else(|| self.prompt(""));
            let repeat_prompt = m.repeat_prompt.as_ref().map(|p| self.prompt(&p.value));
            self.p.menus.push(MenuInfo {
                name,
                intro: list,
                prompt,
                repeat_prompt,
                timeout_ms: m.timeout.map_or(MENU_TIMEOUT_MS, |d| d.millis),
                digit_timeout_ms: m.digit_timeout.map_or(DIGIT_TIMEOUT_MS, |d| d.millis),
                retries: retries(m.retries_invalid, m.retries),
                timeout_retries: retries(m.retries_timeout, m.retries),
                counted_apart: m.retries_invalid.is_some() || m.retries_timeout.is_some(),
                max_len: 1,
                keys: Vec::new(),
                patterns: Vec::new(),
                invalid: None,
                timeout: None,
                exhausted: None,
                wait: 0,
            });
            st.menus.insert(&m.name.name, idx);
        }
        let flow_index = self.p.flows.len();
        self.p.flows.push(FlowInfo {
            name,
            numbers,
            timezone,
            country,
            languages,
            entry: 0,
            vars: var_names,
            consents,
        });
        let entry = self.here();
        self.p.flows[flow_index].entry = entry;
        if let Some(start) = &f.start {
            self.body(&mut st, start, Ctx::PLAIN);
            self.at_end(start.end);
        } else {
            self.at(f.name.span);
        }
        if !self.ended() {
            self.emit(Instr::Hangup);
        }
        for p in &f.procs {
            let entry = self.here();
            st.procs.insert(&p.name.name, entry);
            self.body(&mut st, &p.body, Ctx::PLAIN);
            self.at_end(p.body.end);
            if !self.ended() {
                self.emit(if p.kind == ProcKind::Subflow {
                    Instr::Return
                } else {
                    Instr::Hangup
                });
            }
        }
        for m in &f.menus {
            self.menu(&mut st, m);
        }
        for fx in std::mem::take(&mut st.fixups) {
            let Target::Proc(name) = &fx.target;
            let target = match st.procs.get(name.as_str()) {
                Some(&t) => t,
                None => {
                    self.gap(fx.span, format!("no block or subflow `{name}` to jump to"));
                    entry
                }
            };
            self.patch(fx.at, target);
        }
    }

    fn menu(&mut self, st: &mut FlowState<'c>, m: &'c Menu) {
        let idx = st.menus[m.name.name.as_str()];
        self.at(m.name.span);
        let wait = self.pc();
        self.emit(Instr::MenuWait(idx));
        let mut keys = Vec::new();
        let mut patterns = Vec::new();
        let mut max_len = 1;
        for arm in &m.arms {
            let target = self.here();
            self.at(arm.key.span);
            if let Ok(p) = pattern::parse_key(&arm.key.value) {
                max_len = max_len.max(p.elems.len() as u32);
                if p.is_exact() {
                    keys.push((self.str(&arm.key.value), target));
                } else {
                    patterns.push((p, target));
                }
            }
            self.body(st, &arm.body, Ctx::PLAIN);
            self.at_end(arm.body.end);
            if !self.ended() {
                self.emit(Instr::MenuExit);
            }
        }
        let handler = |l: &mut Self, st: &mut FlowState<'c>, event: &str| -> Option<Pc> {
            let h = m.handlers.iter().find(|h| h.event.name == event)?;
            let pc = l.here();
            l.body(st, &h.body, Ctx::PLAIN);
            l.at_end(h.body.end);
            if !l.ended() {
                l.emit(if event == "exhausted" {
                    Instr::MenuExit
                } else {
                    Instr::MenuRetry(idx)
                });
            }
            Some(pc)
        };
        let invalid = handler(self, st, "invalid");
        let timeout = handler(self, st, "timeout");
        let exhausted = handler(self, st, "exhausted");
        let strings = &self.p.strings;
        keys.sort_by(|a, b| strings[a.0 as usize].cmp(&strings[b.0 as usize]));
        let info = &mut self.p.menus[idx as usize];
        info.keys = keys;
        info.patterns = patterns;
        info.max_len = max_len;
        info.invalid = invalid;
        info.timeout = timeout;
        info.exhausted = exhausted;
        info.wait = wait;
    }

    fn body(&mut self, st: &mut FlowState<'c>, b: &'c Body, ctx: Ctx) {
        for s in &b.stmts {
            self.stmt(st, s, ctx);
        }
    }

    /// A handler body followed by a jump to `after` (patched by the caller); returns its start.
    fn handler(
        &mut self,
        st: &mut FlowState<'c>,
        b: &'c Body,
        ctx: Ctx,
        jumps: &mut Vec<usize>,
    ) -> Pc {
        let pc = self.here();
        self.body(st, b, ctx);
        self.at_end(b.end);
        self.jump_out(jumps);
        pc
    }

    fn stmt(&mut self, st: &mut FlowState<'c>, s: &'c Stmt, ctx: Ctx) {
        self.at(s.span);
        match &s.kind {
            StmtKind::Play {
                prompt,
                interruptible,
                early,
            } => {
                let p = self.prompt(&prompt.value);
                self.emit(Instr::Play {
                    prompt: p,
                    interruptible: *interruptible,
                    early: *early,
                });
            }
            StmtKind::Say { kind, value } => {
                self.expr(st, value);
                self.at(s.span);
                self.emit(Instr::Say {
                    digits: *kind == crate::ast::SayKind::Digits,
                });
            }
            StmtKind::Menu(name) => {
                let m = self.local(&st.menus, name, "menu");
                self.emit(Instr::MenuEnter(m));
            }
            StmtKind::Collect(c) => {
                let idx = self.p.collects.len() as u16;
                let var = self.local(&st.vars, &c.var, "variable");
                let prompt = self.prompt(c.prompt.as_ref().map_or("", |p| p.value.as_str()));
                let terminator = c.terminator.as_ref().map(|t| self.str(&t.value));
                let min_len = c.min_len.map_or(1, |m| m.value);
                let max_len = c.max_len.map_or(min_len.max(16), |m| m.value);
                self.p.collects.push(CollectInfo {
                    var,
                    prompt,
                    min_len,
                    max_len,
                    terminator,
                    timeout_ms: c.timeout.map_or(MENU_TIMEOUT_MS, |d| d.millis),
                    digit_timeout_ms: c.digit_timeout.map_or(DIGIT_TIMEOUT_MS, |d| d.millis),
                    retries: c.retries.map_or(DEFAULT_RETRIES, |r| r.value),
                    invalid: None,
                    timeout: None,
                    exhausted: None,
                    wait: 0,
                    done: 0,
                });
                self.emit(Instr::CollectEnter(idx));
                let wait = self.pc();
                self.emit(Instr::CollectWait(idx));
                let mut pcs = [None; 3];
                let mut jumps = Vec::new();
                for (i, event) in ["invalid", "timeout", "exhausted"].into_iter().enumerate() {
                    if let Some(h) = c.handlers.iter().find(|h| h.event.name == event) {
                        let pc = self.here();
                        self.body(st, &h.body, ctx);
                        self.at_end(h.body.end);
                        if event == "exhausted" {
                            self.jump_out(&mut jumps);
                        } else if !self.ended() {
                            self.emit(Instr::CollectRetry(idx));
                        }
                        pcs[i] = Some(pc);
                    }
                }
                let done = self.here();
                for j in jumps {
                    self.patch(j, done);
                }
                let info = &mut self.p.collects[idx as usize];
                info.invalid = pcs[0];
                info.timeout = pcs[1];
                info.exhausted = pcs[2];
                info.wait = wait;
                info.done = done;
            }
            StmtKind::Language(l) => {
                let i = self.str(&l.name);
                self.emit(Instr::SetLang(i));
            }
            StmtKind::If(i) => {
                let mut ends = Vec::new();
                let last = i.branches.len() - 1;
                for (n, (cond, body)) in i.branches.iter().enumerate() {
                    self.at(cond.span());
                    let mut next = Vec::new();
                    self.branch(st, cond, false, &mut next);
                    self.body(st, body, ctx);
                    self.at_end(body.end);
                    if n < last || i.otherwise.is_some() {
                        self.jump_out(&mut ends);
                    }
                    let here = self.here();
                    for j in next {
                        self.patch(j, here);
                    }
                }
                if let Some(b) = &i.otherwise {
                    self.body(st, b, ctx);
                }
                let end = self.here();
                for j in ends {
                    self.patch(j, end);
                }
            }
            StmtKind::Set { var, value } => {
                self.expr(st, value);
                self.at(s.span);
                let slot = self.local(&st.vars, var, "variable");
                self.emit(Instr::Store(slot));
            }
            StmtKind::Goto(name) => {
                let at = self.emit(Instr::Goto(0));
                st.fixups.push(Fixup {
                    at,
                    span: name.span,
                    target: Target::Proc(name.name.clone()),
                });
            }
            StmtKind::Call(name) => {
                let at = self.emit(Instr::Call(0));
                st.fixups.push(Fixup {
                    at,
                    span: name.span,
                    target: Target::Proc(name.name.clone()),
                });
            }
            StmtKind::Return => {
                self.emit(Instr::Return);
            }
            StmtKind::Route(r) => match &r.choice {
                None => self.route(st, r, &r.group, s.span),
                Some(c) => {
                    // One route per group the value may name, each behind its comparison; a
                    // value naming none of them takes `otherwise` (or goes on after).
                    let mut done = Vec::new();
                    for g in &c.among {
                        let test = Cond::Compare {
                            left: c.value.clone(),
                            op: CmpOp::Eq,
                            op_span: g.span,
                            right: Expr::Text(crate::ast::Text {
                                value: g.name.clone(),
                                span: g.span,
                            }),
                        };
                        let mut other = Vec::new();
                        self.branch(st, &test, false, &mut other);
                        self.route(st, r, g, s.span);
                        done.push(self.emit(Instr::Jump(0)));
                        let here = self.here();
                        for j in other {
                            self.patch(j, here);
                        }
                    }
                    if let Some(h) = r.handlers.iter().find(|h| h.event.name == "otherwise") {
                        self.body(st, &h.body, ctx);
                    }
                    let here = self.here();
                    for j in done {
                        self.patch(j, here);
                    }
                }
            },
            StmtKind::Transfer(e) => {
                match e {
                    Expr::Text(t) => {
                        let target = crate::numbers::normalize_in(&t.value, st.country)
                            .unwrap_or_else(|| t.value.clone());
                        let i = self.str(&target);
                        self.emit(Instr::PushStr(i));
                    }
                    other => self.expr(st, other),
                }
                self.at(s.span);
                self.emit(Instr::Transfer);
            }
            StmtKind::Voicemail { target, reason } => {
                let vbox = self.def(DefKind::Voicemail, target);
                let reason = match reason.as_ref().map(|r| r.name.as_str()) {
                    Some("busy") => Reason::Busy,
                    Some("no_answer") => Reason::NoAnswer,
                    Some("closed") => Reason::Closed,
                    None => ctx.reason,
                    Some(other) => {
                        let span = reason.as_ref().map_or(s.span, |r| r.span);
                        self.gap(span, format!("unknown voicemail reason `{other}`"));
                        ctx.reason
                    }
                };
                self.emit(Instr::Voicemail { vbox, reason });
            }
            StmtKind::Lookup { name, handlers } => {
                let lookup = self.def(DefKind::Lookup, name);
                let site = self.p.lookup_sites.len() as u16;
                self.p.lookup_sites.push(LookupSite {
                    lookup,
                    on_error: None,
                    on_not_found: None,
                    after: 0,
                });
                self.emit(Instr::Lookup(site));
                let mut jumps = vec![self.emit(Instr::Jump(0))];
                let mut on = [None, None];
                for (i, event) in ["error", "not_found"].into_iter().enumerate() {
                    if let Some(h) = handlers.iter().find(|h| h.event.name == event) {
                        on[i] = Some(self.handler(st, &h.body, ctx, &mut jumps));
                    }
                }
                let after = self.here();
                for j in jumps {
                    self.patch(j, after);
                }
                let info = &mut self.p.lookup_sites[site as usize];
                info.on_error = on[0];
                info.on_not_found = on[1];
                info.after = after;
            }
            StmtKind::Ask(name) => {
                let c = self.local(&st.consents, name, "consent");
                self.emit(Instr::Ask(c));
            }
            StmtKind::Record(spec) => {
                let c = needed_consent(st, spec);
                self.emit(Instr::Record(c, sides(spec)));
            }
            StmtKind::StopRecording => {
                self.emit(Instr::StopRecording);
            }
            StmtKind::Answer => {
                self.emit(Instr::Answer);
            }
            StmtKind::Wait(d) => {
                self.emit(Instr::Wait(d.millis.min(u64::from(u32::MAX)) as u32));
            }
            StmtKind::Hangup => {
                self.emit(Instr::Hangup);
            }
            StmtKind::Back => {
                self.emit(Instr::Back);
            }
            StmtKind::Top => {
                self.emit(Instr::Top);
            }
            StmtKind::Repeat => {
                self.emit(Instr::Repeat);
            }
        }
    }

    fn route(
        &mut self,
        st: &mut FlowState<'c>,
        r: &'c crate::ast::Route,
        group: &Ident,
        span: Span,
    ) {
        let group = self.def(DefKind::Group, group);
        let idx = self.p.routes.len() as u16;
        let require = r
            .require
            .iter()
            .map(|s| (self.str(&s.name.name), s.level.value))
            .collect();
        let sticky = match &r.sticky {
            None => Sticky::None,
            Some(AstSticky::Today(_)) => Sticky::Today,
            Some(AstSticky::For(d)) => Sticky::For(d.millis),
        };
        let record = match &r.record {
            None => RecordMode::Off,
            Some(spec) if spec.guarded => RecordMode::IfConsented,
            Some(_) => RecordMode::Always,
        };
        let record_consent = r
            .record
            .as_ref()
            .map_or(bytecode::ANY_CONSENT, |spec| needed_consent(st, spec));
        let queue = r.queue.as_ref().map(|q| {
            let music = q.music.as_ref().map(|m| self.prompt(&m.value));
            let greeting = q.greeting.as_ref().map(|m| self.prompt(&m.value));
            let announcements = q
                .announcements
                .iter()
                .map(|a| {
                    let kind = match &a.what {
                        AnnounceWhat::Position => AnnounceKind::Position {
                            up_to: a.up_to.as_ref().map_or(0, |u| u.0.value),
                            over: a
                                .up_to
                                .as_ref()
                                .and_then(|u| u.1.as_ref())
                                .map(|t| self.prompt(&t.value)),
                        },
                        AnnounceWhat::ExpectedWait => AnnounceKind::ExpectedWait {
                            step_ms: a.rounded.map_or(0, |r| r.millis),
                        },
                        AnnounceWhat::Prompt(p) => AnnounceKind::Prompt(self.prompt(&p.value)),
                    };
                    (kind, a.every.map(|d| d.millis))
                })
                .collect();
            QueueInfo {
                music,
                greeting,
                announcements,
                max_wait_ms: q.max_wait.as_ref().map(|m| m.0.millis),
                max_length: q.max_length.as_ref().map(|m| m.0.value),
                exit_keys: Vec::new(),
                on_max_wait: None,
                on_max_length: None,
                retry_ms: q.retry.as_ref().map(|r| r.millis),
                keep_place_ms: q.keep_place.as_ref().map(|r| r.millis),
                announce_gap_ms: q.announce_gap.map_or(0, |g| g.millis),
                no_agents_ms: q
                    .no_agents
                    .as_ref()
                    .and_then(|n| n.wait)
                    .map_or(0, |w| w.millis),
                on_no_agents: None,
                hours: q.hours.as_ref().map(|(h, _)| self.def(DefKind::Hours, h)),
                on_closed: None,
            }
        });
        self.p.routes.push(RouteInfo {
            group,
            sticky,
            record,
            record_sides: r.record.as_ref().map_or(bytecode::Sides::Both, sides),
            record_consent,
            require,
            queue,
            no_answer: None,
            busy: None,
            error: None,
            after: 0,
        });
        if let Some(p) = &r.priority {
            self.expr(st, p);
            self.emit(Instr::Priority);
        }
        self.at(span);
        self.emit(Instr::Route(idx));
        let mut jumps = Vec::new();
        let no_answer_ctx = Ctx {
            reason: Reason::NoAnswer,
        };
        let busy_ctx = Ctx {
            reason: Reason::Busy,
        };
        let find = |e: &str| r.handlers.iter().find(|h| h.event.name == e);
        let no_answer =
            find("no_answer").map(|h| self.handler(st, &h.body, no_answer_ctx, &mut jumps));
        let busy = find("busy").map(|h| self.handler(st, &h.body, busy_ctx, &mut jumps));
        let error = find("error").map(|h| self.handler(st, &h.body, busy_ctx, &mut jumps));
        let mut exit_keys = Vec::new();
        let (mut on_max_wait, mut on_max_length, mut on_no_agents) = (None, None, None);
        let mut on_closed = None;
        if let Some(q) = &r.queue {
            if let Some((_, Some(b))) = &q.max_wait {
                on_max_wait = Some(self.handler(st, b, no_answer_ctx, &mut jumps));
            }
            if let Some((_, Some(b))) = &q.max_length {
                on_max_length = Some(self.handler(st, b, busy_ctx, &mut jumps));
            }
            if let Some(b) = q.no_agents.as_ref().and_then(|n| n.body.as_ref()) {
                on_no_agents = Some(self.handler(st, b, no_answer_ctx, &mut jumps));
            }
            if let Some((_, Some(b))) = &q.hours {
                let closed_ctx = Ctx {
                    reason: Reason::Closed,
                };
                on_closed = Some(self.handler(st, b, closed_ctx, &mut jumps));
            }
            for k in &q.exit_keys {
                let key = self.str(&k.key.value);
                let pc = self.handler(st, &k.body, Ctx::PLAIN, &mut jumps);
                exit_keys.push((key, pc));
            }
        }
        let after = self.here();
        for j in jumps {
            self.patch(j, after);
        }
        let info = &mut self.p.routes[idx as usize];
        info.no_answer = no_answer;
        info.busy = busy;
        info.error = error;
        info.after = after;
        if let Some(q) = &mut info.queue {
            q.exit_keys = exit_keys;
            q.on_max_wait = on_max_wait;
            q.on_max_length = on_max_length;
            q.on_no_agents = on_no_agents;
            q.on_closed = on_closed;
        }
    }

    /// Pushes a value.
    fn expr(&mut self, st: &FlowState<'c>, e: &Expr) {
        self.at(e.span());
        match e {
            Expr::Text(t) => {
                let i = self.str(&t.value);
                self.emit(Instr::PushStr(i));
            }
            Expr::Number(n) => {
                self.emit(Instr::PushInt(i64::from(n.value)));
            }
            Expr::Duration(d) => {
                self.emit(Instr::PushInt(d.millis as i64));
            }
            Expr::Name(n) => {
                if n.name == "consented" {
                    self.emit(Instr::Consented(bytecode::ANY_CONSENT));
                    return;
                }
                let slot = match var::BUILTIN_NAMES.iter().position(|b| *b == n.name) {
                    Some(i) => i as u16,
                    None => self.local(&st.vars, n, "variable"),
                };
                self.emit(Instr::Load(slot));
            }
            Expr::Binary {
                op, left, right, ..
            } => {
                self.expr(st, left);
                self.expr(st, right);
                self.at(e.span());
                // The checker allowed only numbers and durations with each other, or texts.
                let text = st
                    .var_types
                    .is_some_and(|v| crate::check::flow::is_text(left, v));
                self.emit(match (op, text) {
                    (ArithOp::Add, true) => Instr::Join,
                    (ArithOp::Add, false) => Instr::Add,
                    (ArithOp::Sub, _) => Instr::Sub,
                });
            }
            Expr::Field { lookup, field } => {
                let l = self.def(DefKind::Lookup, lookup);
                let f = self.str(&field.name);
                self.emit(Instr::Field {
                    lookup: l,
                    field: f,
                });
            }
            Expr::Call { func, args, .. } => {
                let arg = args.first();
                let i = match (func.name.as_str(), arg) {
                    ("open", Some(a)) => Instr::Open(self.def(DefKind::Hours, a)),
                    ("holiday", Some(a)) => Instr::Holiday(self.def(DefKind::Holidays, a)),
                    ("switch", Some(a)) => Instr::Switch(self.def(DefKind::Switch, a)),
                    ("consented", Some(a)) => {
                        Instr::Consented(self.local(&st.consents, a, "consent"))
                    }
                    ("consented", None) => Instr::Consented(bytecode::ANY_CONSENT),
                    (f, Some(a)) => {
                        let stat = match f {
                            "agents_available" => Stat::AgentsAvailable,
                            "logged_in" => Stat::LoggedIn,
                            "queue_length" => Stat::QueueLength,
                            "waiting_time" => Stat::WaitingTime,
                            "expected_wait" => Stat::ExpectedWait,
                            other => {
                                self.gap(func.span, format!("unknown function `{other}`"));
                                Stat::ExpectedWait
                            }
                        };
                        Instr::Stat {
                            group: self.def(DefKind::Group, a),
                            stat,
                        }
                    }
                    (other, _) => {
                        self.gap(func.span, format!("`{other}` without its argument"));
                        Instr::PushBool(false)
                    }
                };
                self.emit(i);
            }
        }
    }

    /// Jumping code: jumps (recorded in `out`) when `c` equals `when`, falls through otherwise.
    fn branch(&mut self, st: &FlowState<'c>, c: &Cond, when: bool, out: &mut Vec<usize>) {
        match c {
            Cond::Not(inner, _) => self.branch(st, inner, !when, out),
            Cond::And(a, b) | Cond::Or(a, b) => {
                let is_and = matches!(c, Cond::And(..));
                if is_and != when {
                    // and/false or or/true: either side decides alone.
                    self.branch(st, a, when, out);
                    self.branch(st, b, when, out);
                } else {
                    let mut skip = Vec::new();
                    self.branch(st, a, !when, &mut skip);
                    self.branch(st, b, when, out);
                    let here = self.here();
                    for j in skip {
                        self.patch(j, here);
                    }
                }
            }
            leaf => {
                self.value(st, leaf);
                self.at(leaf.span());
                out.push(self.emit(if when {
                    Instr::JumpIf(0)
                } else {
                    Instr::JumpIfNot(0)
                }));
            }
        }
    }

    /// Pushes the boolean value of a leaf condition.
    fn value(&mut self, st: &FlowState<'c>, c: &Cond) {
        match c {
            Cond::Compare {
                left, op, right, ..
            } => {
                self.expr(st, left);
                let instr = match op {
                    CmpOp::Matches => {
                        let p = match right {
                            Expr::Text(t) => pattern::parse_number(&t.value).ok(),
                            _ => None,
                        };
                        let p = p.unwrap_or_else(|| {
                            self.gap(c.span(), "a number pattern that does not parse".into());
                            pattern::Pattern {
                                elems: Vec::new(),
                                rest: false,
                            }
                        });
                        let idx = self.p.patterns.len() as u32;
                        self.p.patterns.push(p);
                        self.emit(Instr::Matches(idx));
                        return;
                    }
                    CmpOp::StartsWith => Instr::StartsWith,
                    CmpOp::Eq => Instr::Cmp(bytecode::Cmp::Eq),
                    CmpOp::Ne => Instr::Cmp(bytecode::Cmp::Ne),
                    CmpOp::Lt => Instr::Cmp(bytecode::Cmp::Lt),
                    CmpOp::Le => Instr::Cmp(bytecode::Cmp::Le),
                    CmpOp::Gt => Instr::Cmp(bytecode::Cmp::Gt),
                    CmpOp::Ge => Instr::Cmp(bytecode::Cmp::Ge),
                };
                self.expr(st, right);
                self.at(c.span());
                self.emit(instr);
            }
            Cond::In { left, list, .. } => {
                self.expr(st, left);
                let set = list
                    .iter()
                    .map(|e| match e {
                        Expr::Number(n) => Const::Int(i64::from(n.value)),
                        Expr::Duration(d) => Const::Int(d.millis as i64),
                        Expr::Text(t) => Const::Str(self.str(&t.value)),
                        other => {
                            Const::Str(self.str(self.checked.project.sources.slice(other.span())))
                        }
                    })
                    .collect();
                let idx = self.p.sets.len() as u32;
                self.p.sets.push(set);
                self.emit(Instr::In(idx));
            }
            Cond::Anonymous(_) => {
                self.emit(Instr::Anonymous);
            }
            Cond::Test(e) => {
                self.expr(st, e);
                // A count (or a number variable, or a sum) used as a condition means "more than
                // zero"; the yes/no checks are conditions themselves.
                let yes_no = match e {
                    Expr::Call { func, .. } => {
                        matches!(
                            func.name.as_str(),
                            "open" | "holiday" | "switch" | "consented"
                        )
                    }
                    Expr::Name(n) => n.name == "consented",
                    _ => false,
                };
                if matches!(e, Expr::Call { .. }) && !yes_no {
                    // A count: never negative.
                    self.emit(Instr::PushInt(0));
                    self.emit(Instr::Cmp(bytecode::Cmp::Gt));
                } else if !yes_no {
                    // A number (a variable not set yet is 0): true when it is not zero.
                    self.emit(Instr::PushInt(0));
                    self.emit(Instr::Add);
                    self.emit(Instr::PushInt(0));
                    self.emit(Instr::Cmp(bytecode::Cmp::Ne));
                }
            }
            Cond::And(..) | Cond::Or(..) | Cond::Not(..) => {
                // Not reached: `branch` handles these; materialise via jumps for completeness.
                let mut t = Vec::new();
                self.branch(st, c, true, &mut t);
                self.emit(Instr::PushBool(false));
                let j = self.emit(Instr::Jump(0));
                let here = self.here();
                for x in t {
                    self.patch(x, here);
                }
                self.emit(Instr::PushBool(true));
                let end = self.here();
                self.patch(j, end);
            }
        }
    }
}

/// The variables of a flow in the order they first appear (set or collect).
fn flow_vars(f: &Flow) -> Vec<&str> {
    fn walk<'a>(b: &'a Body, out: &mut Vec<&'a str>) {
        for s in &b.stmts {
            match &s.kind {
                StmtKind::Set { var, .. } => push(out, &var.name),
                StmtKind::Collect(c) => push(out, &c.var.name),
                _ => {}
            }
            crate::check::flow::for_each_body(s, |b| walk(b, out));
        }
    }
    fn push<'a>(out: &mut Vec<&'a str>, n: &'a str) {
        if !out.contains(&n) && !var::BUILTIN_NAMES.contains(&n) {
            out.push(n);
        }
    }
    let mut out = Vec::new();
    if let Some(s) = &f.start {
        walk(s, &mut out);
    }
    for p in &f.procs {
        walk(&p.body, &mut out);
    }
    for m in &f.menus {
        for a in &m.arms {
            walk(&a.body, &mut out);
        }
        for h in &m.handlers {
            walk(&h.body, &mut out);
        }
    }
    out
}

/// The consent a recording needs (as the checker proves it): the one it names, else the flow's
/// only one, else none ([`bytecode::ANY_CONSENT`]: nothing can be given, so nothing records).
/// What a `record` records (`both` unless it says).
fn sides(spec: &crate::ast::RecordSpec) -> bytecode::Sides {
    match spec.sides.as_ref().map(|s| s.name.as_str()) {
        Some("caller") => bytecode::Sides::Caller,
        Some("agent") => bytecode::Sides::Agent,
        _ => bytecode::Sides::Both,
    }
}

fn needed_consent(st: &FlowState, spec: &crate::ast::RecordSpec) -> u16 {
    match &spec.consent {
        Some(n) => st
            .consents
            .get(n.name.as_str())
            .copied()
            .unwrap_or(bytecode::ANY_CONSENT),
        None if st.consents.len() == 1 => st
            .consents
            .values()
            .next()
            .copied()
            .unwrap_or(bytecode::ANY_CONSENT),
        None => bytecode::ANY_CONSENT,
    }
}

/// A menu's limit for one kind of failed try: its own setting, else `retries N`, else the
/// default; `unlimited` is `u32::MAX`.
fn retries(own: Option<crate::ast::Retries>, both: Option<crate::ast::Count>) -> u32 {
    match own {
        Some(crate::ast::Retries::Times(n)) => n.value,
        Some(crate::ast::Retries::Unlimited(_)) => u32::MAX,
        None => both.map_or(DEFAULT_RETRIES, |r| r.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Project;
    use std::path::Path;

    /// A project whose errors are hidden from `lower`, as a checker gap would: lowering must
    /// report an internal error at the name, not compile menu 0 or variable `key` instead.
    #[test]
    fn names_the_checker_let_through_are_internal_errors_not_guesses() {
        let mut p = Project::new();
        let text = "flow f { numbers \"200\"\n start { menu nowhere\n if nothing == \"1\" { hangup }\n ask nobody\n goto never } }";
        p.add_file(Path::new("t.flow"), text.to_string(), true);
        let mut checked = crate::check(&p);
        assert!(
            !checked.diags.list.is_empty(),
            "the checker sees the mistakes"
        );
        checked.diags.list.clear();
        let Err(LowerError::Internal(gaps)) = lower(&checked) else {
            panic!("lowering must refuse");
        };
        let said: Vec<&str> = gaps.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            said,
            vec![
                "internal compiler error: no menu `nowhere` in this flow",
                "internal compiler error: no variable `nothing` in this flow",
                "internal compiler error: no consent `nobody` in this flow",
                "internal compiler error: no block or subflow `never` to jump to",
            ]
        );
        assert!(gaps.iter().all(|d| d.code == codes::INTERNAL));
    }
}
