//! Diagnostics as data: a code from the registry, a message, a primary label, related labels
//! (possibly in other files) and a help text. Produced by every phase; rendered in one place
//! (`render`) as human text (miette), JSON or GitHub annotations. No phase prints anything.

pub mod codes;
pub mod render;
pub use crate::suggest;

use crate::source::Span;
pub use codes::{Code, CodeInfo};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub primary: Label,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with its code, the message and the primary label.
    pub fn new(
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            primary: Label {
                span,
                text: label.into(),
            },
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Diagnostic {
        self.help = Some(text.into());
        self
    }

    /// Adds the did-you-mean help when a close candidate exists, else the given fallback help.
    pub fn suggest<'a>(
        self,
        name: &str,
        candidates: impl IntoIterator<Item = &'a str>,
        fallback: impl Into<String>,
    ) -> Diagnostic {
        match suggest::closest(name, candidates) {
            Some(best) => self.help(format!("did you mean `{best}`?")),
            None => self.help(fallback),
        }
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}

/// Collects diagnostics during a phase.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub list: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.severity() == Severity::Error)
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.list.extend(other.list);
    }

    /// Sorted by file and position, then code, for deterministic output.
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        self.list.sort_by(|a, b| {
            (
                a.primary.span.file,
                a.primary.span.start,
                a.code.0.code,
                &a.message,
            )
                .cmp(&(
                    b.primary.span.file,
                    b.primary.span.start,
                    b.code.0.code,
                    &b.message,
                ))
        });
        self.list.dedup();
        self.list
    }
}
