//! Statements and the blocks made of them: `start`, `block`, `subflow`, menus, digit
//! collection, consent, routes with their queues, and handlers (`event => statement`). An
//! `else` on the line after a `}` belongs to the `if` before it.

use super::cond::{condition, value};
use super::cursor::{Cursor, PResult, Reported};
use super::items::lang;
use super::tree::{Block, Part, TokKind};
use super::{Parser, Seen, unknown_keyword};
use crate::ast::{
    Announce, AnnounceWhat, Body, Collect, Consent, ConsentAnswer, Handler, Ident, If, KeyArm,
    Menu, Proc, ProcKind, Queue, RecordSpec, Route, RouteChoice, SayKind, Sticky, Stmt, StmtKind,
};
use crate::diagnostics::{Diagnostic, codes};
use crate::source::Span;

pub const STMT_KEYWORDS: &[&str] = &[
    "play",
    "say",
    "menu",
    "collect",
    "language",
    "if",
    "set",
    "goto",
    "call",
    "return",
    "route",
    "transfer",
    "forward",
    "voicemail",
    "lookup",
    "ask",
    "record",
    "stop",
    "answer",
    "wait",
    "hangup",
    "back",
    "top",
    "repeat",
];

impl Parser<'_> {
    /// The statements of a block.
    pub(super) fn body(&mut self, block: &Block) -> Body {
        let mut stmts: Vec<Stmt> = Vec::new();
        for line in &block.lines {
            let mut cur = Cursor::new(&line.parts, line.span);
            if let Some(else_kw) = cur.eat("else") {
                // `}` newline `else ...`: continue the `if` before.
                let target = match stmts.last_mut() {
                    Some(Stmt {
                        kind: StmtKind::If(i),
                        span,
                        ..
                    }) if i.otherwise.is_none() => Some((i, span)),
                    _ => None,
                };
                match target {
                    Some((i, span)) => {
                        if self.else_part(i, &mut cur).is_ok() {
                            *span = span.to(line.span);
                        }
                    }
                    None => self.diags.push(
                        Diagnostic::new(
                            codes::ELSE_WITHOUT_IF,
                            else_kw,
                            "`else` without `if`",
                            "no `if` before this `else`",
                        )
                        .help("an `else` must follow the closing `}` of an `if`"),
                    ),
                }
                continue;
            }
            if let Ok(s) = self.stmt(&mut cur) {
                stmts.push(s);
            }
        }
        Body {
            stmts,
            span: block.span,
            end: block.close.unwrap_or(block.span.end_point()),
        }
    }

    /// One statement from the cursor to the end of the line.
    pub(super) fn stmt(&mut self, cur: &mut Cursor) -> PResult<Stmt> {
        let start = cur.here();
        let Some(kw) = cur.ident() else {
            let help = match cur.peek_tok() {
                Some(t) if t.kind == TokKind::Str => {
                    Some("keys such as \"1\" => ... belong inside a `menu`")
                }
                _ => None,
            };
            return Err(cur.error(
                self.diags,
                "a statement such as `play`, `menu` or `route`",
                help,
            ));
        };
        let kind = self.stmt_kind(&kw, cur)?;
        cur.expect_end(&format!("the `{}` statement", kw.name), self.diags)?;
        Ok(Stmt {
            kind,
            span: cur.span_from(start),
            keyword: kw.span,
        })
    }

    fn stmt_kind(&mut self, kw: &Ident, cur: &mut Cursor) -> PResult<StmtKind> {
        let d = &mut *self.diags;
        Ok(match kw.name.as_str() {
            "play" => {
                let prompt = cur.expect_text("a prompt name in quotes, such as \"welcome\"", d)?;
                // `uninterruptible` and `early`, in either order.
                let mut interruptible = true;
                let mut early = false;
                loop {
                    if cur.eat("uninterruptible").is_some() {
                        interruptible = false;
                    } else if cur.eat("early").is_some() {
                        early = true;
                    } else {
                        break;
                    }
                }
                StmtKind::Play {
                    prompt,
                    interruptible,
                    early,
                }
            }
            "say" => {
                let kind = if cur.eat("number").is_some() {
                    SayKind::Number
                } else if cur.eat("digits").is_some() {
                    SayKind::Digits
                } else {
                    return Err(cur.error(d, "`number` or `digits`", Some("`say number queue_length(sales)` reads 12 as \"twelve\", `say digits account` reads it digit by digit")));
                };
                StmtKind::Say {
                    kind,
                    value: value(cur, d)?,
                }
            }
            "menu" => StmtKind::Menu(cur.expect_ident("the name of a menu", d)?),
            "collect" => StmtKind::Collect(Box::new(self.collect(cur, kw)?)),
            "language" => StmtKind::Language(lang(cur, d)?),
            "if" => {
                let mut i = If {
                    branches: Vec::new(),
                    otherwise: None,
                };
                self.if_branch(&mut i, cur)?;
                if cur.eat("else").is_some() {
                    self.else_part(&mut i, cur)?;
                }
                StmtKind::If(Box::new(i))
            }
            "set" => {
                let var = cur.expect_ident("the name of a variable", d)?;
                cur.expect_punct("=", d)?;
                StmtKind::Set {
                    var,
                    value: value(cur, d)?,
                }
            }
            "goto" => StmtKind::Goto(cur.expect_ident("the name of a block", d)?),
            "call" => StmtKind::Call(cur.expect_ident("the name of a subflow", d)?),
            "return" => StmtKind::Return,
            "route" => StmtKind::Route(Box::new(self.route(cur, kw)?)),
            "transfer" | "forward" => StmtKind::Transfer(value(cur, d)?),
            "voicemail" => StmtKind::Voicemail {
                target: cur.expect_ident("the name of a voicemail box", d)?,
                reason: cur.ident(),
            },
            "lookup" => {
                let name = cur.expect_ident("the name of a lookup", d)?;
                let handlers = match cur.block() {
                    Some(b) => self.handlers_only(b, "a lookup", &["error", "not_found"]),
                    None => Vec::new(),
                };
                StmtKind::Lookup { name, handlers }
            }
            "ask" => StmtKind::Ask(cur.expect_ident("the name of a consent", d)?),
            "record" => StmtKind::Record(self.record_spec(cur, kw)?),
            "stop" => {
                if cur.eat("recording").is_none() {
                    return Err(cur.error(d, "`recording`", Some("write `stop recording`")));
                }
                StmtKind::StopRecording
            }
            "answer" => StmtKind::Answer,
            "wait" => {
                let t = cur.expect_duration("how long to wait, such as `2s`", d)?;
                if t.millis == 0 || t.millis > 3_600_000 {
                    d.push(
                        Diagnostic::new(
                            codes::BAD_VALUE,
                            t.span,
                            "a wait lasts from a millisecond to an hour",
                            "out of range",
                        )
                        .help("waits are short pauses, such as `wait 2s`; queues keep callers waiting"),
                    );
                }
                StmtKind::Wait(t)
            }
            "hangup" => StmtKind::Hangup,
            "back" => StmtKind::Back,
            "top" => StmtKind::Top,
            "repeat" => StmtKind::Repeat,
            _ => {
                unknown_keyword(d, kw, "as a statement", STMT_KEYWORDS);
                return Err(Reported);
            }
        })
    }

    /// After `record`: nothing, `if consented`, or `if consented(NAME)`.
    fn record_spec(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<RecordSpec> {
        let (mut guarded, mut consent) = (false, None);
        // What is recorded: `caller`, `agent` or `both` (the check knows the words).
        let sides = if cur.is_kind(TokKind::Ident) && !cur.is_ident("if") {
            cur.ident()
        } else {
            None
        };
        if cur.eat("if").is_some() {
            if cur.eat("consented").is_none() {
                return Err(cur.error(
                    self.diags,
                    "`consented`",
                    Some("write `record if consented`, or guard `record` with `if consented(NAME) { ... }`"),
                ));
            }
            guarded = true;
            if cur.eat_punct("(").is_some() {
                consent = Some(cur.expect_ident("the name of a consent", self.diags)?);
                cur.expect_punct(")", self.diags)?;
            }
        }
        Ok(RecordSpec {
            sides,
            guarded,
            consent,
            span: cur.span_from(kw.span),
        })
    }

    fn if_branch(&mut self, i: &mut If, cur: &mut Cursor) -> PResult<()> {
        let c = condition(cur, self.diags)?;
        let block = cur.expect_block("the block of the `if`", self.diags)?;
        let body = self.body(block);
        i.branches.push((c, body));
        Ok(())
    }

    /// After `else`: `if ... { }` (and maybe more) or `{ }`.
    fn else_part(&mut self, i: &mut If, cur: &mut Cursor) -> PResult<()> {
        if cur.eat("if").is_some() {
            self.if_branch(i, cur)?;
            if cur.eat("else").is_some() {
                return self.else_part(i, cur);
            }
        } else {
            let block = cur.expect_block("the block of the `else`", self.diags)?;
            i.otherwise = Some(self.body(block));
        }
        cur.expect_end("the `else` block", self.diags)
    }

    /// After `event`: `=> statement` or `=> { ... }`, to the end of the line.
    pub(super) fn arm_body(&mut self, cur: &mut Cursor) -> PResult<Body> {
        cur.expect_punct("=>", self.diags)?;
        if let Some(Part::Block(b)) = cur.peek() {
            if cur.pos + 1 == cur.parts.len() {
                cur.bump();
                return Ok(self.body(b));
            }
        }
        if cur.at_end() {
            return Err(cur.error(self.diags, "a statement or a block after `=>`", None));
        }
        let s = self.stmt(cur)?;
        Ok(Body {
            span: s.span,
            end: s.span.end_point(),
            stmts: vec![s],
        })
    }

    /// A block of `event => ...` lines only (the handlers of a `lookup`).
    fn handlers_only(&mut self, block: &Block, place: &str, events: &[&str]) -> Vec<Handler> {
        let mut out = Vec::new();
        for line in &block.lines {
            let mut cur = Cursor::new(&line.parts, line.span);
            let Some(event) = cur.ident() else {
                let _ = cur.error(self.diags, "an event such as `error =>`", None);
                continue;
            };
            if !events.contains(&event.name.as_str()) {
                unknown_keyword(self.diags, &event, &format!("in {place}"), events);
                continue;
            }
            if let Ok(body) = self.arm_body(&mut cur) {
                out.push(Handler { event, body });
            }
        }
        out
    }

    pub(super) fn proc(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Proc> {
        let name = cur.expect_ident(&format!("a name for the {}", kw.name), self.diags)?;
        let block = cur.expect_block(&format!("the {} `{}`", kw.name, name.name), self.diags)?;
        cur.expect_end(&format!("the {}", kw.name), self.diags)?;
        Ok(Proc {
            kind: if kw.name == "block" {
                ProcKind::Block
            } else {
                ProcKind::Subflow
            },
            name,
            body: self.body(block),
        })
    }

    pub(super) fn menu(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Menu> {
        let name = cur.expect_ident("a name for the menu", self.diags)?;
        let block = cur.expect_block(&format!("the menu `{}`", name.name), self.diags)?;
        cur.expect_end("the menu", self.diags)?;
        let mut m = Menu {
            name,
            prompt: None,
            more_prompts: Vec::new(),
            repeat_prompt: None,
            timeout: None,
            digit_timeout: None,
            retries: None,
            retries_invalid: None,
            retries_timeout: None,
            arms: Vec::new(),
            handlers: Vec::new(),
            span: kw.span.to(block.span),
        };
        let mut seen = Seen::default();
        for line in &block.lines {
            let mut cur = Cursor::new(&line.parts, line.span);
            if let Some(key) = cur.text() {
                if let Ok(body) = self.arm_body(&mut cur) {
                    m.arms.push(KeyArm { key, body });
                }
                continue;
            }
            // Several settings may share a line: `prompt "main" timeout 5s`.
            while !cur.at_end() {
                let Some(kw) = cur.ident() else {
                    let _ = cur.error(
                        self.diags,
                        "a key in quotes such as \"1\", or a menu setting",
                        None,
                    );
                    break;
                };
                if cur.is_punct("=>") {
                    if matches!(kw.name.as_str(), "invalid" | "timeout" | "exhausted") {
                        if let Ok(body) = self.arm_body(&mut cur) {
                            m.handlers.push(Handler { event: kw, body });
                        }
                    } else {
                        let d = Diagnostic::new(
                            codes::UNKNOWN_KEYWORD,
                            kw.span,
                            format!("unknown menu event `{}`", kw.name),
                            "not a menu event",
                        );
                        let d = if kw.name.chars().all(|c| c.is_ascii_alphanumeric())
                            && kw.name.len() <= 3
                        {
                            d.help(format!("keys go in quotes: \"{}\" => ...", kw.name))
                        } else {
                            d.suggest(
                                &kw.name,
                                ["invalid", "timeout", "exhausted"],
                                "menu events are `invalid`, `timeout` and `exhausted`",
                            )
                        };
                        self.diags.push(d);
                    }
                    break;
                }
                if self
                    .digit_setting(
                        &kw,
                        &mut cur,
                        &mut seen,
                        &mut DigitSettings {
                            prompt: &mut m.prompt,
                            more_prompts: Some(&mut m.more_prompts),
                            repeat_prompt: Some(&mut m.repeat_prompt),
                            timeout: &mut m.timeout,
                            digit_timeout: &mut m.digit_timeout,
                            retries: &mut m.retries,
                            split_retries: Some((&mut m.retries_invalid, &mut m.retries_timeout)),
                            min_len: None,
                            max_len: None,
                            terminator: None,
                        },
                        "in a menu",
                    )
                    .is_err()
                {
                    break;
                }
            }
        }
        Ok(m)
    }

    fn digit_setting(
        &mut self,
        kw: &Ident,
        cur: &mut Cursor,
        seen: &mut Seen,
        s: &mut DigitSettings,
        place: &str,
    ) -> PResult<()> {
        let d = &mut *self.diags;
        match kw.name.as_str() {
            "prompt" => {
                let t = cur.expect_text("a prompt name in quotes", d)?;
                // A menu may play several prompts in order: `prompt "a", "b"`.
                let mut more = Vec::new();
                if s.more_prompts.is_some() {
                    while cur.eat_punct(",").is_some() {
                        more.push(cur.expect_text("a prompt name in quotes", d)?);
                    }
                }
                if seen.first(kw, d) {
                    *s.prompt = Some(t);
                    if let Some(slot) = s.more_prompts.as_deref_mut() {
                        *slot = more;
                    }
                }
            }
            "repeat_prompt" if s.repeat_prompt.is_some() => {
                let t = cur.expect_text("a prompt name in quotes", d)?;
                if seen.first(kw, d) {
                    if let Some(slot) = s.repeat_prompt.as_deref_mut() {
                        *slot = Some(t);
                    }
                }
            }
            "timeout" => {
                let t =
                    cur.expect_duration("how long to wait for the first key, such as `5s`", d)?;
                if seen.first(kw, d) {
                    *s.timeout = Some(t);
                }
            }
            "digit_timeout" => {
                let t = cur.expect_duration("how long to wait between keys, such as `3s`", d)?;
                if seen.first(kw, d) {
                    *s.digit_timeout = Some(t);
                }
            }
            "retries" => {
                if let Some((invalid, timeout)) = s.split_retries.as_mut() {
                    // `retries [invalid|timeout] (N | unlimited)`, each kind counted apart.
                    let kind = cur
                        .eat("invalid")
                        .map(|_| "invalid")
                        .or_else(|| cur.eat("timeout").map(|_| "timeout"));
                    let value = match cur.eat("unlimited") {
                        Some(span) => crate::ast::Retries::Unlimited(span),
                        None => crate::ast::Retries::Times(cur.expect_number_max(
                            "how many times to ask again, such as `3` (or `unlimited`)",
                            20,
                            d,
                        )?),
                    };
                    let key = Ident {
                        name: format!("retries {}", kind.unwrap_or(""))
                            .trim_end()
                            .to_string(),
                        span: kw.span,
                    };
                    if seen.first(&key, d) {
                        match (kind, value) {
                            (Some("invalid"), v) => **invalid = Some(v),
                            (Some(_), v) => **timeout = Some(v),
                            (None, crate::ast::Retries::Times(n)) => *s.retries = Some(n),
                            // `retries unlimited`: for each kind not given its own limit (in
                            // either order: the specific setting wins).
                            (None, v) => {
                                invalid.get_or_insert(v);
                                timeout.get_or_insert(v);
                            }
                        }
                    }
                    return Ok(());
                }
                let n = cur.expect_number_max("how many times to ask again, such as `3`", 20, d)?;
                if seen.first(kw, d) {
                    *s.retries = Some(n);
                }
            }
            "length" if s.min_len.is_some() => {
                let min = cur.expect_number("the number of digits, such as `6` or `6..10`", d)?;
                let max = if cur.eat_punct("..").is_some() {
                    cur.expect_number("the most digits", d)?
                } else {
                    min
                };
                if seen.first(kw, d) {
                    if let Some(slot) = s.min_len.as_deref_mut() {
                        *slot = Some(min);
                    }
                    if let Some(slot) = s.max_len.as_deref_mut() {
                        *slot = Some(max);
                    }
                }
            }
            "terminator" if s.terminator.is_some() => {
                let t = cur.expect_text("the key that ends input, such as \"#\"", d)?;
                if seen.first(kw, d) {
                    if let Some(slot) = s.terminator.as_deref_mut() {
                        *slot = Some(t);
                    }
                }
            }
            _ => {
                let mut known = vec!["prompt", "timeout", "digit_timeout", "retries"];
                if s.repeat_prompt.is_some() {
                    known.insert(1, "repeat_prompt");
                }
                if s.min_len.is_some() {
                    known.extend(["length", "terminator"]);
                }
                known.extend(["invalid =>", "timeout =>", "exhausted =>"]);
                unknown_keyword(d, kw, place, &known);
                return Err(Reported);
            }
        }
        Ok(())
    }

    fn collect(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Collect> {
        let var = cur.expect_ident("the variable that receives the digits", self.diags)?;
        let block = cur.expect_block(
            &format!("the settings of `collect {}`", var.name),
            self.diags,
        )?;
        let mut c = Collect {
            var,
            prompt: None,
            min_len: None,
            max_len: None,
            terminator: None,
            timeout: None,
            digit_timeout: None,
            retries: None,
            handlers: Vec::new(),
            span: kw.span.to(block.span),
        };
        let mut seen = Seen::default();
        for line in &block.lines {
            let mut cur = Cursor::new(&line.parts, line.span);
            while !cur.at_end() {
                let Some(kw) = cur.ident() else {
                    let _ = cur.error(self.diags, "a setting such as `length 6..10`", None);
                    break;
                };
                if cur.is_punct("=>") {
                    if matches!(kw.name.as_str(), "invalid" | "timeout" | "exhausted") {
                        if let Ok(body) = self.arm_body(&mut cur) {
                            c.handlers.push(Handler { event: kw, body });
                        }
                    } else {
                        unknown_keyword(
                            self.diags,
                            &kw,
                            "as an event of `collect`",
                            &["invalid", "timeout", "exhausted"],
                        );
                    }
                    break;
                }
                let (mut min_len, mut max_len, mut terminator) =
                    (c.min_len, c.max_len, c.terminator.take());
                let failed = self
                    .digit_setting(
                        &kw,
                        &mut cur,
                        &mut seen,
                        &mut DigitSettings {
                            prompt: &mut c.prompt,
                            more_prompts: None,
                            repeat_prompt: None,
                            timeout: &mut c.timeout,
                            digit_timeout: &mut c.digit_timeout,
                            retries: &mut c.retries,
                            split_retries: None,
                            min_len: Some(&mut min_len),
                            max_len: Some(&mut max_len),
                            terminator: Some(&mut terminator),
                        },
                        "in `collect`",
                    )
                    .is_err();
                c.min_len = min_len;
                c.max_len = max_len;
                c.terminator = terminator;
                if failed {
                    break;
                }
            }
        }
        Ok(c)
    }

    pub(super) fn consent(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Consent> {
        let name = cur.expect_ident("a name for the consent", self.diags)?;
        let block = cur.expect_block(&format!("the consent `{}`", name.name), self.diags)?;
        cur.expect_end("the consent", self.diags)?;
        let mut c = Consent {
            name,
            prompt: None,
            notice: None,
            accept: None,
            refuse: None,
            silence: None,
            withdraw: None,
            timeout: None,
            span: kw.span.to(block.span),
        };
        let mut seen = Seen::default();
        self.settings(
            block,
            "a consent setting such as `accept \"1\"`",
            |p, kw, cur, _| {
                let d = &mut *p.diags;
                match kw.name.as_str() {
                    "prompt" => {
                        let t = cur.expect_text("the announcement prompt in quotes", d)?;
                        if seen.first(&kw, d) {
                            c.prompt = Some(t);
                        }
                    }
                    "notice" => {
                        let t = cur.expect_text("the notice's prompt in quotes", d)?;
                        if seen.first(&kw, d) {
                            c.notice = Some(t);
                        }
                    }
                    "accept" | "refuse" | "withdraw" => {
                        let t = cur.expect_text("a key in quotes, such as \"1\"", d)?;
                        if seen.first(&kw, d) {
                            let slot = match kw.name.as_str() {
                                "accept" => &mut c.accept,
                                "refuse" => &mut c.refuse,
                                _ => &mut c.withdraw,
                            };
                            *slot = Some(t);
                        }
                    }
                    "silence" => {
                        let _ = cur.eat("means");
                        let v = cur.expect_ident("`accept` or `refuse`", d)?;
                        let answer = match v.name.as_str() {
                            "accept" => ConsentAnswer::Accept,
                            "refuse" => ConsentAnswer::Refuse,
                            _ => {
                                d.push(Diagnostic::new(
                                    codes::EXPECTED,
                                    v.span,
                                    format!("expected `accept` or `refuse`, found `{}`", v.name),
                                    "what silence means",
                                ));
                                return Err(Reported);
                            }
                        };
                        if seen.first(&kw, d) {
                            c.silence = Some((answer, kw.span.to(v.span)));
                        }
                    }
                    "timeout" => {
                        let t =
                            cur.expect_duration("how long to wait for a key, such as `5s`", d)?;
                        if seen.first(&kw, d) {
                            c.timeout = Some(t);
                        }
                    }
                    _ => {
                        unknown_keyword(
                            d,
                            &kw,
                            "in a consent",
                            &[
                                "prompt", "notice", "accept", "refuse", "silence", "withdraw",
                                "timeout",
                            ],
                        );
                        return Err(Reported);
                    }
                }
                Ok(())
            },
        );
        Ok(c)
    }

    fn route(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Route> {
        // `route by crm.team among sales, care { ... }`: the group a value names.
        let choice = if cur.eat("by").is_some() {
            let value = value(cur, self.diags)?;
            if cur.eat("among").is_none() {
                self.diags.push(Diagnostic::new(
                    codes::EXPECTED,
                    value.span(),
                    "expected `among` and the groups the value may name",
                    "`route by VALUE among GROUP, GROUP`",
                ));
                return Err(Reported);
            }
            let among = cur.list(self.diags, |c, d| c.expect_ident("the name of a group", d))?;
            Some(RouteChoice { value, among })
        } else {
            None
        };
        let group = match &choice {
            Some(c) => c.among[0].clone(),
            None => cur.expect_ident("the name of a group", self.diags)?,
        };
        let mut r = Route {
            span: kw.span.to(group.span),
            group,
            choice,
            sticky: None,
            record: None,
            require: Vec::new(),
            priority: None,
            queue: None,
            handlers: Vec::new(),
        };
        let Some(block) = cur.block() else {
            return Ok(r);
        };
        r.span = kw.span.to(block.span);
        let mut seen = Seen::default();
        self.settings(
            block,
            "a route setting such as `sticky today`",
            |p, kw, cur, _| p.route_line(&mut r, &kw, cur, &mut seen),
        );
        Ok(r)
    }

    fn route_line(
        &mut self,
        r: &mut Route,
        kw: &Ident,
        cur: &mut Cursor,
        seen: &mut Seen,
    ) -> PResult<()> {
        match kw.name.as_str() {
            "no_answer" | "busy" | "otherwise" | "error" => {
                let body = self.arm_body(cur)?;
                if seen.first(kw, self.diags) {
                    r.handlers.push(Handler {
                        event: kw.clone(),
                        body,
                    });
                }
                return Ok(());
            }
            "sticky" => {
                let s = if let Some(t) = cur.eat("today") {
                    Sticky::Today(t)
                } else {
                    let _ = cur.eat("for");
                    Sticky::For(
                        cur.expect_duration("`today` or a duration such as `8h`", self.diags)?,
                    )
                };
                if seen.first(kw, self.diags) {
                    r.sticky = Some(s);
                }
            }
            "record" => {
                let spec = self.record_spec(cur, kw)?;
                if seen.first(kw, self.diags) {
                    r.record = Some(spec);
                }
            }
            "require" | "requires" => {
                let s = self.skills(cur)?;
                r.require.extend(s);
            }
            "priority" => {
                let v = value(cur, self.diags)?;
                if seen.first(kw, self.diags) {
                    r.priority = Some(v);
                }
            }
            "queue" => {
                let block = cur.expect_block("the queue settings", self.diags)?;
                let q = self.queue(block, kw.span);
                if seen.first(kw, self.diags) {
                    r.queue = Some(q);
                }
            }
            _ => {
                unknown_keyword(
                    self.diags,
                    kw,
                    "in a route",
                    &[
                        "sticky",
                        "record",
                        "require",
                        "priority",
                        "queue",
                        "no_answer =>",
                        "busy =>",
                        "error =>",
                    ],
                );
                return Err(Reported);
            }
        }
        Ok(())
    }

    fn queue(&mut self, block: &Block, kw: Span) -> Queue {
        let mut q = Queue {
            music: None,
            greeting: None,
            announcements: Vec::new(),
            max_wait: None,
            max_length: None,
            no_agents: None,
            exit_keys: Vec::new(),
            retry: None,
            keep_place: None,
            announce_gap: None,
            hours: None,
            span: kw.to(block.span),
        };
        let mut seen = Seen::default();
        self.settings(
            block,
            "a queue setting such as `music \"hold\"`",
            |p, kw, cur, _| p.queue_line(&mut q, &kw, cur, &mut seen),
        );
        q
    }

    fn queue_line(
        &mut self,
        q: &mut Queue,
        kw: &Ident,
        cur: &mut Cursor,
        seen: &mut Seen,
    ) -> PResult<()> {
        let d = &mut *self.diags;
        match kw.name.as_str() {
            "music" | "greeting" => {
                let t = cur.expect_text("a prompt name in quotes", d)?;
                if seen.first(kw, d) {
                    if kw.name == "music" {
                        q.music = Some(t);
                    } else {
                        q.greeting = Some(t);
                    }
                }
            }
            "announce" => {
                let what = if cur.eat("position").is_some() {
                    AnnounceWhat::Position
                } else if cur.eat("expected_wait").is_some() {
                    AnnounceWhat::ExpectedWait
                } else if let Some(t) = cur.text() {
                    AnnounceWhat::Prompt(t)
                } else {
                    return Err(cur.error(
                        d,
                        "`position`, `expected_wait` or a prompt in quotes",
                        None,
                    ));
                };
                let every = if cur.eat("every").is_some() {
                    Some(cur.expect_duration("how often, such as `60s`", d)?)
                } else {
                    None
                };
                let mut up_to = None;
                let mut rounded = None;
                loop {
                    if let Some(up) = cur.eat("up") {
                        if !matches!(what, AnnounceWhat::Position) {
                            d.push(
                                Diagnostic::new(
                                    codes::EXPECTED,
                                    up,
                                    "only `announce position` takes `up to`",
                                    "not for this announcement",
                                )
                                .help("write `announce position every 60s up to 10`"),
                            );
                            return Err(Reported);
                        }
                        let _ = cur.eat("to");
                        let n = cur.expect_number("the highest position said, such as `10`", d)?;
                        let over = if cur.eat("else").is_some() {
                            Some(cur.expect_text("a prompt in quotes for the positions above", d)?)
                        } else {
                            None
                        };
                        up_to = Some((n, over));
                    } else if let Some(r) = cur.eat("rounded") {
                        if !matches!(what, AnnounceWhat::ExpectedWait) {
                            d.push(
                                Diagnostic::new(
                                    codes::EXPECTED,
                                    r,
                                    "only `announce expected_wait` is rounded",
                                    "not for this announcement",
                                )
                                .help("write `announce expected_wait every 2m rounded 5m`"),
                            );
                            return Err(Reported);
                        }
                        let _ = cur.eat("to");
                        rounded =
                            Some(cur.expect_duration("the step to round up to, such as `5m`", d)?);
                    } else {
                        break;
                    }
                }
                q.announcements.push(Announce {
                    what,
                    every,
                    up_to,
                    rounded,
                    span: cur.span_from(kw.span),
                });
            }
            "retry" => {
                let t = cur.expect_duration("the pause between ring rounds, such as `10s`", d)?;
                if seen.first(kw, d) {
                    q.retry = Some(t);
                }
            }
            "hours" => {
                let h = cur.expect_ident("the name of the hours callers may wait in", d)?;
                let body = if cur.is_punct("=>") {
                    Some(self.arm_body(cur)?)
                } else {
                    None
                };
                if seen.first(kw, self.diags) {
                    q.hours = Some((h, body));
                }
                return Ok(());
            }
            "announce_gap" => {
                let t = cur.expect_duration(
                    "the least time between two announcements, such as `30s`",
                    d,
                )?;
                if seen.first(kw, d) {
                    q.announce_gap = Some(t);
                }
            }
            "keep_place" => {
                let t = cur.expect_duration(
                    "how long a caller who hung up keeps their place, such as `5m`",
                    d,
                )?;
                if seen.first(kw, d) {
                    q.keep_place = Some(t);
                }
            }
            "max_wait" => {
                let t = cur.expect_duration("the longest wait, such as `10m`", d)?;
                let body = if cur.is_punct("=>") {
                    Some(self.arm_body(cur)?)
                } else {
                    None
                };
                if seen.first(kw, self.diags) {
                    q.max_wait = Some((t, body));
                }
                return Ok(());
            }
            "max_length" => {
                let n = cur.expect_number("the most callers waiting, such as `20`", d)?;
                let body = if cur.is_punct("=>") {
                    Some(self.arm_body(cur)?)
                } else {
                    None
                };
                if seen.first(kw, self.diags) {
                    q.max_length = Some((n, body));
                }
                return Ok(());
            }
            "no_agents" => {
                let wait = if cur.is_kind(TokKind::Duration) || cur.is_kind(TokKind::Number) {
                    Some(cur.expect_duration(
                        "how long to wait for an agent to log in, such as `30s`",
                        d,
                    )?)
                } else {
                    None
                };
                let body = if cur.is_punct("=>") {
                    Some(self.arm_body(cur)?)
                } else {
                    None
                };
                if seen.first(kw, self.diags) {
                    q.no_agents = Some(crate::ast::NoAgents {
                        wait,
                        body,
                        span: kw.span,
                    });
                }
                return Ok(());
            }
            "key" => {
                let key = cur.expect_text("the key in quotes, such as \"0\"", d)?;
                let body = self.arm_body(cur)?;
                q.exit_keys.push(KeyArm { key, body });
                return Ok(());
            }
            _ => {
                unknown_keyword(
                    d,
                    kw,
                    "in a queue",
                    &[
                        "music",
                        "greeting",
                        "announce",
                        "max_wait",
                        "max_length",
                        "key",
                        "retry",
                        "keep_place",
                        "no_agents",
                        "announce_gap",
                        "hours",
                    ],
                );
                return Err(Reported);
            }
        }
        Ok(())
    }
}

struct DigitSettings<'a> {
    prompt: &'a mut Option<crate::ast::Text>,
    /// A menu's further prompts (`prompt "a", "b"`).
    more_prompts: Option<&'a mut Vec<crate::ast::Text>>,
    repeat_prompt: Option<&'a mut Option<crate::ast::Text>>,
    timeout: &'a mut Option<crate::ast::Duration>,
    digit_timeout: &'a mut Option<crate::ast::Duration>,
    retries: &'a mut Option<crate::ast::Count>,
    /// A menu's `retries invalid ...` / `retries timeout ...` (and `retries unlimited`).
    split_retries: Option<(
        &'a mut Option<crate::ast::Retries>,
        &'a mut Option<crate::ast::Retries>,
    )>,
    min_len: Option<&'a mut Option<crate::ast::Count>>,
    max_len: Option<&'a mut Option<crate::ast::Count>>,
    terminator: Option<&'a mut Option<crate::ast::Text>>,
}
