//! Human-readable bytecode: every instruction with its operands resolved to names, labels for
//! the entry points (flows, menus, keys, handlers, subflows), the source line each run of
//! instructions came from, and the tables (menus, routes, hours, calendars, groups).

use super::{AnnounceKind, Const, Instr, Pc, Program, Reason, Sticky, var};
use std::collections::BTreeMap;
use std::fmt::Write;

fn labels(p: &Program) -> BTreeMap<Pc, Vec<String>> {
    let mut l: BTreeMap<Pc, Vec<String>> = BTreeMap::new();
    let mut add = |pc: Pc, s: String| l.entry(pc).or_default().push(s);
    for f in &p.flows {
        add(f.entry, format!("flow {}", p.str(f.name)));
    }
    for m in &p.menus {
        let name = p.str(m.name);
        add(m.wait, format!("menu {name}"));
        for &(k, pc) in &m.keys {
            add(pc, format!("menu {name}: key \"{}\"", p.str(k)));
        }
        for (pat, pc) in &m.patterns {
            add(
                *pc,
                format!("menu {name}: pattern of {} keys", pat.elems.len()),
            );
        }
        for (what, pc) in [
            ("invalid", m.invalid),
            ("timeout", m.timeout),
            ("exhausted", m.exhausted),
        ] {
            if let Some(pc) = pc {
                add(pc, format!("menu {name}: {what}"));
            }
        }
    }
    for (i, c) in p.collects.iter().enumerate() {
        for (what, pc) in [
            ("invalid", c.invalid),
            ("timeout", c.timeout),
            ("exhausted", c.exhausted),
        ] {
            if let Some(pc) = pc {
                add(pc, format!("collect {i}: {what}"));
            }
        }
        add(c.done, format!("collect {i}: done"));
    }
    for (i, r) in p.routes.iter().enumerate() {
        let g = p.str(p.groups.get(r.group as usize).map_or(0, |g| g.name));
        for (what, pc) in r.handlers() {
            add(pc, format!("route {i} ({g}): {what}"));
        }
        if let Some(q) = &r.queue {
            for &(k, pc) in &q.exit_keys {
                add(pc, format!("route {i} ({g}): key \"{}\"", p.str(k)));
            }
        }
        add(r.after, format!("route {i}: after"));
    }
    for (i, s) in p.lookup_sites.iter().enumerate() {
        for (what, pc) in [("error", s.on_error), ("not_found", s.on_not_found)] {
            if let Some(pc) = pc {
                add(pc, format!("lookup {i}: {what}"));
            }
        }
    }
    for i in &p.code {
        match i {
            Instr::Call(t) => add(*t, "subflow".into()),
            Instr::Goto(t) => add(*t, "block".into()),
            _ => {}
        }
    }
    for v in l.values_mut() {
        v.dedup();
    }
    l
}

fn name_of<T>(p: &Program, pool: &[T], i: usize, name: impl Fn(&T) -> u32) -> String {
    pool.get(i)
        .map_or_else(|| format!("#{i}?"), |x| p.str(name(x)).to_string())
}

fn operands(p: &Program, i: Instr, vars: &[u32]) -> String {
    let var_name = |slot: u16| -> String {
        match slot {
            s if s < var::FIRST_USER => var::BUILTIN_NAMES[s as usize].to_string(),
            s => vars
                .get((s - var::FIRST_USER) as usize)
                .map_or_else(|| format!("${s}"), |n| p.str(*n).to_string()),
        }
    };
    match i {
        Instr::PushBool(b) => b.to_string(),
        Instr::PushInt(n) => n.to_string(),
        Instr::PushStr(s) | Instr::SetLang(s) => format!("{:?}", p.str(s)),
        Instr::Load(s) | Instr::Store(s) => var_name(s),
        Instr::Field { lookup, field } => format!(
            "{}.{}",
            name_of(p, &p.lookups, lookup as usize, |l| l.name),
            p.str(field)
        ),
        Instr::Open(h) => name_of(p, &p.hours, h as usize, |h| h.name),
        Instr::Holiday(c) => name_of(p, &p.calendars, c as usize, |c| c.name),
        Instr::Switch(s) => name_of(p, &p.switches, s as usize, |s| s.name),
        Instr::Consented(c) if c == super::ANY_CONSENT => "(any)".into(),
        Instr::Consented(c) | Instr::Ask(c) => name_of(p, &p.consents, c as usize, |c| c.name),
        Instr::Stat { group, stat } => format!(
            "{}({})",
            stat.name(),
            name_of(p, &p.groups, group as usize, |g| g.name)
        ),
        Instr::Cmp(c) => format!("{c:?}").to_lowercase(),
        Instr::Matches(i) => p.patterns.get(i as usize).map_or_else(
            || "?".into(),
            |pat| {
                format!(
                    "pattern #{i} ({} digits{})",
                    pat.elems.len(),
                    if pat.rest { " or more" } else { "" }
                )
            },
        ),
        Instr::In(i) => {
            let items: Vec<String> = p.sets.get(i as usize).map_or_else(Vec::new, |s| {
                s.iter()
                    .map(|c| match c {
                        Const::Str(s) => format!("{:?}", p.str(*s)),
                        Const::Int(n) => n.to_string(),
                    })
                    .collect()
            });
            format!("({})", items.join(", "))
        }
        Instr::Jump(t)
        | Instr::JumpIf(t)
        | Instr::JumpIfNot(t)
        | Instr::Call(t)
        | Instr::Goto(t) => format!("-> {t}"),
        Instr::Play {
            prompt,
            interruptible,
            early,
        } => {
            let n = name_of(p, &p.prompts, prompt as usize, |x| x.name);
            format!(
                "{n:?}{}{}",
                if interruptible {
                    ""
                } else {
                    " uninterruptible"
                },
                if early { " early" } else { "" }
            )
        }
        Instr::Say { digits } => {
            if digits {
                "digits".into()
            } else {
                "number".into()
            }
        }
        Instr::MenuEnter(m) | Instr::MenuWait(m) | Instr::MenuRetry(m) => {
            name_of(p, &p.menus, m as usize, |m| m.name)
        }
        Instr::CollectEnter(c) | Instr::CollectWait(c) | Instr::CollectRetry(c) => {
            format!(
                "#{c} into {}",
                p.collects
                    .get(c as usize)
                    .map_or_else(|| "?".into(), |x| var_name(x.var))
            )
        }
        Instr::Route(r) => format!(
            "#{r} {}",
            p.routes.get(r as usize).map_or_else(
                || "?".into(),
                |r| name_of(p, &p.groups, r.group as usize, |g| g.name)
            )
        ),
        Instr::Voicemail { vbox, reason } => {
            let n = name_of(p, &p.boxes, vbox as usize, |b| b.name);
            if reason == Reason::Default {
                n
            } else {
                format!("{n} ({})", reason.name())
            }
        }
        Instr::Lookup(s) => format!(
            "#{s} {}",
            p.lookup_sites.get(s as usize).map_or_else(
                || "?".into(),
                |s| name_of(p, &p.lookups, s.lookup as usize, |l| l.name)
            )
        ),
        Instr::Wait(ms) => format!("{ms}ms"),
        Instr::Record(c, sides) => {
            let sides = match sides {
                super::Sides::Both => String::new(),
                s => format!("{} ", s.name()),
            };
            if c != super::ANY_CONSENT {
                format!("{sides}if consented")
            } else {
                sides.trim_end().to_string()
            }
        }
        _ => String::new(),
    }
}

fn mnemonic(i: Instr) -> String {
    let s = format!("{i:?}");
    s.split([' ', '(', '{']).next().unwrap_or("").to_string()
}

/// Minute-of-week bits → "mon 08:00-18:00, ..." (runs of set bits).
fn week_ranges(week: &[u64]) -> String {
    let mut out = Vec::new();
    let total = 7 * 1440;
    let mut m = 0;
    while m < total {
        if super::week_bit(week, m) {
            let start = m;
            while m < total && super::week_bit(week, m) {
                m += 1;
            }
            let day = |x: u32| crate::week::Weekday((x / 1440 % 7) as u8).name();
            let (s, e) = (start % 1440, m % 1440);
            // A window that runs past midnight names the day it ends on.
            let end_day = if (m - 1) / 1440 != start / 1440 && e != 0 {
                format!("{} ", day(m))
            } else {
                String::new()
            };
            let e = if e == 0 { 1440 } else { e };
            out.push(format!(
                "{} {:02}:{:02}-{end_day}{:02}:{:02}",
                day(start),
                s / 60,
                s % 60,
                e / 60,
                e % 60
            ));
        } else {
            m += 1;
        }
    }
    if out.is_empty() {
        "never".into()
    } else {
        out.join(", ")
    }
}

fn day(d: i32) -> String {
    jiff::civil::date(1970, 1, 1)
        .checked_add(jiff::Span::new().days(i64::from(d)))
        .map_or_else(|_| format!("day {d}"), |x| x.to_string())
}

/// The whole program as text.
pub fn disasm(p: &Program) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "; callflow bytecode, format {}", super::format::VERSION);
    let _ = writeln!(
        o,
        "; {} flow(s), {} instruction(s), {} string(s)",
        p.flows.len(),
        p.code.len(),
        p.strings.len()
    );
    let labels = labels(p);
    let mut last_loc: Option<(u16, u32)> = None;
    let mut vars: &[u32] = &[];
    for (pc, &i) in p.code.iter().enumerate() {
        let pc = pc as Pc;
        if let Some(f) = p.flows.iter().find(|f| f.entry == pc) {
            vars = &f.vars;
            let numbers: Vec<&str> = f.numbers.iter().map(|&n| p.str(n)).collect();
            let _ = writeln!(o);
            let _ = write!(o, "flow {}  numbers {}", p.str(f.name), numbers.join(", "));
            if let Some(tz) = f.timezone {
                let _ = write!(o, "  timezone {}", p.str(tz));
            }
            if !f.languages.is_empty() {
                let langs: Vec<&str> = f.languages.iter().map(|&l| p.str(l)).collect();
                let _ = write!(o, "  languages {}", langs.join(", "));
            }
            let _ = writeln!(o);
        }
        if let Some(ls) = labels.get(&pc) {
            for l in ls.iter().filter(|l| !l.starts_with("flow ")) {
                let _ = writeln!(o, "  <{l}>");
            }
        }
        if let Some(loc) = p.debug.get(pc as usize) {
            if last_loc != Some((loc.file, loc.line)) {
                last_loc = Some((loc.file, loc.line));
                let (name, line) = p.files.get(loc.file as usize).map_or(("?", ""), |f| {
                    (
                        f.name.as_str(),
                        f.text
                            .lines()
                            .nth(loc.line.saturating_sub(1) as usize)
                            .unwrap_or(""),
                    )
                });
                let _ = writeln!(o, "  -- {name}:{} | {}", loc.line, line.trim());
            }
        }
        let ops = operands(p, i, vars);
        let _ = writeln!(o, "{pc:>6}  {:<14}{}", mnemonic(i), ops).map(|_| ());
        if o.ends_with(" \n") {
            o.truncate(o.trim_end().len());
            o.push('\n');
        }
    }
    tables(p, &mut o);
    o
}

fn tables(p: &Program, o: &mut String) {
    let pr = |i: u32| {
        p.prompts
            .get(i as usize)
            .map_or("?", |x| p.str(x.name))
            .to_string()
    };
    for m in &p.menus {
        let keys: Vec<String> = m
            .keys
            .iter()
            .map(|(k, pc)| format!("\"{}\"->{pc}", p.str(*k)))
            .collect();
        let _ = writeln!(
            o,
            "\nmenu {}: prompt {}{:?}{}, timeout {}ms, digit_timeout {}ms, retries {}, up to {} key(s), keys {}{}, wait {}",
            p.str(m.name),
            m.intro
                .iter()
                .map(|&i| format!("{:?}, ", pr(i)))
                .collect::<String>(),
            pr(m.prompt),
            m.repeat_prompt
                .map_or(String::new(), |r| format!(" (repeat {:?})", pr(r))),
            m.timeout_ms,
            m.digit_timeout_ms,
            if m.counted_apart {
                format!(
                    "{} invalid / {} timeout",
                    limit(m.retries),
                    limit(m.timeout_retries)
                )
            } else {
                limit(m.retries)
            },
            m.max_len,
            keys.join(" "),
            m.patterns
                .iter()
                .map(|(_, pc)| format!(" pattern->{pc}"))
                .collect::<String>(),
            m.wait
        );
    }
    for (i, c) in p.collects.iter().enumerate() {
        let _ = writeln!(
            o,
            "\ncollect {i}: prompt {:?}, {}..{} digits{}, timeout {}ms, digit_timeout {}ms, retries {}",
            pr(c.prompt),
            c.min_len,
            c.max_len,
            c.terminator
                .map_or(String::new(), |t| format!(", terminator {:?}", p.str(t))),
            c.timeout_ms,
            c.digit_timeout_ms,
            c.retries
        );
    }
    for (i, r) in p.routes.iter().enumerate() {
        let g = p.groups.get(r.group as usize);
        let sticky = match r.sticky {
            Sticky::None => String::new(),
            Sticky::Today => ", sticky today".into(),
            Sticky::For(ms) => format!(", sticky {ms}ms"),
        };
        let _ = write!(
            o,
            "\nroute {i}: group {}{sticky}, record {:?}",
            g.map_or("?", |g| p.str(g.name)),
            r.record
        );
        if let Some(q) = &r.queue {
            let ann: Vec<String> = q
                .announcements
                .iter()
                .map(|(k, every)| {
                    let what = match k {
                        AnnounceKind::Position { up_to: 0, .. } => "position".to_string(),
                        AnnounceKind::Position { up_to, over } => format!(
                            "position up to {up_to}{}",
                            over.map_or(String::new(), |x| format!(" else {:?}", pr(x)))
                        ),
                        AnnounceKind::ExpectedWait { step_ms: 0 } => "expected_wait".to_string(),
                        AnnounceKind::ExpectedWait { step_ms } => {
                            format!("expected_wait rounded {step_ms}ms")
                        }
                        AnnounceKind::Prompt(x) => format!("{:?}", pr(*x)),
                    };
                    every.map_or(what.clone(), |e| format!("{what} every {e}ms"))
                })
                .collect();
            let _ = write!(
                o,
                ", queue (music {}, announce [{}], max_wait {}, max_length {})",
                q.music.map_or("none".into(), |m| format!("{:?}", pr(m))),
                ann.join(", "),
                q.max_wait_ms.map_or("none".into(), |m| format!("{m}ms")),
                q.max_length.map_or("none".into(), |m| m.to_string())
            );
        }
        let _ = writeln!(o);
    }
    for g in &p.groups {
        let members: Vec<String> = g
            .members
            .iter()
            .map(|(a, tier)| {
                let n = p.agents.get(*a as usize).map_or("?", |a| p.str(a.name));
                if *tier > 0 {
                    format!("{n}@{tier}")
                } else {
                    n.to_string()
                }
            })
            .collect();
        let _ = writeln!(
            o,
            "\ngroup {}: {} ring {}ms wrap_up {}ms members {}",
            p.str(g.name),
            g.strategy.name(),
            g.ring_ms,
            g.wrap_up_ms,
            members.join(", ")
        );
        for (tier, after) in &g.tier_opens_ms {
            let _ = writeln!(o, "  tier {tier} opens after {after}ms");
        }
    }
    for h in &p.hours {
        let _ = writeln!(o, "\nhours {}: {}", p.str(h.name), week_ranges(&h.week));
        for (d, ws) in &h.special {
            let ws: Vec<String> = ws
                .iter()
                .map(|(a, b)| format!("{:02}:{:02}-{:02}:{:02}", a / 60, a % 60, b / 60, b % 60))
                .collect();
            let _ = writeln!(
                o,
                "  {}: {}",
                day(*d),
                if ws.is_empty() {
                    "closed".into()
                } else {
                    ws.join(", ")
                }
            );
        }
        for c in &h.closed_on {
            let _ = writeln!(
                o,
                "  closed on {}",
                p.calendars.get(*c as usize).map_or("?", |c| p.str(c.name))
            );
        }
    }
    for c in &p.calendars {
        let first: Vec<String> = c
            .days
            .iter()
            .filter(|d| (20454..20819).contains(&d.0))
            .map(|d| day(d.0))
            .collect();
        let _ = writeln!(
            o,
            "\ncalendar {}: {} day(s) in {}-{}; in 2026: {}",
            p.str(c.name),
            c.days.len(),
            super::CALENDAR_YEARS.0,
            super::CALENDAR_YEARS.1,
            first.join(" ")
        );
    }
}

/// A retry limit as written: a number, or `unlimited`.
fn limit(n: u32) -> String {
    if n == u32::MAX {
        "unlimited".into()
    } else {
        n.to_string()
    }
}
