//! Syntax: the text of one file → its typed syntax tree (`ast::Module`), with diagnostics in
//! admin words. `tree` reads the shape (lines, blocks, tokens) with the pest grammar; `items`,
//! `stmt`, `cond` and `calendar` read the meaning of each line. Never fails: a broken statement
//! is reported and skipped, and the rest of the file is still read.

pub mod calendar;
pub mod cond;
pub mod cursor;
pub mod items;
pub mod stmt;
pub mod test;
pub mod tree;

use crate::ast::{Ident, Module};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::{FileId, Span};

/// Parses one file.
pub fn parse(file: FileId, text: &str, diags: &mut Diagnostics) -> Module {
    let lines = tree::parse(file, text, diags);
    let mut p = Parser { diags };
    let (items, country) = p.items(&lines);
    Module {
        file,
        items,
        country,
    }
}

pub(crate) struct Parser<'d> {
    pub diags: &'d mut Diagnostics,
}

/// Remembers which settings a block already had, to report the second one (CF0008).
#[derive(Default)]
pub(crate) struct Seen(Vec<(String, Span)>);

impl Seen {
    /// True the first time `kw` is seen; reports a duplicate otherwise.
    pub fn first(&mut self, kw: &Ident, diags: &mut Diagnostics) -> bool {
        if let Some((_, prev)) = self.0.iter().find(|(n, _)| *n == kw.name) {
            diags.push(
                Diagnostic::new(
                    codes::DUPLICATE_SETTING,
                    kw.span,
                    format!("`{}` is set twice", kw.name),
                    "set again here",
                )
                .label(*prev, "first set here")
                .help("keep one of them"),
            );
            return false;
        }
        self.0.push((kw.name.clone(), kw.span));
        true
    }
}

/// Reports an unknown keyword with a did-you-mean over the keywords valid in this place.
pub(crate) fn unknown_keyword(diags: &mut Diagnostics, word: &Ident, place: &str, known: &[&str]) {
    let list = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    diags.push(
        Diagnostic::new(
            codes::UNKNOWN_KEYWORD,
            word.span,
            format!("unknown keyword `{}` {place}", word.name),
            "not known here",
        )
        .suggest(
            &word.name,
            known.iter().copied(),
            format!("known here: {list}"),
        ),
    );
}
