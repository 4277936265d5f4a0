//! The lines of `hours` and `holidays` definitions: weekly windows, special days, dates, yearly
//! dates, rules such as `fourth thursday of november`, and Easter offsets. Values are read as
//! written; whether a date exists or a window is sensible is decided in `check::time`.

use super::Parser;
use super::cursor::{Cursor, PResult, Reported};
use super::tree::{Line, TokKind};
use crate::ast::{DateLit, Holiday, HolidayKind, HoursRule, Ident, Nth, TimeLit, Weekday, Window};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};

pub const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

const ORDINALS: [&str; 5] = ["first", "second", "third", "fourth", "fifth"];

const FULL_DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn weekday(name: &str) -> Option<Weekday> {
    let lower = name.to_ascii_lowercase();
    Weekday::NAMES
        .iter()
        .position(|d| *d == lower)
        .or_else(|| FULL_DAYS.iter().position(|d| *d == lower))
        .map(|i| Weekday(i as u8))
}

impl Parser<'_> {
    /// CF0511: a weekday range from a working day that wraps over the weekend.
    fn wrapped_days(&mut self, from: &Ident, to: &Ident, days: &[Weekday]) {
        let names: Vec<&str> = days.iter().map(|d| d.name()).collect();
        let (f, t) = (names[0], names[names.len() - 1]);
        let second = if t == "mon" {
            "mon".to_string()
        } else {
            format!("mon-{t}")
        };
        self.diags.push(
            Diagnostic::new(
                codes::WRAPPED_DAYS,
                from.span.to(to.span),
                format!("`{f}-{t}` runs over the weekend: {}", names.join(", ")),
                format!("{} days, through the weekend", days.len()),
            )
            .help(format!(
                "for {t} to {f} write `{t}-{f}`; to keep these days without this warning, write \
                 them in week order: `{f}-sun, {second}`"
            )),
        );
    }

    fn weekday(&mut self, cur: &mut Cursor) -> PResult<(Weekday, Ident)> {
        let id = cur.expect_ident("a weekday such as `mon`", self.diags)?;
        match weekday(&id.name) {
            Some(d) => Ok((d, id)),
            None => {
                let all = Weekday::NAMES.iter().chain(FULL_DAYS.iter()).copied();
                self.diags.push(
                    Diagnostic::new(
                        codes::EXPECTED,
                        id.span,
                        format!("`{}` is not a weekday", id.name),
                        "expected a weekday",
                    )
                    .suggest(
                        &id.name,
                        all,
                        "weekdays are `mon` `tue` `wed` `thu` `fri` `sat` `sun`",
                    ),
                );
                Err(Reported)
            }
        }
    }

    pub(super) fn date(&mut self, cur: &mut Cursor, what: &str) -> PResult<DateLit> {
        match cur.peek_tok() {
            Some(t) if t.kind == TokKind::Date => {
                cur.bump();
                let y = t.text[0..4].parse().unwrap_or(0);
                let m = t.text[5..7].parse().unwrap_or(0);
                let d = t.text[8..10].parse().unwrap_or(0);
                Ok(DateLit {
                    year: y,
                    month: m,
                    day: d,
                    span: t.span,
                })
            }
            _ => Err(cur.error(self.diags, what, Some("dates are written `2026-12-24`"))),
        }
    }

    fn windows(&mut self, cur: &mut Cursor) -> PResult<Vec<Window>> {
        cur.list(self.diags, |c, d| {
            let start = time(c, d)?;
            c.expect_punct("-", d)?;
            let end = time(c, d)?;
            Ok(Window {
                start,
                end,
                span: start.span.to(end.span),
            })
        })
    }

    /// One line of an `hours` block (not `closed NAME`, which the caller handles).
    pub(super) fn hours_rule(&mut self, line: &Line) -> PResult<HoursRule> {
        let mut cur = Cursor::new(&line.parts, line.span);
        if cur.is_kind(TokKind::Date) {
            let from = self.date(&mut cur, "a date")?;
            let to = match cur.eat_punct("..") {
                Some(_) => Some(self.date(&mut cur, "the last date of the range")?),
                None => None,
            };
            let windows = if cur.eat("closed").is_some() {
                Vec::new()
            } else {
                self.windows(&mut cur)?
            };
            if let Some(o) = cur.eat("overnight") {
                self.diags.push(
                    Diagnostic::new(codes::EXPECTED, o, "special days cannot run past midnight", "not for a single date")
                        .help("give the hours up to 24:00 on this date, and the rest on the next date: `2026-12-31 20:00-24:00` and `2027-01-01 00:00-02:00`"),
                );
                return Err(Reported);
            }
            cur.expect_end("the special day", self.diags)?;
            return Ok(HoursRule::Special {
                from,
                to,
                windows,
                span: line.span,
            });
        }
        let first = cur.here();
        let mut days = Vec::new();
        match cur.peek_tok() {
            Some(t)
                if t.kind == TokKind::Ident
                    && matches!(t.text.as_str(), "daily" | "weekdays" | "weekend") =>
            {
                cur.bump();
                let range = match t.text.as_str() {
                    "daily" => 0..7,
                    "weekdays" => 0..5,
                    _ => 5..7,
                };
                days.extend(range.map(Weekday));
            }
            Some(t) if t.kind == TokKind::Ident => loop {
                let (from, from_id) = self.weekday(&mut cur)?;
                if cur.eat_punct("-").is_some() {
                    let (to, to_id) = self.weekday(&mut cur)?;
                    if to < from {
                        // `sat-mon` wraps around the week end.
                        let wrapped: Vec<Weekday> =
                            (from.0..7).chain(0..=to.0).map(Weekday).collect();
                        // Starting on a working day (`fri-mon`), the admin more likely meant
                        // the range the other way round (`mon-fri`).
                        if from.0 <= 4 {
                            self.wrapped_days(&from_id, &to_id, &wrapped);
                        }
                        days.extend(wrapped);
                    } else {
                        days.extend((from.0..=to.0).map(Weekday));
                    }
                } else {
                    days.push(from);
                }
                if !(cur.is_punct(",")
                    && matches!(cur.peek_at(1), Some(super::tree::Part::Tok(t)) if t.kind == TokKind::Ident))
                {
                    break;
                }
                cur.bump();
            },
            _ => {
                return Err(cur.error(
                    self.diags,
                    "weekdays (`mon-fri`), a date (`2026-12-24`) or `closed`",
                    Some(
                        "hours are written like `mon-fri 08:00-18:00` or `2026-12-31 09:00-12:00`",
                    ),
                ));
            }
        }
        let days_span = cur.span_from(first);
        let windows = self.windows(&mut cur)?;
        let overnight = cur.eat("overnight");
        cur.expect_end("the time windows", self.diags)?;
        Ok(HoursRule::Weekly {
            days,
            days_span,
            windows,
            overnight,
            span: line.span,
        })
    }

    /// One line of a `holidays` block.
    pub(super) fn holiday(&mut self, line: &Line) -> PResult<Holiday> {
        let mut cur = Cursor::new(&line.parts, line.span);
        let kind = if cur.is_kind(TokKind::Date) {
            let from = self.date(&mut cur, "a date")?;
            match cur.eat_punct("..") {
                Some(_) => {
                    HolidayKind::Range(from, self.date(&mut cur, "the last date of the range")?)
                }
                None => HolidayKind::Date(from),
            }
        } else if cur.eat("every").is_some() {
            match cur.peek_tok() {
                Some(t) if t.kind == TokKind::MonthDay => {
                    cur.bump();
                    HolidayKind::Yearly {
                        month: t.text[0..2].parse().unwrap_or(0),
                        day: t.text[3..5].parse().unwrap_or(0),
                        observed: cur.eat("observed").is_some(),
                    }
                }
                _ => {
                    return Err(cur.error(
                        self.diags,
                        "a month and day such as `12-25`",
                        Some("`every 12-25` is the 25th of December every year"),
                    ));
                }
            }
        } else if cur.eat("easter").is_some() {
            let offset = if cur.eat_punct("+").is_some() {
                cur.expect_number("a number of days", self.diags)?.value as i32
            } else if cur.eat_punct("-").is_some() {
                -(cur.expect_number("a number of days", self.diags)?.value as i32)
            } else {
                0
            };
            HolidayKind::Easter { offset }
        } else if let Some(t) = cur
            .peek_tok()
            .filter(|t| matches!(t.kind, TokKind::Ident | TokKind::Ordinal))
        {
            // `4th` reads as `fourth`.
            let lower = match t.kind {
                TokKind::Ordinal => super::tree::ordinal(&t.text).unwrap_or("").to_string(),
                _ => t.text.to_ascii_lowercase(),
            };
            let nth = if lower == "last" {
                Nth::Last
            } else if let Some(i) = ORDINALS.iter().position(|o| *o == lower) {
                Nth::Nth(i as u8 + 1)
            } else {
                let words = ORDINALS.iter().copied().chain(["last", "every", "easter"]);
                self.diags.push(
                    Diagnostic::new(
                        codes::EXPECTED,
                        t.span,
                        format!("`{}` does not start a holiday", t.text),
                        "expected a date or a rule",
                    )
                    .suggest(&t.text, words, "write a date (`2026-12-24`), a range (`2026-12-24..2026-12-26`), `every 12-25`, `fourth thursday of november` or `easter + 1`"),
                );
                return Err(Reported);
            };
            cur.bump();
            let (weekday, _) = self.weekday(&mut cur)?;
            if cur.eat("of").is_none() && cur.eat("in").is_none() {
                return Err(cur.error(
                    self.diags,
                    "`of`",
                    Some("for example `last monday of may`"),
                ));
            }
            let m = cur.expect_ident("a month such as `november`", self.diags)?;
            let lower = m.name.to_ascii_lowercase();
            let month = match MONTHS.iter().position(|x| *x == lower || x[..3] == lower) {
                Some(i) => i as u8 + 1,
                None => {
                    self.diags.push(
                        Diagnostic::new(
                            codes::EXPECTED,
                            m.span,
                            format!("`{}` is not a month", m.name),
                            "expected a month",
                        )
                        .suggest(
                            &m.name,
                            MONTHS,
                            "months are `january` ... `december`",
                        ),
                    );
                    return Err(Reported);
                }
            };
            HolidayKind::NthWeekday {
                nth,
                weekday,
                month,
            }
        } else {
            return Err(cur.error(
                self.diags,
                "a date, `every MM-DD`, a rule such as `last monday of may`, or `easter`",
                None,
            ));
        };
        let label = cur.text();
        cur.expect_end("the holiday", self.diags)?;
        Ok(Holiday {
            kind,
            label,
            span: line.span,
        })
    }
}

fn time(cur: &mut Cursor, diags: &mut Diagnostics) -> PResult<TimeLit> {
    match cur.peek_tok() {
        Some(t) if t.kind == TokKind::Time => {
            cur.bump();
            let (h, m) = t.text.split_once(':').unwrap_or(("0", "0"));
            Ok(TimeLit {
                hour: h.parse().unwrap_or(0),
                minute: m.parse().unwrap_or(0),
                span: t.span,
            })
        }
        _ => Err(cur.error(diags, "a time window such as `08:00-18:00`", None)),
    }
}
