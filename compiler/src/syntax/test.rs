//! `test "name" { ... }`: an admin's test of a flow — the calls (number, caller, local time),
//! what the world does (keys, agent states, switches, lookup answers, earlier calls, queues) and
//! what must happen (`expect ...`). `scenario "name" { ... }` is the same without the need to
//! expect anything: calls to watch with `callflow simulate --scenario`.

use super::cursor::{Cursor, PResult, Reported};
use super::tree::TokKind;
use super::{Parser, Seen, unknown_keyword};
use crate::ast::{
    CallLines, DateLit, Expect, ExpectKind, Ident, LookupOutcome, OffsetLit, TestAgent, TestCall,
    TestDef, TestLookup, TimeLit,
};
use crate::diagnostics::{Diagnostic, codes};

const TEST_KEYWORDS: &[&str] = &[
    "call", "keys", "agents", "switch", "lookup", "earlier", "queue", "seed", "expect", "hangs_up",
    "talks",
];
const EXPECTS: &[&str] = &[
    "voicemail",
    "route",
    "agent",
    "transfer",
    "played",
    "recording",
    "no",
    "hangup",
    "queued",
    "language",
    "waited",
];

impl Parser<'_> {
    fn date_time(&mut self, cur: &mut Cursor) -> PResult<(DateLit, TimeLit)> {
        let d = self.date(cur, "a date such as `2026-12-24`")?;
        match cur.peek_tok() {
            Some(t) if t.kind == TokKind::Time => {
                cur.bump();
                let (h, m) = t.text.split_once(':').unwrap_or(("0", "0"));
                Ok((
                    d,
                    TimeLit {
                        hour: h.parse().unwrap_or(0),
                        minute: m.parse().unwrap_or(0),
                        span: t.span,
                    },
                ))
            }
            _ => Err(cur.error(
                self.diags,
                "a time such as `10:15`",
                Some("write the local time of the call: `at 2026-12-24 10:15`"),
            )),
        }
    }

    pub(super) fn test(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<TestDef> {
        let what = if kw.name == "scenario" {
            "scenario"
        } else {
            "test"
        };
        let name = cur.expect_text(&format!("the {what}'s name in quotes"), self.diags)?;
        let block = cur.expect_block(&format!("the {what} \"{}\"", name.value), self.diags)?;
        cur.expect_end(&format!("the {what}"), self.diags)?;
        let scenario = kw.name == "scenario";
        let mut t = TestDef {
            name,
            keyword: kw.span,
            scenario,
            calls: Vec::new(),
            before: CallLines::default(),
            agents: Vec::new(),
            switches: Vec::new(),
            lookups: Vec::new(),
            earlier: Vec::new(),
            queues: Vec::new(),
            seed: None,
            span: kw.span.to(block.span),
        };
        let mut seen = Seen::default();
        for line in &block.lines {
            let mut cur = Cursor::new(&line.parts, line.span);
            let Some(kw) = cur.ident() else {
                let _ = cur.error(
                    self.diags,
                    &format!("a {what} line such as `call`, `keys` or `expect`"),
                    None,
                );
                continue;
            };
            if self.test_line(&mut t, &kw, &mut cur, &mut seen).is_ok() {
                let _ = cur.expect_end(&format!("`{}`", kw.name), self.diags);
            }
        }
        // Lines written before the first call belong to it.
        if let Some(first) = t.calls.first_mut() {
            let before = std::mem::take(&mut t.before);
            let lines = &mut first.lines;
            lines.keys.splice(0..0, before.keys);
            lines.expects.splice(0..0, before.expects);
            lines.hangs_up = lines.hangs_up.or(before.hangs_up);
            lines.talks = lines.talks.or(before.talks);
        }
        Ok(t)
    }

    /// One scripted answer of a lookup: `fails`, `not_found`, or fields with their values.
    fn lookup_outcome(&mut self, cur: &mut Cursor) -> PResult<LookupOutcome> {
        if cur.eat("fails").is_some() {
            return Ok(LookupOutcome::Fails);
        }
        if cur.eat("not_found").is_some() {
            return Ok(LookupOutcome::NotFound);
        }
        let mut fields = Vec::new();
        loop {
            let f = cur.expect_ident("a field name (or `fails`, `not_found`)", self.diags)?;
            let v = cur.expect_text("the field's value in quotes", self.diags)?;
            fields.push((f, v));
            if cur.eat_punct(",").is_none() {
                break;
            }
        }
        Ok(LookupOutcome::Fields(fields))
    }

    /// `from "..."` and `at DATE TIME` after a call's number.
    fn call_rest(&mut self, call: &mut TestCall, cur: &mut Cursor) -> PResult<()> {
        if cur.eat("from").is_some() {
            call.from = Some(cur.expect_text(
                "the caller's number in quotes (or \"anonymous\")",
                self.diags,
            )?);
        }
        if cur.eat("at").is_some() {
            call.at = Some(self.date_time(cur)?);
            call.offset = self.offset(cur)?;
        }
        Ok(())
    }

    /// An optional offset after a call's time: `Z` or `UTC`, or `+01:00` / `-05:00`.
    fn offset(&mut self, cur: &mut Cursor) -> PResult<Option<OffsetLit>> {
        if let Some(span) = cur.eat("Z").or_else(|| cur.eat("UTC")) {
            return Ok(Some(OffsetLit { minutes: 0, span }));
        }
        let (sign, start) = if let Some(s) = cur.eat_punct("+") {
            (1, s)
        } else if let Some(s) = cur.eat_punct("-") {
            (-1, s)
        } else {
            return Ok(None);
        };
        let help = "write the offset from UTC after the time, such as `at 2026-03-29 10:00 +02:00` \
                    (or `Z` for UTC); without one the time is local to the flow's zone";
        match cur.peek_tok() {
            Some(t) if t.kind == TokKind::Time => {
                cur.bump();
                let (h, m) = t.text.split_once(':').unwrap_or(("0", "0"));
                let (h, m): (i32, i32) = (h.parse().unwrap_or(99), m.parse().unwrap_or(99));
                let span = start.to(t.span);
                if m > 59 || h * 60 + m > 14 * 60 {
                    self.diags.push(
                        Diagnostic::new(
                            codes::BAD_VALUE,
                            span,
                            "an offset from UTC is at most 14:00",
                            "not an offset",
                        )
                        .help(help),
                    );
                }
                Ok(Some(OffsetLit {
                    minutes: sign * (h * 60 + m),
                    span,
                }))
            }
            _ => Err(cur.error(self.diags, "an offset such as `+01:00`", Some(help))),
        }
    }

    fn test_line(
        &mut self,
        t: &mut TestDef,
        kw: &Ident,
        cur: &mut Cursor,
        seen: &mut Seen,
    ) -> PResult<()> {
        match kw.name.as_str() {
            "call" => {
                let number = cur.expect_text("the number dialled, in quotes", self.diags)?;
                // The call counts even when the rest of its line is broken: the test is not
                // also reported as making no call (CF0802) next to the real mistake.
                let mut call = TestCall {
                    span: cur.span_from(kw.span),
                    number,
                    from: None,
                    at: None,
                    offset: None,
                    lines: CallLines::default(),
                };
                let rest = self.call_rest(&mut call, cur);
                call.span = cur.span_from(kw.span);
                t.calls.push(call);
                rest?;
            }
            "keys" => {
                let list = cur.list(self.diags, |c, d| {
                    c.expect_text("keys in quotes, such as \"1\" (\"\" for none)", d)
                })?;
                lines(t).keys.extend(list);
            }
            "hangs_up" => {
                if cur.eat("after").is_none() {
                    return Err(cur.error(
                        self.diags,
                        "`after`",
                        Some("write when the caller hangs up: `hangs_up after 2m`"),
                    ));
                }
                let d = cur.expect_duration(
                    "how long after calling the caller hangs up, such as `2m`",
                    self.diags,
                )?;
                lines(t).hangs_up = Some(d);
            }
            "talks" => {
                let d = cur.expect_duration(
                    "how long the conversation lasts once an agent answers, such as `5m`",
                    self.diags,
                )?;
                lines(t).talks = Some(d);
            }
            "agents" | "agent" => {
                let list = cur.list(self.diags, |c, d| {
                    let agent = c.expect_ident("an agent name", d)?;
                    let state = c.expect_ident(
                        "a state: ready, busy, not_ready, dnd, wrap_up, logged_out or no_answer",
                        d,
                    )?;
                    let lasts = match c.eat("for") {
                        Some(_) => {
                            Some(c.expect_duration("how long the state lasts, such as `30m`", d)?)
                        }
                        None => None,
                    };
                    Ok(TestAgent {
                        agent,
                        state,
                        lasts,
                    })
                })?;
                t.agents.extend(list);
            }
            "switch" => {
                let name = cur.expect_ident("a switch name", self.diags)?;
                let v = cur.expect_ident("`on` or `off`", self.diags)?;
                let on = match v.name.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(bad_word(self, &v, "`on` or `off`")),
                };
                t.switches.push((name, on));
            }
            "lookup" => {
                let name = cur.expect_ident("a lookup name", self.diags)?;
                let mut outcomes = vec![self.lookup_outcome(cur)?];
                while cur.eat("then").is_some() {
                    outcomes.push(self.lookup_outcome(cur)?);
                }
                t.lookups.push(TestLookup { name, outcomes });
            }
            "earlier" => {
                let agent = cur.expect_ident("the agent the caller spoke to", self.diags)?;
                let at = if cur.is_kind(TokKind::Date) {
                    Some(self.date_time(cur)?)
                } else {
                    None
                };
                t.earlier.push((agent, at));
            }
            "queue" => {
                let group = cur.expect_ident("a group name", self.diags)?;
                let n = cur.expect_number("how many callers wait already", self.diags)?;
                let wait = match cur.eat("wait") {
                    Some(_) => Some(cur.expect_duration(
                        "how long the first caller has waited, such as `15m`",
                        self.diags,
                    )?),
                    None => None,
                };
                t.queues.push((group, n, wait));
            }
            "seed" => {
                let n = cur.expect_number("a number for the random strategy", self.diags)?;
                if seen.first(kw, self.diags) {
                    t.seed = Some(n);
                }
            }
            "expect" => {
                let e = self.expect(cur, kw)?;
                lines(t).expects.push(e);
            }
            _ => {
                unknown_keyword(self.diags, kw, "in a test", TEST_KEYWORDS);
                return Err(Reported);
            }
        }
        Ok(())
    }

    fn expect(&mut self, cur: &mut Cursor, kw: &Ident) -> PResult<Expect> {
        let what = cur.expect_ident("what to expect: voicemail, route, agent, transfer, played, recording, hangup or queued", self.diags)?;
        let kind = match what.name.as_str() {
            "voicemail" => ExpectKind::Voicemail {
                vbox: cur.expect_ident("a voicemail box", self.diags)?,
                reason: cur.ident(),
            },
            "route" => {
                let group = cur.expect_ident("a group name", self.diags)?;
                let order = if cur.eat("order").is_some() {
                    if cur.eat("nobody").is_some() {
                        Some(Vec::new())
                    } else {
                        Some(cur.list(self.diags, |c, d| {
                            c.expect_ident("an agent name (or `nobody`)", d)
                        })?)
                    }
                } else {
                    None
                };
                ExpectKind::Route { group, order }
            }
            "agent" => ExpectKind::Agent(cur.expect_ident("the agent who answers", self.diags)?),
            "transfer" => ExpectKind::Transfer(
                cur.expect_text("the number or SIP address in quotes", self.diags)?,
            ),
            "played" => {
                let list = cur.list(self.diags, |c, d| {
                    c.expect_text("prompt names in quotes", d)
                })?;
                if cur.is_kind(TokKind::Number) {
                    let n = cur.expect_number("how many times", self.diags)?;
                    if cur.eat("times").is_none() && cur.eat("time").is_none() {
                        return Err(cur.error(
                            self.diags,
                            "`times`",
                            Some("write `expect played \"hold_music\" 3 times`"),
                        ));
                    }
                    match <[_; 1]>::try_from(list) {
                        Ok([one]) => ExpectKind::PlayedTimes(one, n),
                        Err(_) => {
                            return Err(cur.error(
                                self.diags,
                                "one prompt before the count",
                                Some("count one prompt per line: `expect played \"a\" 3 times`"),
                            ));
                        }
                    }
                } else {
                    ExpectKind::Played(list)
                }
            }
            "waited" => ExpectKind::Waited(cur.expect_duration(
                "how long the caller waited in queues, such as `10m`",
                self.diags,
            )?),
            "recording" => ExpectKind::Recording(true),
            "no" => {
                if cur.eat("recording").is_none() {
                    return Err(cur.error(
                        self.diags,
                        "`recording`",
                        Some("write `expect no recording`"),
                    ));
                }
                ExpectKind::Recording(false)
            }
            "hangup" => ExpectKind::Hangup,
            "queued" => ExpectKind::Queued(cur.expect_ident("a group name", self.diags)?),
            "language" => ExpectKind::Language(super::items::lang(cur, self.diags)?),
            _ => {
                unknown_keyword(self.diags, &what, "after `expect`", EXPECTS);
                return Err(Reported);
            }
        };
        Ok(Expect {
            kind,
            span: cur.span_from(kw.span),
        })
    }
}

/// Where a call line goes: the last call written, or (before any) the first call's lines.
fn lines(t: &mut TestDef) -> &mut CallLines {
    match t.calls.last_mut() {
        Some(c) => &mut c.lines,
        None => &mut t.before,
    }
}

fn bad_word(p: &mut Parser, v: &Ident, wanted: &str) -> Reported {
    p.diags.push(Diagnostic::new(
        codes::EXPECTED,
        v.span,
        format!("expected {wanted}, found `{}`", v.name),
        format!("expected {wanted}"),
    ));
    Reported
}
