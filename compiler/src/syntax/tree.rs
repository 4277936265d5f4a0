//! The generic tree of a file as the pest grammar (`grammar/callflow.pest`) sees it: lines of
//! tokens and blocks. Reports the problems that belong to this level (unclosed blocks, stray
//! braces, nesting depth, unterminated text, stray characters, malformed literals) and never
//! fails: the rest of the parse works on whatever tree came out.

use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::{FileId, Span};
use pest::Parser;
use pest::iterators::Pair;
use std::borrow::Cow;

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/callflow.pest"]
struct Grammar;

/// Deepest block nesting accepted; beyond it the file is rejected before pest recurses.
pub const MAX_DEPTH: usize = 48;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokKind {
    /// `"text"` (the span includes the quotes).
    Str,
    Date,
    MonthDay,
    Time,
    Duration,
    Number,
    Ident,
    /// An ordinal in figures, `1st` … `5th` (read as `first` … `fifth` where a calendar rule
    /// takes one; anywhere else it is not a word of the language).
    Ordinal,
    /// One of `..` `==` `!=` `<=` `>=` `<` `>` `=` `(` `)` `:` `-` `+` `.` `*` `,` `=>`.
    Punct,
    /// Anything else; already reported.
    Bad,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub kind: TokKind,
    pub span: Span,
    /// The token's text (for `Str`, the unescaped content without quotes).
    pub text: String,
}

#[derive(Clone, Debug)]
pub enum Part {
    Tok(Token),
    Block(Block),
}

impl Part {
    pub fn span(&self) -> Span {
        match self {
            Part::Tok(t) => t.span,
            Part::Block(b) => b.span,
        }
    }
}

/// One statement: its tokens and blocks in order.
#[derive(Clone, Debug)]
pub struct Line {
    pub parts: Vec<Part>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Block {
    pub lines: Vec<Line>,
    /// From `{` to `}` (or to the end of the file when unclosed).
    pub span: Span,
    pub open: Span,
    /// The closing brace; `None` when the file ended first.
    pub close: Option<Span>,
}

/// Parses `text` into lines and blocks, reporting structural problems into `diags`.
pub fn parse(file: FileId, text: &str, diags: &mut Diagnostics) -> Vec<Line> {
    let prepared = match prepare(text) {
        Ok(t) => t,
        Err(Unprepared::UnclosedComment(start)) => {
            // Everything after it would be comment: one precise report instead of blocks that
            // seem never closed.
            diags.push(
                Diagnostic::new(
                    codes::UNCLOSED_COMMENT,
                    Span::new(file, start, start + 2),
                    "this comment is never closed",
                    "this `/*` has no matching `*/`",
                )
                .help(
                    "end the comment with `*/`, or use `//` for a comment to the end of the line",
                ),
            );
            return Vec::new();
        }
        Err(Unprepared::TooDeep(deep)) => {
            diags.push(
                Diagnostic::new(
                    codes::TOO_DEEP,
                    Span::new(file, deep, deep + 1),
                    format!("blocks are nested more than {MAX_DEPTH} levels deep"),
                    "this block is too deep",
                )
                .help("move inner parts into named menus, blocks or subflows"),
            );
            return Vec::new();
        }
    };
    let text: &str = &prepared;
    let file_pair = match Grammar::parse(Rule::file, text) {
        Ok(mut p) => p.next(),
        Err(e) => {
            // The grammar accepts every input; reaching this is a bug in the grammar.
            let at = match e.location {
                pest::error::InputLocation::Pos(p) => p,
                pest::error::InputLocation::Span((s, _)) => s,
            };
            diags.push(
                Diagnostic::new(
                    codes::INTERNAL,
                    Span::new(file, at, at),
                    "the parser could not read this file",
                    "the parser stopped here",
                )
                .help("this is a bug in callflow: please report it with this file"),
            );
            return Vec::new();
        }
    };
    let mut b = Builder { file, text, diags };
    let mut lines = Vec::new();
    for p in file_pair.into_iter().flat_map(|fp| fp.into_inner()) {
        match p.as_rule() {
            Rule::stmt => lines.push(b.line(p)),
            Rule::stray_close => {
                let span = b.span(&p);
                b.diags.push(
                    Diagnostic::new(
                        codes::UNEXPECTED_CLOSE,
                        span,
                        "unexpected `}`",
                        "no block is open here",
                    )
                    .help("remove this `}` or add the `{` that it should close"),
                );
            }
            _ => {}
        }
    }
    lines
}

/// Why a text cannot be given to the grammar (the byte offset of the culprit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unprepared {
    /// The first `{` nested deeper than [`MAX_DEPTH`].
    TooDeep(usize),
    /// A `/*` whose `*/` never comes.
    UnclosedComment(usize),
}

/// Prepares a text for the grammar in one pass: comments (`//` to the end of the line, `/* */`)
/// become spaces, so every byte offset stays the same and the grammar never sees them (pest
/// matching comment text character by character was most of the parse time); and nesting
/// deeper than [`MAX_DEPTH`] is refused, and so is a `/*` without its `*/`.
pub fn prepare(text: &str) -> Result<Cow<'_, str>, Unprepared> {
    let bytes = text.as_bytes();
    let mut blank: Vec<(usize, usize)> = Vec::new();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let start = i;
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                blank.push((start, i));
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let start = i;
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                if i >= bytes.len() {
                    return Err(Unprepared::UnclosedComment(start));
                }
                i += 2;
                blank.push((start, i));
                continue;
            }
            b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Unprepared::TooDeep(i));
                }
            }
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    if blank.is_empty() {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = bytes.to_vec();
    for (a, b) in blank {
        let end = b.min(out.len());
        out[a..end].fill(b' ');
    }
    // Whole comments (from an ASCII `/` to a line end or `*/`) were replaced: still UTF-8.
    Ok(Cow::Owned(String::from_utf8(out).unwrap_or_else(|e| {
        String::from_utf8_lossy(e.as_bytes()).into_owned()
    })))
}

struct Builder<'d> {
    file: FileId,
    text: &'d str,
    diags: &'d mut Diagnostics,
}

impl Builder<'_> {
    /// The last visible character up to the end of `span` (where a "file ends" label can show).
    fn last_char(&self, span: Span) -> Span {
        let end = (span.end as usize).min(self.text.len());
        let visible = self.text[..end].trim_end();
        match visible.char_indices().next_back() {
            Some((i, c)) => Span::new(self.file, i, i + c.len_utf8()),
            None => Span::new(self.file, 0, 0),
        }
    }

    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    fn line(&mut self, p: Pair<Rule>) -> Line {
        let span = self.span(&p);
        let parts = p.into_inner().map(|q| self.part(q)).collect();
        Line { parts, span }
    }

    fn block(&mut self, p: Pair<Rule>) -> Block {
        let span = self.span(&p);
        let open = Span::new(self.file, span.start as usize, span.start as usize + 1);
        let text = p.as_str();
        let close = text
            .ends_with('}')
            .then(|| Span::new(self.file, span.end as usize - 1, span.end as usize));
        let lines: Vec<Line> = p
            .into_inner()
            .filter(|q| q.as_rule() == Rule::stmt)
            .map(|q| self.line(q))
            .collect();
        // A block whose text ends in `}` may still be unclosed if that `}` belongs to an inner
        // block that ended the file; an inner unclosed block reports itself.
        let close = close.filter(|c| lines.last().is_none_or(|l| l.span.end <= c.start));
        if close.is_none() {
            self.diags.push(
                Diagnostic::new(
                    codes::UNCLOSED_BLOCK,
                    open,
                    "this block is never closed",
                    "this `{` has no matching `}`",
                )
                .label(self.last_char(span), "the file ends here")
                .help("add a `}` where the block should end"),
            );
        }
        Block {
            lines,
            span,
            open,
            close,
        }
    }

    fn part(&mut self, p: Pair<Rule>) -> Part {
        if p.as_rule() == Rule::block {
            return Part::Block(self.block(p));
        }
        let span = self.span(&p);
        let raw = p.as_str();
        let (kind, text) = match p.as_rule() {
            Rule::string => (TokKind::Str, self.unescape(raw, span)),
            Rule::bad_string => {
                self.diags.push(
                    Diagnostic::new(
                        codes::UNTERMINATED_TEXT,
                        span,
                        "text in quotes is not closed",
                        "this text has no closing `\"`",
                    )
                    .help("add a `\"` at the end of the text; text cannot span lines"),
                );
                (TokKind::Bad, raw.to_string())
            }
            Rule::date => (TokKind::Date, raw.to_string()),
            Rule::month_day => (TokKind::MonthDay, raw.to_string()),
            Rule::time => (TokKind::Time, raw.to_string()),
            Rule::duration => (TokKind::Duration, raw.to_string()),
            Rule::number => (TokKind::Number, raw.to_string()),
            Rule::ident => (TokKind::Ident, raw.to_string()),
            Rule::foreign_ident => {
                // Read on as the ASCII spelling, so the rest of the flow checks as meant.
                let ascii = ascii_name(raw);
                self.diags.push(
                    Diagnostic::new(
                        codes::UNEXPECTED_CHAR,
                        span,
                        format!("`{raw}` is not a name: names use ASCII letters, digits and `_`"),
                        "letters beyond ASCII",
                    )
                    .help(format!(
                        "write `{ascii}`; prompts and texts in quotes may use any letters"
                    )),
                );
                (TokKind::Ident, ascii)
            }
            Rule::continuation => (
                TokKind::Punct,
                raw[..raw.find([' ', '\t', '\n', '\r', '/']).unwrap_or(raw.len())].to_string(),
            ),
            Rule::punct => (TokKind::Punct, raw.to_string()),
            // Ordinals in figures (`4th thursday of november`): calendars read them.
            Rule::bad_word if ordinal(raw).is_some() => (TokKind::Ordinal, raw.to_string()),
            Rule::bad_word => {
                self.diags.push(
                    Diagnostic::new(
                        codes::BAD_LITERAL,
                        span,
                        format!("`{raw}` is not a number, duration or time"),
                        "cannot read this value",
                    )
                    .help("write numbers as `3`, durations as `30s`, `5m`, `1h30m` or `500ms`, times as `08:00`"),
                );
                (TokKind::Bad, raw.to_string())
            }
            _ => {
                let c = raw.chars().next().unwrap_or(' ');
                let shown = if c.is_control() {
                    format!("{:?}", c)
                } else {
                    format!("`{c}`")
                };
                self.diags.push(
                    Diagnostic::new(
                        codes::UNEXPECTED_CHAR,
                        span,
                        format!("unexpected character {shown}"),
                        "not part of the flow language",
                    )
                    .help(char_help(c)),
                );
                (TokKind::Bad, raw.to_string())
            }
        };
        let span = if kind == TokKind::Punct {
            Span::new(
                self.file,
                span.start as usize,
                span.start as usize + text.len(),
            )
        } else {
            span
        };
        Part::Tok(Token { kind, span, text })
    }

    fn unescape(&mut self, raw: &str, span: Span) -> String {
        let inner = &raw[1..raw.len() - 1];
        if !inner.contains('\\') {
            return inner.to_string();
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((j, other)) => {
                    let at = span.start as usize + 1 + i;
                    self.diags.push(
                        Diagnostic::new(
                            codes::BAD_ESCAPE,
                            Span::new(self.file, at, at + 1 + (j - i - 1) + other.len_utf8()),
                            format!("unknown escape `\\{other}` in text"),
                            "not a known escape",
                        )
                        .help("known escapes are `\\\"`, `\\\\`, `\\n` and `\\t`; write `\\\\` for a backslash"),
                    );
                    out.push(other);
                }
                None => {}
            }
        }
        out
    }
}

/// The word for an ordinal written in figures: `1st` … `5th` (any case).
pub(crate) fn ordinal(raw: &str) -> Option<&'static str> {
    match raw.to_ascii_lowercase().as_str() {
        "1st" => Some("first"),
        "2nd" => Some("second"),
        "3rd" => Some("third"),
        "4th" => Some("fourth"),
        "5th" => Some("fifth"),
        _ => None,
    }
}

/// The ASCII spelling of a name written with other letters: `böse_gruppe` → `boese_gruppe`.
fn ascii_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let s = match c {
            'ä' | 'æ' => "ae",
            'ö' | 'ø' | 'œ' => "oe",
            'ü' => "ue",
            'Ä' | 'Æ' => "Ae",
            'Ö' | 'Ø' | 'Œ' => "Oe",
            'Ü' => "Ue",
            'ß' => "ss",
            'å' => "aa",
            'Å' => "Aa",
            'à' | 'á' | 'â' | 'ã' | 'ā' | 'ą' => "a",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => "i",
            'ò' | 'ó' | 'ô' | 'õ' | 'ō' | 'ő' => "o",
            'ù' | 'ú' | 'û' | 'ū' | 'ů' | 'ű' => "u",
            'ý' | 'ÿ' => "y",
            'ñ' | 'ń' | 'ň' => "n",
            'ç' | 'č' | 'ć' => "c",
            'š' | 'ś' | 'ş' => "s",
            'ž' | 'ź' | 'ż' => "z",
            'ł' => "l",
            'ř' => "r",
            'ğ' => "g",
            'ď' => "d",
            'ť' => "t",
            'À' | 'Á' | 'Â' | 'Ã' | 'Ā' => "A",
            'È' | 'É' | 'Ê' | 'Ë' => "E",
            'Ì' | 'Í' | 'Î' | 'Ï' => "I",
            'Ò' | 'Ó' | 'Ô' | 'Õ' => "O",
            'Ù' | 'Ú' | 'Û' => "U",
            'Ñ' => "N",
            'Ç' | 'Č' => "C",
            'Š' => "S",
            'Ž' => "Z",
            _ => "_",
        };
        out.push_str(s);
    }
    out
}

fn char_help(c: char) -> String {
    match c {
        '\'' => "text goes in double quotes: \"like this\"".into(),
        '#' => "comments start with `//`; a `#` key goes in quotes: \"#\"".into(),
        '[' | ']' => "lists are written with commas: `members anna, ben`".into(),
        '&' | '|' | '!' => "write conditions with `and`, `or` and `not`".into(),
        _ => "remove it, or put it inside quotes if it is part of a text".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> (Vec<Line>, Vec<Diagnostic>) {
        let mut d = Diagnostics::default();
        let lines = parse(FileId(0), text, &mut d);
        (lines, d.list)
    }

    #[test]
    fn ordinals_in_figures_read_as_words_and_foreign_names_as_ascii() {
        let (lines, diags) = tree("4th thursday of november 1st 5TH");
        let texts: Vec<&str> = lines[0]
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Tok(t) => Some(t.text.as_str()),
                Part::Block(_) => None,
            })
            .collect();
        assert_eq!(texts, ["4th", "thursday", "of", "november", "1st", "5TH"]);
        assert_eq!(kinds(&lines[0])[0], TokKind::Ordinal);
        assert!(diags.is_empty());
        let (lines, diags) = tree("route böse_gruppe");
        assert_eq!(kinds(&lines[0]), [TokKind::Ident, TokKind::Ident]);
        assert_eq!(diags.len(), 1, "one report for the name");
        let (_, diags) = tree("6th monday");
        assert_eq!(diags.len(), 1, "6th is no ordinal");
    }

    fn kinds(line: &Line) -> Vec<TokKind> {
        line.parts
            .iter()
            .filter_map(|p| match p {
                Part::Tok(t) => Some(t.kind),
                Part::Block(_) => None,
            })
            .collect()
    }

    #[test]
    fn tokens_of_a_line() {
        let (lines, d) =
            tree("mon-fri 08:00-18:00 2026-12-24..2026-12-26 every 01-01 30s \"a\\\"b\" de:5\n");
        assert!(d.is_empty(), "{d:?}");
        use TokKind::*;
        assert_eq!(
            kinds(&lines[0]),
            vec![
                Ident, Punct, Ident, Time, Punct, Time, Date, Punct, Date, Ident, MonthDay,
                Duration, Str, Ident, Punct, Number
            ]
        );
        let Part::Tok(s) = &lines[0].parts[12] else {
            panic!()
        };
        assert_eq!(s.text, "a\"b");
    }

    #[test]
    fn lines_blocks_and_continuations() {
        let (lines, d) = tree("a {\n b 1; c\n}\nmembers x,\n  y\n\"1\" =>\n route s\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(lines.len(), 3);
        let Part::Block(b) = &lines[0].parts[1] else {
            panic!()
        };
        assert_eq!(b.lines.len(), 2);
        assert!(b.close.is_some());
        assert_eq!(lines[1].parts.len(), 4);
        assert_eq!(lines[2].parts.len(), 4);
    }

    #[test]
    fn structural_problems_are_reported_and_parsing_goes_on() {
        let (lines, d) = tree("}\nflow a {\n menu m {\n");
        let codes: Vec<_> = d.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, vec!["CF0002", "CF0001", "CF0001"]);
        assert_eq!(lines.len(), 1);
        let (_, d) = tree("play \"abc\nx @ 5x");
        let codes: Vec<_> = d.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, vec!["CF0004", "CF0005", "CF0011"]);
    }

    #[test]
    fn deep_nesting_is_refused_before_recursing() {
        let text = "a {".repeat(100_000);
        let (lines, d) = tree(&text);
        assert!(lines.is_empty());
        assert_eq!(d[0].code.as_str(), "CF0003");
    }
}
