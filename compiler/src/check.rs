//! Check: the whole project's syntax trees → every problem found, in one pass. Resolves names
//! across files (`scope`), then checks each area: flows and their statements (`flow`), menu
//! keys (`keys`), the flow graph (`graph`: unreachable code, paths that end silently, loops),
//! recording consent (`consent`), calendars (`time`), groups and routes (`routing`), phone
//! numbers (`numbers`) and prompt files (`media`, with facts the caller read from disk).

pub mod consent;
pub mod flow;
pub mod graph;
pub mod keys;
pub mod media;
pub mod numbers;
pub mod routing;
pub mod scope;
pub mod tests;
pub mod time;

use crate::ast::{DefKind, Flow, Item};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::project::Project;
use crate::source::FileId;
use scope::Globals;

pub use media::{MediaFact, PromptFile};

/// The result of checking a project: the diagnostics so far and what the media check needs.
pub struct Checked<'p> {
    pub project: &'p Project,
    pub globals: Globals,
    pub diags: Diagnostics,
    /// Prompt files the flows play, with where they are named.
    pub prompt_files: Vec<PromptFile>,
    /// The say packs the flows need (where they say values), with where.
    pub say_packs: Vec<media::SayPack>,
    /// Per flow (by the span of its name), the type of each variable.
    pub var_types:
        std::collections::HashMap<crate::source::Span, std::collections::HashMap<String, flow::Ty>>,
}

/// Shared read-only context of the checks.
pub struct Cx<'p> {
    pub project: &'p Project,
    pub globals: Globals,
}

impl<'p> Cx<'p> {
    pub fn text(&self, span: crate::source::Span) -> &str {
        self.project.sources.slice(span)
    }

    /// The item a global definition points at.
    pub fn item(&self, id: scope::DefId) -> &'p Item {
        let d = self.globals.def(id);
        &self.project.modules[d.file.0 as usize].items[d.item]
    }
}

/// Checks everything except prompt files; call [`media::check`] with the facts afterwards.
pub fn check(project: &Project) -> Checked<'_> {
    let mut diags = Diagnostics::default();
    numbers::countries(project, &mut diags);
    let globals = Globals::collect(project, &mut diags);
    let cx = Cx { project, globals };
    let mut prompt_files = Vec::new();
    let mut var_types = std::collections::HashMap::new();
    let mut say_packs: Vec<media::SayPack> = Vec::new();
    let mut flows: Vec<(FileId, &Flow)> = Vec::new();
    for module in &project.modules {
        for item in &module.items {
            match item {
                Item::Flow(f) => flows.push((module.file, f)),
                Item::Hours(h) => time::hours(&cx, module.file, h, &mut diags),
                Item::Holidays(h) => time::holidays(h, &mut diags),
                Item::Group(g) => routing::group(&cx, module.file, g, &mut diags),
                Item::Agent(a) => routing::agent(a, &mut diags),
                Item::Voicemail(v) => routing::voicemail(v, &mut diags),
                Item::Lookup(l) => flow::lookup_def(l, &mut diags),
                Item::Use(_) | Item::Prompt(_) | Item::Switch(_) | Item::Test(_) => {}
            }
        }
    }
    for &(file, f) in &flows {
        let checked = flow::check(&cx, file, f, &mut diags);
        var_types.insert(f.name.span, checked.var_types.clone());
        graph::check(&cx, f, &checked, &mut diags);
        consent::check(&cx, f, &checked, &mut diags);
        prompt_files.extend(media::files(&cx, file, f, &checked));
        for pack in media::say_packs(&cx, file, f, &checked) {
            match say_packs.iter_mut().find(|p| p.dir == pack.dir) {
                Some(p) => p.uses.extend(pack.uses),
                None => say_packs.push(pack),
            }
        }
    }
    // One entry per file, however many flows play it.
    let mut merged: Vec<PromptFile> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for pf in prompt_files {
        let key = (pf.path.clone(), pf.prompt.clone(), pf.language.clone());
        match index.get(&key) {
            Some(&i) => {
                let m: &mut PromptFile = &mut merged[i];
                m.uses.extend(pf.uses);
            }
            None => {
                index.insert(key, merged.len());
                merged.push(pf);
            }
        }
    }
    for m in &mut merged {
        m.uses.sort();
        m.uses.dedup();
    }
    let prompt_files = merged;
    numbers::check(&flows, &mut diags);
    for module in &project.modules {
        for item in &module.items {
            if let Item::Test(t) = item {
                tests::check(&cx, module.file, t, &flows, &mut diags);
            }
        }
    }
    unused(&cx, &mut diags);
    Checked {
        project,
        globals: cx.globals,
        diags,
        prompt_files,
        say_packs,
        var_types,
    }
}

/// Warns about definitions no flow uses, in the files the user gave (CF0107).
fn unused(cx: &Cx, diags: &mut Diagnostics) {
    for (i, def) in cx.globals.defs.iter().enumerate() {
        if cx.globals.is_used(scope::DefId(i as u32)) || !cx.project.explicit[def.file.0 as usize] {
            continue;
        }
        let hint = match def.kind {
            DefKind::Agent => "add the agent to a group's `members`, or remove it",
            DefKind::Hours => "check it with `open(NAME)` in a flow, or remove it",
            DefKind::Holidays => {
                "check it with `holiday(NAME)` or `closed NAME` in hours, or remove it"
            }
            DefKind::Group => "route calls to it with `route NAME`, or remove it",
            DefKind::Switch => "check it with `switch(NAME)` in a flow, or remove it",
            _ => "use it in a flow, or remove it",
        };
        diags.push(
            Diagnostic::new(
                codes::UNUSED,
                def.span,
                format!("{} `{}` is never used", def.kind.keyword(), def.name),
                "defined here but never used",
            )
            .help(hint),
        );
    }
}
