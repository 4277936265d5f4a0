//! The verifier: proves a `Program` safe to run before any call executes it — every pool
//! index and jump target in range, every table consistent, the operand stack balanced (same
//! depth on every path, empty at every effect, never deeper than `MAX_STACK`), no path
//! running off the end of the code, and each flow's code using only that flow's variables and
//! consents (a recording always names a consent of its flow). A program that fails here is
//! never run; for a program the compiler just produced, a failure is a compiler bug.

use super::{ANY_CONSENT, Const, Instr, Pc, Program, WEEK_WORDS, var};
use std::fmt;

/// Deepest operand stack any instruction sequence may build.
pub const MAX_STACK: u8 = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// The instruction (or table) at fault.
    pub at: String,
    pub problem: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.problem)
    }
}

impl std::error::Error for VerifyError {}

struct V<'p> {
    p: &'p Program,
    at: String,
}

type R = Result<(), VerifyError>;

impl V<'_> {
    fn fail(&self, problem: String) -> R {
        Err(VerifyError {
            at: self.at.clone(),
            problem,
        })
    }

    fn idx(&self, what: &str, i: usize, len: usize) -> R {
        if i < len {
            Ok(())
        } else {
            self.fail(format!("{what} {i} out of range (there are {len})"))
        }
    }

    fn s(&self, i: u32) -> R {
        self.idx("string", i as usize, self.p.strings.len())
    }

    fn opt_s(&self, i: Option<u32>) -> R {
        i.map_or(Ok(()), |i| self.s(i))
    }

    fn pc(&self, pc: Pc) -> R {
        self.idx("jump target", pc as usize, self.p.code.len())
    }

    fn opt_pc(&self, pc: Option<Pc>) -> R {
        pc.map_or(Ok(()), |pc| self.pc(pc))
    }

    fn prompt(&self, i: u32) -> R {
        self.idx("prompt", i as usize, self.p.prompts.len())
    }
}

/// Checks `p`; `Ok` means the VM can run it without index or stack faults.
pub fn verify(p: &Program) -> Result<(), VerifyError> {
    let mut v = V {
        p,
        at: "program".into(),
    };
    if p.debug.len() != p.code.len() {
        return v.fail(format!(
            "{} debug entries for {} instructions",
            p.debug.len(),
            p.code.len()
        ));
    }
    if p.code.len() > u32::MAX as usize / 2 {
        return v.fail("the code is too large".into());
    }
    tables(&mut v)?;
    let max_var = max_var(p);
    for (pc, i) in p.code.iter().enumerate() {
        v.at = format!("instruction {pc} ({i:?})");
        operands(&v, *i, max_var)?;
        let d = p.debug[pc];
        v.idx("debug file", d.file as usize, p.files.len().max(1))?;
    }
    stack(&mut v)?;
    flows(&mut v)
}

/// The code each flow can reach from its entry: straight-line successors, calls and gotos, and
/// the continuations of the menus, collects, routes and lookups it uses. No instruction
/// belongs to two flows.
fn owners(v: &mut V) -> Result<Vec<Option<u16>>, VerifyError> {
    let p = v.p;
    let mut owner: Vec<Option<u16>> = vec![None; p.code.len()];
    for (f, info) in p.flows.iter().enumerate() {
        let mut work = vec![info.entry];
        while let Some(pc) = work.pop() {
            let Some(&i) = p.code.get(pc as usize) else {
                continue;
            };
            match owner[pc as usize] {
                Some(o) if o == f as u16 => continue,
                Some(o) => {
                    v.at = format!("instruction {pc}");
                    return v
                        .fail(format!("reached from flow {o} and flow {f}"))
                        .map(|_| Vec::new());
                }
                None => owner[pc as usize] = Some(f as u16),
            }
            work.extend(successors(pc, i).into_iter().flatten());
            match i {
                Instr::MenuEnter(m) | Instr::MenuWait(m) | Instr::MenuRetry(m) => {
                    if let Some(m) = p.menus.get(m as usize) {
                        work.push(m.wait);
                        work.extend(m.keys.iter().map(|k| k.1));
                        work.extend(m.patterns.iter().map(|k| k.1));
                        work.extend(m.invalid.iter().chain(&m.timeout).chain(&m.exhausted));
                    }
                    if let Instr::MenuEnter(_) = i {
                        work.push(pc + 1);
                    }
                }
                Instr::CollectEnter(c) | Instr::CollectWait(c) | Instr::CollectRetry(c) => {
                    if let Some(c) = p.collects.get(c as usize) {
                        work.extend([c.wait, c.done]);
                        work.extend(c.invalid.iter().chain(&c.timeout).chain(&c.exhausted));
                    }
                }
                Instr::Route(r) => {
                    if let Some(r) = p.routes.get(r as usize) {
                        work.push(r.after);
                        work.extend(r.handlers().map(|h| h.1));
                        if let Some(q) = &r.queue {
                            work.extend(q.exit_keys.iter().map(|k| k.1));
                        }
                    }
                }
                Instr::Lookup(s) => {
                    if let Some(s) = p.lookup_sites.get(s as usize) {
                        work.push(s.after);
                        work.extend(s.on_error.iter().chain(&s.on_not_found));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(owner)
}

/// Each flow's code touches only its own variables and consents; recordings name a consent of
/// the flow (or, in a flow without consents, none — and never record).
fn flows(v: &mut V) -> R {
    let p = v.p;
    let owner = owners(v)?;
    for (pc, (&i, o)) in p.code.iter().zip(&owner).enumerate() {
        let Some(f) = o.map(|f| &p.flows[f as usize]) else {
            continue;
        };
        v.at = format!("instruction {pc} ({i:?})");
        let vars = var::FIRST_USER as usize + f.vars.len();
        let own = |c: u16| f.consents.contains(&c);
        let recording_consent = |c: u16| {
            if f.consents.is_empty() {
                c == ANY_CONSENT
            } else {
                own(c)
            }
        };
        match i {
            Instr::Load(slot) | Instr::Store(slot) if slot as usize >= vars => {
                return v.fail(format!("variable {slot}, but the flow has {vars}"));
            }
            Instr::CollectEnter(c) | Instr::CollectWait(c) | Instr::CollectRetry(c)
                if p.collects[c as usize].var as usize >= vars =>
            {
                return v.fail("collects into a variable the flow does not have".into());
            }
            Instr::Ask(c) if !own(c) => {
                return v.fail(format!("asks consent {c}, which is not the flow's"));
            }
            Instr::Consented(c) if c != ANY_CONSENT && !own(c) => {
                return v.fail(format!("checks consent {c}, which is not the flow's"));
            }
            Instr::Record(c, _) if !recording_consent(c) => {
                return v.fail(format!(
                    "records with consent {c}, which is not one of the flow's consents"
                ));
            }
            Instr::Route(r) => {
                let r = &p.routes[r as usize];
                if r.record != super::RecordMode::Off && !recording_consent(r.record_consent) {
                    return v.fail(format!(
                        "records the conversation with consent {}, which is not one of the flow's",
                        r.record_consent
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn operands(v: &V, i: Instr, max_var: usize) -> R {
    let p = v.p;
    match i {
        Instr::PushStr(s) | Instr::SetLang(s) => v.s(s),
        Instr::Load(slot) | Instr::Store(slot) => v.idx("variable", slot as usize, max_var),
        Instr::Field { lookup, field } => {
            v.idx("lookup", lookup as usize, p.lookups.len())?;
            v.s(field)
        }
        Instr::Open(h) => v.idx("hours", h as usize, p.hours.len()),
        Instr::Holiday(c) => v.idx("calendar", c as usize, p.calendars.len()),
        Instr::Switch(s) => v.idx("switch", s as usize, p.switches.len()),
        Instr::Consented(c) if c != ANY_CONSENT => v.idx("consent", c as usize, p.consents.len()),
        Instr::Stat { group, .. } => v.idx("group", group as usize, p.groups.len()),
        Instr::Matches(i) => v.idx("pattern", i as usize, p.patterns.len()),
        Instr::In(i) => v.idx("set", i as usize, p.sets.len()),
        Instr::Jump(t)
        | Instr::JumpIf(t)
        | Instr::JumpIfNot(t)
        | Instr::Call(t)
        | Instr::Goto(t) => v.pc(t),
        Instr::Play { prompt, .. } => v.prompt(prompt),
        Instr::MenuEnter(m) | Instr::MenuWait(m) | Instr::MenuRetry(m) => {
            v.idx("menu", m as usize, p.menus.len())
        }
        Instr::CollectEnter(c) | Instr::CollectWait(c) | Instr::CollectRetry(c) => {
            v.idx("collect", c as usize, p.collects.len())
        }
        Instr::Route(r) => v.idx("route", r as usize, p.routes.len()),
        Instr::Voicemail { vbox, .. } => v.idx("voicemail box", vbox as usize, p.boxes.len()),
        Instr::Lookup(s) => v.idx("lookup site", s as usize, p.lookup_sites.len()),
        Instr::Ask(c) => v.idx("consent", c as usize, p.consents.len()),
        _ => Ok(()),
    }
}

fn tables(v: &mut V) -> R {
    let p = v.p;
    for (i, f) in p.files.iter().enumerate() {
        v.at = format!("debug file {i}");
        if f.name.is_empty() && !f.text.is_empty() {
            return v.fail("a source text without a name".into());
        }
    }
    for (i, f) in p.flows.iter().enumerate() {
        v.at = format!("flow {i}");
        v.s(f.name)?;
        v.pc(f.entry)?;
        v.opt_s(f.timezone)?;
        f.numbers
            .iter()
            .chain(&f.languages)
            .chain(&f.vars)
            .try_for_each(|&s| v.s(s))?;
        f.consents
            .iter()
            .try_for_each(|&c| v.idx("consent", c as usize, p.consents.len()))?;
        if f.vars.len() > 4096 {
            return v.fail("more than 4096 variables".into());
        }
    }
    for (i, pr) in p.prompts.iter().enumerate() {
        v.at = format!("prompt {i}");
        v.s(pr.name)?;
        for (l, f) in &pr.files {
            v.opt_s(*l)?;
            v.s(*f)?;
        }
    }
    for (i, h) in p.hours.iter().enumerate() {
        v.at = format!("hours {i}");
        v.s(h.name)?;
        if h.week.len() != WEEK_WORDS {
            return v.fail(format!(
                "week table of {} words, expected {WEEK_WORDS}",
                h.week.len()
            ));
        }
        for (_, ws) in &h.special {
            if ws.iter().any(|&(a, b)| a > 1440 || b > 1440) {
                return v.fail("special-day window beyond 24:00".into());
            }
        }
        if h.special.windows(2).any(|w| w[0].0 >= w[1].0) {
            return v.fail("special days not sorted".into());
        }
        h.closed_on
            .iter()
            .try_for_each(|&c| v.idx("calendar", c as usize, p.calendars.len()))?;
    }
    for (i, c) in p.calendars.iter().enumerate() {
        v.at = format!("calendar {i}");
        v.s(c.name)?;
        if c.days.windows(2).any(|w| w[0].0 >= w[1].0) {
            return v.fail("days not sorted".into());
        }
        c.days.iter().try_for_each(|d| v.opt_s(d.1))?;
    }
    for (i, s) in p.switches.iter().enumerate() {
        v.at = format!("switch {i}");
        v.s(s.name)?;
    }
    for (i, a) in p.agents.iter().enumerate() {
        v.at = format!("agent {i}");
        v.s(a.name)?;
        v.s(a.contact)?;
        v.opt_s(a.display)?;
        a.skills.iter().try_for_each(|s| v.s(s.0))?;
    }
    for (i, g) in p.groups.iter().enumerate() {
        v.at = format!("group {i}");
        v.s(g.name)?;
        g.members
            .iter()
            .try_for_each(|m| v.idx("agent", m.0 as usize, p.agents.len()))?;
        g.require.iter().try_for_each(|s| v.s(s.0))?;
    }
    for (i, b) in p.boxes.iter().enumerate() {
        v.at = format!("voicemail box {i}");
        v.s(b.name)?;
        v.opt_s(b.email)?;
        b.greetings
            .iter()
            .flatten()
            .try_for_each(|&g| v.prompt(g))?;
    }
    for (i, l) in p.lookups.iter().enumerate() {
        v.at = format!("lookup {i}");
        v.s(l.name)?;
        v.s(l.url)?;
        l.fields.iter().try_for_each(|&f| v.s(f))?;
    }
    for (i, l) in p.lookup_sites.iter().enumerate() {
        v.at = format!("lookup site {i}");
        v.idx("lookup", l.lookup as usize, p.lookups.len())?;
        v.opt_pc(l.on_error)?;
        v.opt_pc(l.on_not_found)?;
        v.pc(l.after)?;
    }
    for (i, c) in p.consents.iter().enumerate() {
        v.at = format!("consent {i}");
        v.s(c.name)?;
        v.prompt(c.prompt)?;
        v.s(c.accept)?;
        v.s(c.refuse)?;
        v.opt_s(c.withdraw)?;
    }
    for (i, m) in p.menus.iter().enumerate() {
        v.at = format!("menu {i}");
        v.s(m.name)?;
        v.prompt(m.prompt)?;
        m.intro.iter().try_for_each(|&i| v.prompt(i))?;
        if let Some(r) = m.repeat_prompt {
            v.prompt(r)?;
        }
        for &(k, pc) in &m.keys {
            v.s(k)?;
            v.pc(pc)?;
        }
        if m.keys.windows(2).any(|w| p.str(w[0].0) >= p.str(w[1].0)) {
            return v.fail("exact keys not sorted".into());
        }
        for (pat, pc) in &m.patterns {
            if pat.elems.len() > 64 {
                return v.fail("a key pattern longer than 64".into());
            }
            v.pc(*pc)?;
        }
        if m.max_len == 0 || m.max_len > 64 {
            return v.fail(format!("menu key length {}", m.max_len));
        }
        v.opt_pc(m.invalid)?;
        v.opt_pc(m.timeout)?;
        v.opt_pc(m.exhausted)?;
        v.pc(m.wait)?;
    }
    let max_var = max_var(p);
    for (i, c) in p.collects.iter().enumerate() {
        v.at = format!("collect {i}");
        v.idx("variable", c.var as usize, max_var)?;
        v.prompt(c.prompt)?;
        v.opt_s(c.terminator)?;
        if c.min_len > c.max_len || c.max_len == 0 || c.max_len > 64 {
            return v.fail(format!("digit count {}..{}", c.min_len, c.max_len));
        }
        v.opt_pc(c.invalid)?;
        v.opt_pc(c.timeout)?;
        v.opt_pc(c.exhausted)?;
        v.pc(c.wait)?;
        v.pc(c.done)?;
    }
    for (i, r) in p.routes.iter().enumerate() {
        v.at = format!("route {i}");
        v.idx("group", r.group as usize, p.groups.len())?;
        r.require.iter().try_for_each(|s| v.s(s.0))?;
        r.handlers().try_for_each(|(_, pc)| v.pc(pc))?;
        v.pc(r.after)?;
        if let Some(q) = &r.queue {
            q.music
                .iter()
                .chain(&q.greeting)
                .try_for_each(|&m| v.prompt(m))?;
            for (kind, _) in &q.announcements {
                if let super::AnnounceKind::Prompt(pr)
                | super::AnnounceKind::Position { over: Some(pr), .. } = kind
                {
                    v.prompt(*pr)?;
                }
            }
            for &(k, pc) in &q.exit_keys {
                v.s(k)?;
                v.pc(pc)?;
            }
            if let Some(h) = q.hours {
                v.idx("hours", h as usize, p.hours.len())?;
            }
        }
    }
    for (i, set) in p.sets.iter().enumerate() {
        v.at = format!("set {i}");
        for c in set {
            if let Const::Str(s) = c {
                v.s(*s)?;
            }
        }
    }
    for (i, pat) in p.patterns.iter().enumerate() {
        v.at = format!("pattern {i}");
        if pat.elems.len() > 64 {
            return v.fail("a number pattern longer than 64".into());
        }
    }
    Ok(())
}

/// The variable slots a program may use: the built-ins and the largest flow's variables (the VM
/// bounds-checks against the running flow's own count).
fn max_var(p: &Program) -> usize {
    var::FIRST_USER as usize + p.flows.iter().map(|f| f.vars.len()).max().unwrap_or(0)
}

/// (pops, pushes) of an instruction.
fn effect(i: Instr) -> (u8, u8) {
    match i {
        Instr::PushBool(_)
        | Instr::PushInt(_)
        | Instr::PushStr(_)
        | Instr::Load(_)
        | Instr::Field { .. }
        | Instr::Open(_)
        | Instr::Holiday(_)
        | Instr::Switch(_)
        | Instr::Consented(_)
        | Instr::Stat { .. }
        | Instr::Anonymous => (0, 1),
        Instr::Cmp(_) | Instr::StartsWith | Instr::Add | Instr::Sub | Instr::Join => (2, 1),
        Instr::Matches(_) | Instr::In(_) | Instr::Not => (1, 1),
        Instr::JumpIf(_)
        | Instr::JumpIfNot(_)
        | Instr::Store(_)
        | Instr::Priority
        | Instr::Say { .. }
        | Instr::Transfer => (1, 0),
        _ => (0, 0),
    }
}

/// Straight-line successors (table continuations are separate entry points).
fn successors(pc: Pc, i: Instr) -> [Option<Pc>; 2] {
    let next = Some(pc + 1);
    match i {
        Instr::Jump(t) => [Some(t), None],
        Instr::JumpIf(t) | Instr::JumpIfNot(t) => [Some(t), next],
        Instr::Call(t) => [Some(t), next],
        Instr::Goto(t) => [Some(t), None],
        Instr::Return
        | Instr::Transfer
        | Instr::Hangup
        | Instr::Voicemail { .. }
        | Instr::MenuEnter(_)
        | Instr::MenuWait(_)
        | Instr::MenuRetry(_)
        | Instr::MenuExit
        | Instr::Back
        | Instr::Top
        | Instr::Repeat
        | Instr::CollectWait(_)
        | Instr::CollectRetry(_)
        | Instr::Route(_) => [None, None],
        _ => [next, None],
    }
}

fn stack(v: &mut V) -> R {
    let p = v.p;
    let n = p.code.len();
    let mut depth: Vec<Option<u8>> = vec![None; n];
    let mut work: Vec<(Pc, u8)> = Vec::new();
    let mut entries: Vec<Pc> = p.flows.iter().map(|f| f.entry).collect();
    entries.extend(p.continuations());
    for (pc, i) in p.code.iter().enumerate() {
        if let Instr::MenuEnter(m) = i {
            // MenuExit continues after the entering instruction.
            let _ = m;
            if pc + 1 < n {
                entries.push(pc as Pc + 1);
            }
        }
    }
    work.extend(entries.into_iter().map(|e| (e, 0)));
    while let Some((pc, d)) = work.pop() {
        v.at = format!("instruction {pc}");
        let Some(&i) = p.code.get(pc as usize) else {
            return v.fail("a path runs past the end of the code".into());
        };
        match depth[pc as usize] {
            Some(prev) if prev == d => continue,
            Some(prev) => {
                return v.fail(format!(
                    "operand stack depth {d} here on one path and {prev} on another"
                ));
            }
            None => depth[pc as usize] = Some(d),
        }
        let (pops, pushes) = effect(i);
        if d < pops {
            return v.fail(format!("{i:?} needs {pops} operand(s), the stack has {d}"));
        }
        let after = d - pops + pushes;
        if after > MAX_STACK {
            return v.fail(format!("operand stack deeper than {MAX_STACK}"));
        }
        if !i.is_pure() && after != 0 {
            return v.fail(format!(
                "{i:?} is reached with {after} value(s) left on the stack"
            ));
        }
        let succ = successors(pc, i);
        for s in succ.into_iter().flatten() {
            if s as usize >= n {
                return v.fail("a path runs past the end of the code".into());
            }
            work.push((s, after));
        }
    }
    Ok(())
}

#[cfg(all(test, feature = "check"))]
mod tests {
    use super::*;
    use crate::Project;
    use std::path::Path;

    fn compile(text: &str) -> Program {
        let mut p = Project::new();
        p.add_file(Path::new("t.flow"), text.to_string(), true);
        crate::lower::lower(&crate::check(&p)).expect("compiles")
    }

    const TWO_FLOWS: &str = r#"
agent ann { contact "sip:ann@pbx" }
group g { members ann }
flow a {
    numbers "200"
    start {
        ask rec
        set x = "1"
        if consented(rec) { record }
        route g { record if consented; busy => hangup }
    }
    consent rec { prompt "p" accept "1" refuse "2" silence means refuse }
}
flow b {
    numbers "300"
    start {
        set y = "1"
        set z = "2"
        ask other
        hangup
    }
    consent other { prompt "p" accept "1" refuse "2" silence means refuse }
}
"#;

    fn find(p: &Program, f: impl Fn(&Instr) -> bool) -> usize {
        p.code.iter().position(f).expect("the instruction is there")
    }

    #[test]
    fn each_flow_uses_only_its_own_variables_and_consents() {
        let good = compile(TWO_FLOWS);
        verify(&good).unwrap();
        let rec = good.flows[0].consents[0];
        let other = good.flows[1].consents[0];

        // A recording with "any consent" in a flow that has consents.
        let mut p = good.clone();
        let at = find(&p, |i| matches!(i, Instr::Record(..)));
        p.code[at] = Instr::Record(ANY_CONSENT, crate::bytecode::Sides::Both);
        assert!(
            verify(&p)
                .unwrap_err()
                .problem
                .contains("records with consent")
        );

        // A route recording on another flow's consent.
        let mut p = good.clone();
        p.routes[0].record_consent = other;
        assert!(
            verify(&p)
                .unwrap_err()
                .problem
                .contains("records the conversation")
        );

        // Asking another flow's consent.
        let mut p = good.clone();
        let at = find(&p, |i| *i == Instr::Ask(rec));
        p.code[at] = Instr::Ask(other);
        assert!(verify(&p).unwrap_err().problem.contains("not the flow's"));

        // Flow a has one variable; flow b has two: slot 5 exists only in b.
        let mut p = good.clone();
        let at = find(&p, |i| matches!(i, Instr::Store(_)));
        p.code[at] = Instr::Store(var::FIRST_USER + 1);
        assert!(verify(&p).unwrap_err().problem.contains("variable 5"));
    }
}
