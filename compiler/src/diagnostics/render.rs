//! The one place diagnostics become text: miette's graphical report for people, one JSON object
//! per diagnostic for tools, and GitHub workflow-command annotations for CI. Pure functions of
//! the diagnostic and the sources; the CLI decides where the text goes.

use super::{Diagnostic, Label, Severity};
use crate::source::{LineCol, SourceMap};
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;
use std::fmt;

/// How to draw human-readable reports.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
    pub unicode: bool,
    pub width: usize,
}

impl Style {
    /// The fixed style of golden tests: no colour, unicode frames, 100 columns.
    pub const PLAIN: Style = Style {
        color: false,
        unicode: true,
        width: 100,
    };
}

/// Renders one diagnostic the way a person reads it in a terminal.
pub fn human(d: &Diagnostic, sources: &SourceMap, style: Style) -> String {
    let theme = match (style.unicode, style.color) {
        (true, true) => GraphicalTheme::unicode(),
        (true, false) => GraphicalTheme::unicode_nocolor(),
        (false, true) => GraphicalTheme::ascii(),
        (false, false) => GraphicalTheme::none(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(style.width)
        .with_links(false)
        .with_urls(false);
    let report = Report::new(d, sources);
    let mut out = String::new();
    if handler.render_report(&mut out, &report).is_err() {
        // Rendering into a String cannot fail short of a bug in the renderer: fall back to a line.
        out = format!("{}[{}]: {}\n", d.severity().as_str(), d.code, d.message);
    }
    out
}

/// A position as tools want it: file, 1-based line and column, end line and column.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
}

#[derive(Debug, Serialize)]
pub struct JsonLabel {
    #[serde(flatten)]
    pub location: Location,
    pub text: String,
    pub primary: bool,
}

/// One diagnostic as a JSON object (the `--format json` output, one object per line).
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
    #[serde(flatten)]
    pub location: Location,
    pub labels: Vec<JsonLabel>,
    pub help: Option<String>,
}

pub fn location(label: &Label, sources: &SourceMap) -> Location {
    let file = sources.get(label.span.file);
    let LineCol { line, column } = file.line_col(label.span.start);
    let end = file.line_col(label.span.end);
    Location {
        file: file.name.clone(),
        line,
        column,
        end_line: end.line,
        end_column: end.column,
    }
}

pub fn json(d: &Diagnostic, sources: &SourceMap) -> JsonDiagnostic {
    let mut labels = vec![JsonLabel {
        location: location(&d.primary, sources),
        text: d.primary.text.clone(),
        primary: true,
    }];
    labels.extend(d.labels.iter().map(|l| JsonLabel {
        location: location(l, sources),
        text: l.text.clone(),
        primary: false,
    }));
    JsonDiagnostic {
        code: d.code.as_str(),
        severity: d.severity().as_str(),
        message: d.message.clone(),
        location: location(&d.primary, sources),
        labels,
        help: d.help.clone(),
    }
}

/// A GitHub Actions workflow command: `::error file=..,line=..::message`.
pub fn github(d: &Diagnostic, sources: &SourceMap) -> String {
    let loc = location(&d.primary, sources);
    let level = match d.severity() {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut message = format!("{}: {}", d.message, d.primary.text);
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    format!(
        "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}",
        escape_property(&loc.file),
        loc.line,
        loc.column,
        loc.end_line,
        loc.end_column,
        d.code,
        escape_data(&message)
    )
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The adapter miette renders: labels in the primary file go in the main snippet, labels in
/// other files become related reports with their own source.
#[derive(Debug)]
struct Report<'a> {
    d: &'a Diagnostic,
    source: Text,
    labels: Vec<LabeledSpan>,
    related: Vec<Related>,
}

#[derive(Debug)]
struct Related {
    source: Text,
    label: LabeledSpan,
}

fn span(label: &Label) -> SourceSpan {
    SourceSpan::new((label.span.start as usize).into(), label.span.len())
}

fn named(sources: &SourceMap, file: crate::source::FileId) -> Text {
    let f = sources.get(file);
    Text {
        name: f.name.clone(),
        text: f.text.clone(),
    }
}

/// A named source whose reported column counts characters, as the JSON and GitHub formats do
/// (miette's own counts bytes: `ü` would shift every column after it).
#[derive(Debug)]
struct Text {
    name: String,
    text: std::sync::Arc<str>,
}

impl SourceCode for Text {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        let mut column = inner.column();
        if column > 0 {
            // The column is the bytes from the line's start to the span: count characters.
            let end = span.offset().min(self.text.len());
            let start = end.saturating_sub(column);
            if let Some(line) = self.text.get(start..end) {
                column = line.chars().count();
            }
        }
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            column,
            inner.line_count(),
        )))
    }
}

impl<'a> Report<'a> {
    fn new(d: &'a Diagnostic, sources: &SourceMap) -> Report<'a> {
        let file = d.primary.span.file;
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(d.primary.text.clone()),
            span(&d.primary),
        )];
        let mut related = Vec::new();
        for l in &d.labels {
            if l.span.file == file {
                labels.push(LabeledSpan::new_with_span(Some(l.text.clone()), span(l)));
            } else {
                related.push(Related {
                    source: named(sources, l.span.file),
                    label: LabeledSpan::new_primary_with_span(Some(l.text.clone()), span(l)),
                });
            }
        }
        Report {
            d,
            source: named(sources, file),
            labels,
            related,
        }
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.d.code.as_str()))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity() {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.d
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}

impl fmt::Display for Related {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("see also")
    }
}

impl std::error::Error for Related {}

impl miette::Diagnostic for Related {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(self.label.clone())))
    }
}
