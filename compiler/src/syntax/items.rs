//! Top-level items (`use`, `flow`, `hours`, `holidays`, `group`, `agent`, `voicemail`,
//! `prompt`, `switch`, `lookup`) and the settings inside them. Several settings may share a
//! line (`agent jan { contact "sip:jan@pbx" skills de:5 }`).

use super::cursor::{Cursor, PResult, Reported};
use super::tree::{Block, Line, Part, TokKind};
use super::{Parser, Seen, unknown_keyword};
use crate::ast::{
    Agent, Count, Flow, Group, Holidays, Hours, Ident, Item, Lookup, Member, PromptDef, Skill,
    Switch, Text, TierOpens, Voicemail,
};
use crate::diagnostics::{Diagnostic, codes};

pub const ITEM_KEYWORDS: &[&str] = &[
    "use",
    "country",
    "flow",
    "hours",
    "holidays",
    "group",
    "agent",
    "voicemail",
    "prompt",
    "switch",
    "lookup",
    "test",
    "scenario",
];

const FLOW_KEYWORDS: &[&str] = &[
    "numbers",
    "timezone",
    "country",
    "languages",
    "prompts",
    "start",
    "menu",
    "consent",
    "block",
    "subflow",
];

impl Parser<'_> {
    /// The definitions of a file, and its `country` line: the country of every flow in it
    /// that names none itself (and of the flows of files that use it, settled by the checks).
    pub(super) fn items(&mut self, lines: &[Line]) -> (Vec<Item>, Option<Text>) {
        let mut country = None;
        let mut seen = Seen::default();
        let mut items: Vec<Item> = Vec::new();
        for l in lines {
            let mut cur = Cursor::new(&l.parts, l.span);
            match cur.ident() {
                Some(kw) if kw.name == "country" => {
                    let Ok(c) = cur.expect_text("a country code such as \"DE\"", self.diags) else {
                        continue;
                    };
                    if cur.expect_end("the country", self.diags).is_ok()
                        && seen.first(&kw, self.diags)
                    {
                        country = Some(c);
                    }
                }
                _ => items.extend(self.item(l).ok()),
            }
        }
        if let Some(c) = &country {
            for item in &mut items {
                if let Item::Flow(f) = item {
                    if f.country.is_none() {
                        f.country = Some(c.clone());
                    }
                }
            }
        }
        (items, country)
    }

    fn item(&mut self, line: &Line) -> PResult<Item> {
        let mut cur = Cursor::new(&line.parts, line.span);
        let Some(kw) = cur.ident() else {
            return Err(cur.error(
                self.diags,
                "a definition such as `flow`, `group` or `hours`",
                None,
            ));
        };
        let item = match kw.name.as_str() {
            "use" | "import" => {
                let path = cur.expect_text("the file to use, in quotes", self.diags)?;
                cur.expect_end("the file name", self.diags)?;
                return Ok(Item::Use(path));
            }
            "flow" => Item::Flow(self.flow(&mut cur, &kw)?),
            "hours" => Item::Hours(self.hours(&mut cur, &kw)?),
            "holidays" => Item::Holidays(self.holidays(&mut cur, &kw)?),
            "group" => Item::Group(self.group(&mut cur, &kw)?),
            "agent" => Item::Agent(self.agent(&mut cur, &kw)?),
            "voicemail" => Item::Voicemail(self.voicemail(&mut cur, &kw)?),
            "prompt" => Item::Prompt(self.prompt_def(&mut cur, &kw)?),
            "switch" => Item::Switch(self.switch(&mut cur, &kw)?),
            "lookup" => Item::Lookup(self.lookup(&mut cur, &kw)?),
            "test" | "scenario" => Item::Test(self.test(&mut cur, &kw)?),
            _ => {
                if super::stmt::STMT_KEYWORDS.contains(&kw.name.as_str())
                    || FLOW_KEYWORDS.contains(&kw.name.as_str())
                {
                    self.diags.push(
                        Diagnostic::new(
                            codes::MISPLACED,
                            kw.span,
                            format!("`{}` cannot stand outside a flow", kw.name),
                            "not inside a `flow { }`",
                        )
                        .help(
                            "put it inside `flow NAME { ... }` (statements go in `start { ... }`)",
                        ),
                    );
                } else {
                    unknown_keyword(self.diags, &kw, "at the top of a file", ITEM_KEYWORDS);
                }
                return Err(Reported);
            }
        };
        Ok(item)
    }

    /// `KEYWORD NAME {` — the name and block of a definition.
    fn header<'a>(&mut self, cur: &mut Cursor<'a>, kw: &Ident) -> PResult<(Ident, &'a Block)> {
        let name = cur.expect_ident(&format!("a name for the {}", kw.name), self.diags)?;
        let block = cur.expect_block(&format!("the {} `{}`", kw.name, name.name), self.diags)?;
        cur.expect_end(&format!("the block of `{}`", name.name), self.diags)?;
        Ok((name, block))
    }

    /// Runs `f` for each setting (keyword + arguments) in `block`; several may share a line.
    pub(super) fn settings(
        &mut self,
        block: &Block,
        what: &str,
        mut f: impl FnMut(&mut Self, Ident, &mut Cursor, &Line) -> PResult<()>,
    ) {
        for line in &block.lines {
            let mut cur = Cursor::new(&line.parts, line.span);
            while !cur.at_end() {
                let Some(kw) = cur.ident() else {
                    let _ = cur.error(self.diags, what, None);
                    break;
                };
                if f(self, kw, &mut cur, line).is_err() {
                    break;
                }
            }
        }
    }

    fn flow(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Flow> {
        let (name, block) = self.header(cur, kw)?;
        let mut flow = Flow {
            name,
            keyword: kw.span,
            numbers: Vec::new(),
            timezone: None,
            country: None,
            used_country: std::cell::OnceCell::new(),
            languages: Vec::new(),
            prompts_dir: None,
            start: None,
            start_keyword: None,
            procs: Vec::new(),
            menus: Vec::new(),
            consents: Vec::new(),
            span: kw.span.to(block.span),
        };
        let mut seen = Seen::default();
        self.settings(
            block,
            "a flow setting or block such as `start`",
            |p, kw, cur, _| p.flow_line(&mut flow, &kw, cur, &mut seen),
        );
        Ok(flow)
    }

    fn flow_line(
        &mut self,
        flow: &mut Flow,
        kw: &Ident,
        cur: &mut Cursor,
        seen: &mut Seen,
    ) -> PResult<()> {
        match kw.name.as_str() {
            "numbers" | "number" => {
                let mut list = cur.list(self.diags, |c, d| {
                    c.expect_text("a phone number in quotes", d)
                })?;
                flow.numbers.append(&mut list);
            }
            "timezone" | "time_zone" => {
                let tz = cur.expect_text("a time zone such as \"Europe/Berlin\"", self.diags)?;
                if seen.first(kw, self.diags) {
                    flow.timezone = Some(tz);
                }
            }
            "country" => {
                let c = cur.expect_text("a country code such as \"DE\"", self.diags)?;
                if seen.first(kw, self.diags) {
                    flow.country = Some(c);
                }
            }
            "languages" | "language" => {
                let list = cur.list(self.diags, |c, d| lang(c, d))?;
                if seen.first(kw, self.diags) {
                    flow.languages = list;
                }
            }
            "prompts" => {
                let dir = cur.expect_text("the prompt folder in quotes", self.diags)?;
                if seen.first(kw, self.diags) {
                    flow.prompts_dir = Some(dir);
                }
            }
            "start" => {
                let block = cur.expect_block("the start of the flow", self.diags)?;
                let body = self.body(block);
                if seen.first(kw, self.diags) {
                    flow.start = Some(body);
                    flow.start_keyword = Some(kw.span);
                }
            }
            "menu" => {
                let menu = self.menu(cur, kw)?;
                flow.menus.push(menu);
            }
            "consent" => {
                let c = self.consent(cur, kw)?;
                flow.consents.push(c);
            }
            "block" | "subflow" => {
                let p = self.proc(cur, kw)?;
                flow.procs.push(p);
            }
            other => {
                if super::stmt::STMT_KEYWORDS.contains(&other) {
                    self.diags.push(
                        Diagnostic::new(
                            codes::MISPLACED,
                            kw.span,
                            format!("`{other}` cannot stand directly in a flow"),
                            "not inside `start` or a block",
                        )
                        .help("statements go inside `start { ... }`, a `block` or a `subflow`"),
                    );
                } else if ITEM_KEYWORDS.contains(&other) {
                    self.diags.push(
                        Diagnostic::new(
                            codes::MISPLACED,
                            kw.span,
                            format!("`{other}` definitions cannot be inside a flow"),
                            "inside a flow",
                        )
                        .help("define it at the top of the file, outside `flow { ... }`"),
                    );
                } else {
                    unknown_keyword(self.diags, kw, "in a flow", FLOW_KEYWORDS);
                }
                return Err(Reported);
            }
        }
        Ok(())
    }

    fn hours(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Hours> {
        let (name, block) = self.header(cur, kw)?;
        let mut hours = Hours {
            name,
            rules: Vec::new(),
            closed_on: Vec::new(),
            span: kw.span.to(block.span),
        };
        for line in &block.lines {
            let mut c = Cursor::new(&line.parts, line.span);
            if c.eat("closed").is_some() {
                let _ = c.eat("on");
                if let Ok(list) = c.list(self.diags, |c, d| {
                    c.expect_ident("a holiday calendar name", d)
                }) {
                    if c.expect_end("the calendars", self.diags).is_ok() {
                        hours.closed_on.extend(list);
                    }
                }
                continue;
            }
            if let Ok(rule) = self.hours_rule(line) {
                hours.rules.push(rule);
            }
        }
        Ok(hours)
    }

    fn holidays(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Holidays> {
        let (name, block) = self.header(cur, kw)?;
        let entries = block
            .lines
            .iter()
            .filter_map(|l| self.holiday(l).ok())
            .collect();
        Ok(Holidays {
            name,
            entries,
            span: kw.span.to(block.span),
        })
    }

    pub(super) fn skills(&mut self, cur: &mut Cursor) -> PResult<Vec<Skill>> {
        let mut out = Vec::new();
        loop {
            let name = cur.expect_ident("a skill such as `de:5`", self.diags)?;
            cur.expect_punct(":", self.diags)?;
            let level = cur.expect_number_max("a skill level such as `5`", 100, self.diags)?;
            out.push(Skill { name, level });
            let _ = cur.eat_punct(",");
            // Skills continue while the next words look like `name:level`.
            let next_is_skill = cur.is_kind(TokKind::Ident)
                && matches!(cur.peek_at(1), Some(Part::Tok(t)) if t.text == ":");
            if !next_is_skill {
                return Ok(out);
            }
        }
    }

    fn group(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Group> {
        let (name, block) = self.header(cur, kw)?;
        let mut g = Group {
            name,
            members: Vec::new(),
            opens: Vec::new(),
            strategy: None,
            ring: None,
            wrap_up: None,
            require: Vec::new(),
            span: kw.span.to(block.span),
        };
        let mut seen = Seen::default();
        self.settings(block, "a setting name", |p, kw, cur, _| {
            match kw.name.as_str() {
                "members" => {
                    let list = member_list(cur, p, None)?;
                    g.members.extend(list);
                }
                "tier" => {
                    let tier = cur.expect_number("the tier number, 1 rings first", p.diags)?;
                    // `after 5m`: the tier opens once the caller has waited that long (an agent
                    // called `after` is still a member: a duration must follow).
                    if cur.is_ident("after")
                        && matches!(cur.peek_at(1), Some(Part::Tok(t)) if matches!(t.kind, TokKind::Duration | TokKind::Number))
                    {
                        cur.bump();
                        let after = cur.expect_duration(
                            "how long callers wait before this tier rings, such as `5m`",
                            p.diags,
                        )?;
                        g.opens.push(TierOpens { tier, after });
                    }
                    let _ = cur.eat_punct(":");
                    let list = member_list(cur, p, Some(tier))?;
                    g.members.extend(list);
                }
                "strategy" => {
                    let mut s = cur.expect_ident("a strategy such as `sequential`", p.diags)?;
                    // `longest-idle` (other products' spelling): one word, so that the check
                    // can say what it is called here instead of tripping over the `-`.
                    while cur.eat_punct("-").is_some() {
                        let more = cur.expect_ident("the rest of the strategy's name", p.diags)?;
                        s.name = format!("{}-{}", s.name, more.name);
                        s.span = s.span.to(more.span);
                    }
                    if seen.first(&kw, p.diags) {
                        g.strategy = Some(s);
                    }
                }
                "ring" => {
                    let d =
                        cur.expect_duration("how long each agent rings, such as `15s`", p.diags)?;
                    if seen.first(&kw, p.diags) {
                        g.ring = Some(d);
                    }
                }
                "wrap_up" => {
                    let d = cur.expect_duration("the wrap-up time, such as `30s`", p.diags)?;
                    if seen.first(&kw, p.diags) {
                        g.wrap_up = Some(d);
                    }
                }
                "require" | "requires" => {
                    let s = p.skills(cur)?;
                    g.require.extend(s);
                }
                _ => {
                    unknown_keyword(
                        p.diags,
                        &kw,
                        "in a group",
                        &["members", "tier", "strategy", "ring", "wrap_up", "require"],
                    );
                    return Err(Reported);
                }
            }
            Ok(())
        });
        Ok(g)
    }

    fn agent(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Agent> {
        let (name, block) = self.header(cur, kw)?;
        let mut a = Agent {
            name,
            display: None,
            contact: None,
            skills: Vec::new(),
            span: kw.span.to(block.span),
        };
        let mut seen = Seen::default();
        self.settings(block, "a setting name", |p, kw, cur, _| {
            match kw.name.as_str() {
                "name" => {
                    let t = cur.expect_text("the agent's name in quotes", p.diags)?;
                    if seen.first(&kw, p.diags) {
                        a.display = Some(t);
                    }
                }
                "contact" => {
                    let t = cur.expect_text(
                        "a SIP address such as \"sip:jan@pbx.example.com\"",
                        p.diags,
                    )?;
                    if seen.first(&kw, p.diags) {
                        a.contact = Some(t);
                    }
                }
                "skills" => {
                    let s = p.skills(cur)?;
                    if seen.first(&kw, p.diags) {
                        a.skills = s;
                    }
                }
                _ => {
                    unknown_keyword(p.diags, &kw, "in an agent", &["name", "contact", "skills"]);
                    return Err(Reported);
                }
            }
            Ok(())
        });
        Ok(a)
    }

    fn voicemail(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Voicemail> {
        let (name, block) = self.header(cur, kw)?;
        let mut v = Voicemail {
            name,
            greetings: Vec::new(),
            max_length: None,
            email: None,
            span: kw.span.to(block.span),
        };
        let mut seen = Seen::default();
        self.settings(block, "a setting name", |p, kw, cur, _| {
            match kw.name.as_str() {
                "greeting" => {
                    let reason = cur.ident();
                    let t = cur.expect_text("the greeting prompt in quotes", p.diags)?;
                    v.greetings.push((reason, t));
                }
                "max_length" => {
                    let d = cur.expect_duration("the longest message, such as `3m`", p.diags)?;
                    if seen.first(&kw, p.diags) {
                        v.max_length = Some(d);
                    }
                }
                "email" => {
                    let t = cur.expect_text("an e-mail address in quotes", p.diags)?;
                    if seen.first(&kw, p.diags) {
                        v.email = Some(t);
                    }
                }
                _ => {
                    unknown_keyword(
                        p.diags,
                        &kw,
                        "in a voicemail box",
                        &["greeting", "max_length", "email"],
                    );
                    return Err(Reported);
                }
            }
            Ok(())
        });
        Ok(v)
    }

    fn prompt_def(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<PromptDef> {
        let name = cur.expect_ident("a name for the prompt", self.diags)?;
        // `prompt hold "music/hold.wav"`: one file for every language.
        if let Some(file) = cur.text() {
            cur.expect_end("the prompt file", self.diags)?;
            return Ok(PromptDef {
                span: kw.span.to(file.span),
                name,
                files: vec![(None, file)],
            });
        }
        let block = cur.expect_block(
            &format!("the prompt `{}` (or give one file in quotes)", name.name),
            self.diags,
        )?;
        cur.expect_end("the prompt", self.diags)?;
        let mut files = Vec::new();
        self.settings(block, "a language code such as `de`", |p, lang, cur, _| {
            let file = cur.expect_text("the WAV file for this language, in quotes", p.diags)?;
            files.push((Some(lang), file));
            Ok(())
        });
        Ok(PromptDef {
            name,
            files,
            span: kw.span.to(block.span),
        })
    }

    fn switch(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Switch> {
        let name = cur.expect_ident("a name for the switch", self.diags)?;
        let mut s = Switch {
            span: kw.span.to(name.span),
            name,
            default_on: None,
            description: None,
        };
        let Some(block) = cur.block() else {
            cur.expect_end("the switch name", self.diags)?;
            return Ok(s);
        };
        s.span = kw.span.to(block.span);
        cur.expect_end("the switch", self.diags)?;
        let mut seen = Seen::default();
        self.settings(block, "a setting name", |p, kw, cur, _| {
            match kw.name.as_str() {
                "default" => {
                    let v = cur.expect_ident("`on` or `off`", p.diags)?;
                    let on = match v.name.as_str() {
                        "on" => true,
                        "off" => false,
                        _ => {
                            p.diags.push(Diagnostic::new(
                                codes::EXPECTED,
                                v.span,
                                format!("expected `on` or `off`, found `{}`", v.name),
                                "a switch is `on` or `off`",
                            ));
                            return Err(Reported);
                        }
                    };
                    if seen.first(&kw, p.diags) {
                        s.default_on = Some((on, v.span));
                    }
                }
                "description" => {
                    let t = cur.expect_text("a description in quotes", p.diags)?;
                    if seen.first(&kw, p.diags) {
                        s.description = Some(t);
                    }
                }
                _ => {
                    unknown_keyword(p.diags, &kw, "in a switch", &["default", "description"]);
                    return Err(Reported);
                }
            }
            Ok(())
        });
        Ok(s)
    }

    fn lookup(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Lookup> {
        let (name, block) = self.header(cur, kw)?;
        let mut l = Lookup {
            name,
            url: None,
            timeout: None,
            retries: None,
            fields: Vec::new(),
            span: kw.span.to(block.span),
        };
        let mut seen = Seen::default();
        self.settings(block, "a setting name", |p, kw, cur, _| {
            match kw.name.as_str() {
                "url" => {
                    let t = cur.expect_text("the URL in quotes", p.diags)?;
                    if seen.first(&kw, p.diags) {
                        l.url = Some(t);
                    }
                }
                "timeout" => {
                    let d = cur.expect_duration("how long to wait, such as `2s`", p.diags)?;
                    if seen.first(&kw, p.diags) {
                        l.timeout = Some(d);
                    }
                }
                "fields" => {
                    let list = cur.list(p.diags, |c, d| c.expect_ident("a field name", d))?;
                    l.fields.extend(list);
                }
                "retries" => {
                    let n = cur.expect_number_max(
                        "how many times to ask again after a failure, such as `2`",
                        5,
                        p.diags,
                    )?;
                    let pause = if cur.eat("after").is_some() {
                        Some(cur.expect_duration(
                            "the pause before asking again, such as `1s`",
                            p.diags,
                        )?)
                    } else {
                        None
                    };
                    if seen.first(&kw, p.diags) {
                        l.retries = Some((n, pause));
                    }
                }
                _ => {
                    unknown_keyword(
                        p.diags,
                        &kw,
                        "in a lookup",
                        &["url", "timeout", "fields", "retries"],
                    );
                    return Err(Reported);
                }
            }
            Ok(())
        });
        Ok(l)
    }
}

/// A language code: `de` or `"de"`.
pub(crate) fn lang(
    cur: &mut Cursor,
    diags: &mut crate::diagnostics::Diagnostics,
) -> PResult<Ident> {
    if let Some(t) = cur.text() {
        return Ok(Ident {
            name: t.value,
            span: t.span,
        });
    }
    cur.expect_ident("a language code such as `de` or `en`", diags)
}

fn member_list(cur: &mut Cursor, p: &mut Parser, tier: Option<Count>) -> PResult<Vec<Member>> {
    let list = cur.list(p.diags, |c, d| c.expect_ident("an agent name", d))?;
    Ok(list
        .into_iter()
        .map(|agent| Member { agent, tier })
        .collect())
}
