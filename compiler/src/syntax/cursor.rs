//! A cursor over the parts of one line, with the `expect_*` helpers every statement reader uses.
//! A failed expectation reports one CF0007 diagnostic in admin words ("expected a group name,
//! found the end of the line") and returns `Err(Reported)`; the caller skips the statement.

use super::tree::{Block, Part, TokKind, Token};
use crate::ast::{Count, Duration, Ident, Text};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::Span;

/// The statement had a problem that is already reported.
#[derive(Debug, Clone, Copy)]
pub struct Reported;

pub type PResult<T> = Result<T, Reported>;

pub struct Cursor<'a> {
    pub parts: &'a [Part],
    pub pos: usize,
    /// The span of the whole line, for "end of line" positions.
    pub line: Span,
}

/// How a part is named in "found ..." messages.
pub fn describe(part: Option<&Part>) -> String {
    match part {
        None => "the end of the line".into(),
        Some(Part::Block(_)) => "a block `{ ... }`".into(),
        Some(Part::Tok(t)) => match t.kind {
            TokKind::Str => format!("the text \"{}\"", t.text),
            TokKind::Ident => format!("`{}`", t.text),
            TokKind::Number => format!("the number `{}`", t.text),
            TokKind::Duration => format!("the duration `{}`", t.text),
            TokKind::Time => format!("the time `{}`", t.text),
            TokKind::Date => format!("the date `{}`", t.text),
            TokKind::MonthDay | TokKind::Ordinal => format!("`{}`", t.text),
            TokKind::Punct | TokKind::Bad => format!("`{}`", t.text),
        },
    }
}

impl<'a> Cursor<'a> {
    pub fn new(parts: &'a [Part], line: Span) -> Cursor<'a> {
        Cursor {
            parts,
            pos: 0,
            line,
        }
    }

    pub fn peek(&self) -> Option<&'a Part> {
        self.parts.get(self.pos)
    }

    pub fn peek_at(&self, n: usize) -> Option<&'a Part> {
        self.parts.get(self.pos + n)
    }

    pub fn peek_tok(&self) -> Option<&'a Token> {
        match self.peek() {
            Some(Part::Tok(t)) => Some(t),
            _ => None,
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.parts.len()
    }

    /// The span of the next part, or the end of the line.
    pub fn here(&self) -> Span {
        match self.peek() {
            Some(p) => p.span(),
            None => self
                .parts
                .last()
                .map(|p| p.span().end_point())
                .unwrap_or(self.line.end_point()),
        }
    }

    /// The span from `start` to the end of the last consumed part.
    pub fn span_from(&self, start: Span) -> Span {
        match self.pos.checked_sub(1).and_then(|i| self.parts.get(i)) {
            Some(p) => start.to(p.span()),
            None => start,
        }
    }

    pub fn bump(&mut self) -> Option<&'a Part> {
        let p = self.parts.get(self.pos);
        self.pos += usize::from(p.is_some());
        p
    }

    pub fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek_tok(), Some(t) if t.kind == TokKind::Ident && t.text == word)
    }

    pub fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek_tok(), Some(t) if t.kind == TokKind::Punct && t.text == p)
    }

    pub fn is_kind(&self, kind: TokKind) -> bool {
        matches!(self.peek_tok(), Some(t) if t.kind == kind)
    }

    /// Consumes the keyword `word` if it is next.
    pub fn eat(&mut self, word: &str) -> Option<Span> {
        if self.is_ident(word) {
            self.bump().map(Part::span)
        } else {
            None
        }
    }

    pub fn eat_punct(&mut self, p: &str) -> Option<Span> {
        if self.is_punct(p) {
            self.bump().map(Part::span)
        } else {
            None
        }
    }

    /// Reports "expected {what}, found {next}" at the next part.
    pub fn error(&self, diags: &mut Diagnostics, what: &str, help: Option<&str>) -> Reported {
        if self.is_kind(TokKind::Bad) {
            // The token itself was reported when it was read; one message per mistake.
            return Reported;
        }
        let found = describe(self.peek());
        let mut d = Diagnostic::new(
            codes::EXPECTED,
            self.here(),
            format!("expected {what}, found {found}"),
            format!("expected {what} here"),
        );
        if let Some(h) = help {
            d = d.help(h);
        }
        diags.push(d);
        Reported
    }

    pub fn expect_punct(&mut self, p: &str, diags: &mut Diagnostics) -> PResult<Span> {
        match self.eat_punct(p) {
            Some(s) => Ok(s),
            None => Err(self.error(diags, &format!("`{p}`"), None)),
        }
    }

    pub fn ident(&mut self) -> Option<Ident> {
        match self.peek_tok() {
            Some(t) if t.kind == TokKind::Ident => {
                self.pos += 1;
                Some(Ident {
                    name: t.text.clone(),
                    span: t.span,
                })
            }
            _ => None,
        }
    }

    pub fn expect_ident(&mut self, what: &str, diags: &mut Diagnostics) -> PResult<Ident> {
        match self.ident() {
            Some(i) => Ok(i),
            None => Err(self.error(diags, what, None)),
        }
    }

    pub fn text(&mut self) -> Option<Text> {
        match self.peek_tok() {
            Some(t) if t.kind == TokKind::Str => {
                self.pos += 1;
                Some(Text {
                    value: t.text.clone(),
                    span: t.span,
                })
            }
            _ => None,
        }
    }

    pub fn expect_text(&mut self, what: &str, diags: &mut Diagnostics) -> PResult<Text> {
        match self.text() {
            Some(t) => Ok(t),
            None => {
                let help = match self.peek_tok() {
                    Some(t) if t.kind != TokKind::Str && t.kind != TokKind::Bad => {
                        Some("put it in double quotes")
                    }
                    _ => None,
                };
                Err(self.error(diags, what, help))
            }
        }
    }

    pub fn expect_duration(&mut self, what: &str, diags: &mut Diagnostics) -> PResult<Duration> {
        match self.peek_tok() {
            Some(t) if t.kind == TokKind::Duration => {
                self.pos += 1;
                if let Some(unit) = unit_out_of_order(&t.text) {
                    diags.push(
                        Diagnostic::new(
                            codes::BAD_LITERAL,
                            t.span,
                            format!("`{}` gives the unit `{unit}` twice or out of order", t.text),
                            "probably a typo",
                        )
                        .help(
                            "write each unit once, the largest first: `1h30m`, `2m30s`, `1s500ms`",
                        ),
                    );
                    return Err(Reported);
                }
                match parse_duration(&t.text) {
                    Some(millis) => Ok(Duration {
                        millis,
                        span: t.span,
                    }),
                    None => {
                        diags.push(
                            Diagnostic::new(
                                codes::BAD_LITERAL,
                                t.span,
                                format!("the duration `{}` is too long", t.text),
                                "too long",
                            )
                            .help("durations go up to 30 days"),
                        );
                        Err(Reported)
                    }
                }
            }
            Some(t) if t.kind == TokKind::Number => Err(self.error(
                diags,
                what,
                Some("add a unit: `30s` (seconds), `5m` (minutes), `1h` (hours), `500ms`"),
            )),
            _ => Err(self.error(diags, what, None)),
        }
    }

    pub fn number(&mut self, diags: &mut Diagnostics) -> Option<PResult<Count>> {
        match self.peek_tok() {
            Some(t) if t.kind == TokKind::Number => {
                self.pos += 1;
                Some(match t.text.parse::<u32>() {
                    Ok(value) => Ok(Count {
                        value,
                        span: t.span,
                    }),
                    Err(_) => {
                        diags.push(Diagnostic::new(
                            codes::BAD_LITERAL,
                            t.span,
                            format!("the number `{}` is too large", t.text),
                            "too large",
                        ));
                        Err(Reported)
                    }
                })
            }
            _ => None,
        }
    }

    pub fn expect_number(&mut self, what: &str, diags: &mut Diagnostics) -> PResult<Count> {
        match self.number(diags) {
            Some(r) => r,
            None => Err(self.error(diags, what, None)),
        }
    }

    /// A number no larger than `max` (CF0203 when larger: counts beyond it are mistakes).
    pub fn expect_number_max(
        &mut self,
        what: &str,
        max: u32,
        diags: &mut Diagnostics,
    ) -> PResult<Count> {
        let n = self.expect_number(what, diags)?;
        if n.value > max {
            diags.push(
                Diagnostic::new(
                    codes::BAD_VALUE,
                    n.span,
                    format!("{} is too large here", n.value),
                    format!("at most {max}"),
                )
                .help(format!("use a number up to {max}")),
            );
            return Err(Reported);
        }
        Ok(n)
    }

    pub fn block(&mut self) -> Option<&'a Block> {
        match self.peek() {
            Some(Part::Block(b)) => {
                self.pos += 1;
                Some(b)
            }
            _ => None,
        }
    }

    pub fn expect_block(&mut self, what: &str, diags: &mut Diagnostics) -> PResult<&'a Block> {
        match self.block() {
            Some(b) => Ok(b),
            None => Err(self.error(diags, &format!("`{{` to start {what}"), None)),
        }
    }

    /// Reports anything left on the line after a complete statement.
    pub fn expect_end(&mut self, after: &str, diags: &mut Diagnostics) -> PResult<()> {
        if self.at_end() {
            return Ok(());
        }
        if self.is_kind(TokKind::Bad) {
            self.pos = self.parts.len();
            return Err(Reported);
        }
        let first = self.here();
        let last = self.parts.last().map(Part::span).unwrap_or(first);
        diags.push(
            Diagnostic::new(
                codes::EXPECTED,
                first.to(last),
                format!("unexpected {} after {after}", describe(self.peek())),
                "not part of this statement",
            )
            .help("put each statement on its own line, or separate them with `;`"),
        );
        self.pos = self.parts.len();
        Err(Reported)
    }

    /// A comma-separated list of at least one item read by `item`.
    pub fn list<T>(
        &mut self,
        diags: &mut Diagnostics,
        mut item: impl FnMut(&mut Self, &mut Diagnostics) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        let mut out = vec![item(self, diags)?];
        while self.eat_punct(",").is_some() {
            out.push(item(self, diags)?);
        }
        Ok(out)
    }
}

/// The first unit of a duration that repeats or comes after a smaller one (`10m10m`, `30s1m`).
pub fn unit_out_of_order(s: &str) -> Option<&str> {
    let mut last = u8::MAX;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        rest = &rest[digits..];
        let len = if rest.starts_with("ms") {
            2
        } else {
            1.min(rest.len())
        };
        let (unit, after) = rest.split_at(len);
        let rank = match unit {
            "d" => 4,
            "h" => 3,
            "m" => 2,
            "s" => 1,
            "ms" => 0,
            _ => return None,
        };
        if rank >= last {
            return Some(unit);
        }
        last = rank;
        rest = after;
    }
    None
}

/// `1h30m`, `45s`, `500ms`, `2d` → milliseconds; `None` on overflow.
pub fn parse_duration(s: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut num: u64 = 0;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            num = num.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            i += 1;
            continue;
        }
        let (unit, len) = match (c, bytes.get(i + 1)) {
            (b'm', Some(b's')) => (1, 2),
            (b's', _) => (1_000, 1),
            (b'm', _) => (60_000, 1),
            (b'h', _) => (3_600_000, 1),
            (b'd', _) => (86_400_000, 1),
            _ => return None,
        };
        total = total.checked_add(num.checked_mul(unit)?)?;
        num = 0;
        i += len;
    }
    // Anything beyond 30 days is surely a mistake and would overflow timers.
    (total <= 30 * 86_400_000).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("2d"), Some(172_800_000));
        assert_eq!(parse_duration("99999999999999999999s"), None);
        assert_eq!(parse_duration("31d"), None);
        assert_eq!(super::unit_out_of_order("1h30m"), None);
        assert_eq!(super::unit_out_of_order("1s500ms"), None);
        assert_eq!(super::unit_out_of_order("10m10m"), Some("m"));
        assert_eq!(super::unit_out_of_order("30s1m"), Some("m"));
        assert_eq!(super::unit_out_of_order("500ms1s"), Some("s"));
    }
}
