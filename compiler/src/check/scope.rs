//! Names: the project-wide table of definitions (one namespace for hours, holidays, groups,
//! agents, voicemail boxes, prompts, switches, lookups and flows), which files see which
//! definitions (`use`), resolution with did-you-mean, and use tracking for unused warnings.

use crate::ast::{DefKind, Ident, Item};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::project::Project;
use crate::source::{FileId, Span};
use std::cell::Cell;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DefId(pub u32);

#[derive(Debug)]
pub struct Def {
    pub kind: DefKind,
    pub name: String,
    pub span: Span,
    pub file: FileId,
    /// Index of the item in its module.
    pub item: usize,
}

pub struct Globals {
    pub defs: Vec<Def>,
    /// Every definition of a name (more than one only when reported as duplicates).
    by_name: HashMap<String, Vec<DefId>>,
    used: Vec<Cell<bool>>,
    /// Per file: which files it sees.
    visible: Vec<Vec<bool>>,
}

fn item_name(item: &Item) -> Option<(DefKind, &Ident)> {
    Some(match item {
        Item::Use(_) | Item::Test(_) => return None,
        Item::Flow(f) => (DefKind::Flow, &f.name),
        Item::Hours(h) => (DefKind::Hours, &h.name),
        Item::Holidays(h) => (DefKind::Holidays, &h.name),
        Item::Group(g) => (DefKind::Group, &g.name),
        Item::Agent(a) => (DefKind::Agent, &a.name),
        Item::Voicemail(v) => (DefKind::Voicemail, &v.name),
        Item::Prompt(p) => (DefKind::Prompt, &p.name),
        Item::Switch(s) => (DefKind::Switch, &s.name),
        Item::Lookup(l) => (DefKind::Lookup, &l.name),
    })
}

impl Globals {
    /// Collects every definition of the project, reporting duplicates (CF0102).
    pub fn collect(project: &Project, diags: &mut Diagnostics) -> Globals {
        let mut g = Globals {
            defs: Vec::new(),
            by_name: HashMap::new(),
            used: Vec::new(),
            visible: (0..project.modules.len())
                .map(|f| project.visible(FileId(f as u32)))
                .collect(),
        };
        for module in &project.modules {
            for (i, item) in module.items.iter().enumerate() {
                let Some((kind, name)) = item_name(item) else {
                    continue;
                };
                let id = DefId(g.defs.len() as u32);
                if let Some(&prev) = g.by_name.get(&name.name).and_then(|v| v.first()) {
                    let p = &g.defs[prev.0 as usize];
                    let what = if p.kind == kind {
                        format!("{} `{}` is defined twice", kind.keyword(), name.name)
                    } else {
                        format!(
                            "`{}` is already the name of {}",
                            name.name,
                            p.kind.article()
                        )
                    };
                    diags.push(
                        Diagnostic::new(
                            codes::DUPLICATE_NAME,
                            name.span,
                            what,
                            "defined again here",
                        )
                        .label(p.span, "first defined here")
                        .help(
                            "every definition needs its own name, across all files of the project",
                        ),
                    );
                }
                g.by_name.entry(name.name.clone()).or_default().push(id);
                g.defs.push(Def {
                    kind,
                    name: name.name.clone(),
                    span: name.span,
                    file: module.file,
                    item: i,
                });
                g.used.push(Cell::new(kind == DefKind::Flow));
            }
        }
        g
    }

    /// The definition with this name, if any (no visibility or kind check, no diagnostics).
    pub fn get(&self, name: &str) -> Option<DefId> {
        self.by_name.get(name).and_then(|v| v.first()).copied()
    }

    /// Whether the definition is visible from `from` (same file or a used file).
    pub fn visible_from(&self, id: DefId, from: FileId) -> bool {
        self.visible[from.0 as usize][self.def(id).file.0 as usize]
    }

    pub fn def(&self, id: DefId) -> &Def {
        &self.defs[id.0 as usize]
    }

    pub fn mark_used(&self, id: DefId) {
        self.used[id.0 as usize].set(true);
    }

    pub fn is_used(&self, id: DefId) -> bool {
        self.used[id.0 as usize].get()
    }

    /// Resolves `name` as a `want` seen from `from`, reporting unknown, wrong-kind and
    /// not-visible names.
    pub fn resolve(
        &self,
        name: &Ident,
        want: DefKind,
        from: FileId,
        project: &Project,
        diags: &mut Diagnostics,
    ) -> Option<DefId> {
        let visible = &self.visible[from.0 as usize];
        // Among duplicates (already reported), prefer one of the wanted kind that is visible here.
        let found = self.by_name.get(&name.name).and_then(|ids| {
            ids.iter()
                .copied()
                .find(|&i| self.def(i).kind == want && visible[self.def(i).file.0 as usize])
                .or_else(|| ids.first().copied())
        });
        match found {
            Some(id) => {
                let def = self.def(id);
                if def.kind != want {
                    diags.push(
                        wrong_kind(
                            name,
                            def.kind,
                            want,
                            def.span,
                            &format!("`{}` is defined here", name.name),
                        )
                        .suggest(
                            &name.name,
                            self.candidates(want, visible),
                            format!("name {} here", want.article()),
                        ),
                    );
                    return None;
                }
                self.mark_used(id);
                if !visible[def.file.0 as usize] {
                    let file = &project.sources.get(def.file).name;
                    diags.push(
                        Diagnostic::new(
                            codes::UNKNOWN_NAME,
                            name.span,
                            format!(
                                "{} `{}` is defined in `{}`, which this file does not use",
                                want.keyword(),
                                name.name,
                                file
                            ),
                            "not visible here",
                        )
                        .label(def.span, "defined here")
                        .help(format!(
                            "add `use \"{}\"` at the top of this file",
                            relative(project, from, def.file)
                        )),
                    );
                    return None;
                }
                Some(id)
            }
            None => {
                let d = Diagnostic::new(
                    codes::UNKNOWN_NAME,
                    name.span,
                    format!("unknown {} `{}`", want.keyword(), name.name),
                    format!("no {} has this name", want.keyword()),
                );
                diags.push(d.suggest(
                    &name.name,
                    self.candidates(want, visible),
                    format!(
                        "define it with `{} {} {{ ... }}`, or `use` the file that defines it",
                        want.keyword(),
                        name.name
                    ),
                ));
                None
            }
        }
    }

    fn candidates<'a>(
        &'a self,
        want: DefKind,
        visible: &'a [bool],
    ) -> impl Iterator<Item = &'a str> {
        self.defs
            .iter()
            .filter(move |d| d.kind == want && visible[d.file.0 as usize])
            .map(|d| d.name.as_str())
    }
}

/// The path of `to` as written in a `use` in `from` (same folder: the file name).
fn relative(project: &Project, from: FileId, to: FileId) -> String {
    let a = &project.paths[from.0 as usize];
    let b = &project.paths[to.0 as usize];
    match (a.parent(), b.parent()) {
        (Some(pa), Some(pb)) if pa == pb => b
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        _ => b.to_string_lossy().into_owned(),
    }
}

/// "`NAME` is a set of hours, not a group": a name used for the wrong kind of definition
/// (CF0106), with where it is defined (`label`). Callers add the help.
pub fn wrong_kind(
    name: &Ident,
    actual: DefKind,
    want: DefKind,
    defined: Span,
    label: &str,
) -> Diagnostic {
    Diagnostic::new(
        codes::WRONG_KIND,
        name.span,
        format!(
            "`{}` is {}, not {}",
            name.name,
            actual.article(),
            want.article()
        ),
        format!("expected {} here", want.article()),
    )
    .label(defined, label)
}
