//! A project: the files handed in by the caller, parsed as they arrive, and the `use`d files
//! still wanted. The caller (the CLI) owns all I/O: it adds the files it read, asks which used
//! files are still missing, reads those, and reports the ones it could not read.

use crate::ast::{Item, Module, Text};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::{FileId, SourceMap};
use crate::syntax;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

#[derive(Default)]
pub struct Project {
    pub sources: SourceMap,
    pub modules: Vec<Module>,
    /// Given by the user (not only pulled in by `use`): unused definitions are reported there.
    pub explicit: Vec<bool>,
    /// Each file's normalized path.
    pub paths: Vec<PathBuf>,
    by_path: HashMap<PathBuf, FileId>,
    /// The files each file uses, once loaded.
    pub uses: Vec<Vec<FileId>>,
    /// Files that were wanted but could not be read (placeholders without text).
    pub missing: Vec<FileId>,
    /// Used paths not loaded yet, with the files that use them.
    waiting: HashMap<PathBuf, Vec<FileId>>,
    pub diags: Diagnostics,
}

impl Project {
    pub fn new() -> Project {
        Project::default()
    }

    /// Adds and parses a file. `path` is how the file is named in messages and where its
    /// `use`d files are looked for. Adding a file twice returns the first id.
    pub fn add_file(&mut self, path: &Path, text: String, explicit: bool) -> FileId {
        let key = normalize(path);
        if let Some(&id) = self.by_path.get(&key) {
            if explicit {
                self.explicit[id.0 as usize] = true;
            }
            return id;
        }
        let id = self
            .sources
            .add(key.to_string_lossy().replace('\\', "/"), text);
        let text = self.sources.get(id).text.clone();
        let module = syntax::parse(id, &text, &mut self.diags);
        self.modules.push(module);
        self.explicit.push(explicit);
        self.paths.push(key.clone());
        self.uses.push(Vec::new());
        self.by_path.insert(key.clone(), id);
        self.link(id, &key);
        id
    }

    /// The `use` statements of a file with the paths they name.
    fn use_targets(&self, file: FileId) -> Vec<(&Text, PathBuf)> {
        let dir = self.paths[file.0 as usize]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        self.modules[file.0 as usize]
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Use(t) => Some((t, normalize(&dir.join(&t.value)))),
                _ => None,
            })
            .collect()
    }

    /// Connects a new file with the files it uses and the files that were waiting for it.
    fn link(&mut self, id: FileId, key: &Path) {
        let targets: Vec<PathBuf> = self.use_targets(id).into_iter().map(|(_, p)| p).collect();
        for p in targets {
            match self.by_path.get(&p) {
                Some(&t) => self.uses[id.0 as usize].push(t),
                None => self.waiting.entry(p).or_default().push(id),
            }
        }
        if let Some(users) = self.waiting.remove(key) {
            for u in users {
                self.uses[u.0 as usize].push(id);
            }
        }
    }

    /// Used files that are not loaded yet (normalized paths to read next), in a stable order.
    pub fn wanted(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.waiting.keys().cloned().collect();
        out.sort();
        out
    }

    /// Reports that a used file could not be read, at every `use` that names it.
    pub fn unreadable(&mut self, path: &Path, reason: &str) {
        let key = normalize(path);
        let mut found = Vec::new();
        for f in 0..self.modules.len() {
            for (t, p) in self.use_targets(FileId(f as u32)) {
                if p == key {
                    found.push(t.span);
                }
            }
        }
        for span in found {
            self.diags.push(
                Diagnostic::new(
                    codes::USE_UNREADABLE,
                    span,
                    format!("cannot read `{}`: {reason}", key.display()),
                    "this file cannot be read",
                )
                .help("the path is relative to the file that uses it"),
            );
        }
        // Remember it so `wanted` does not ask again.
        let id = self
            .sources
            .add(key.to_string_lossy().into_owned(), String::new());
        self.modules.push(Module {
            file: id,
            items: Vec::new(),
            country: None,
        });
        self.explicit.push(false);
        self.paths.push(key.clone());
        self.uses.push(Vec::new());
        self.by_path.insert(key.clone(), id);
        self.link(id, &key);
    }

    /// How many files were read (not counting used files that could not be read).
    pub fn files_read(&self) -> usize {
        self.sources.len() - self.missing.len()
    }

    /// The files visible from `file`: itself and everything it uses, transitively.
    pub fn visible(&self, file: FileId) -> Vec<bool> {
        let mut seen = vec![false; self.modules.len()];
        let mut stack = vec![file];
        while let Some(f) = stack.pop() {
            if std::mem::replace(&mut seen[f.0 as usize], true) {
                continue;
            }
            stack.extend(self.uses[f.0 as usize].iter().copied());
        }
        seen
    }
}

/// Lexical normalization: drops `.`, resolves `..` against earlier parts. No file system access.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new("flows/./a/../b.flow")),
            PathBuf::from("flows/b.flow")
        );
        assert_eq!(normalize(Path::new("../x/../y")), PathBuf::from("../y"));
    }

    #[test]
    fn uses_are_wanted_until_loaded() {
        let mut p = Project::new();
        p.add_file(
            Path::new("flows/a.flow"),
            "use \"common.flow\"\n".into(),
            true,
        );
        assert_eq!(p.wanted(), vec![PathBuf::from("flows/common.flow")]);
        p.add_file(Path::new("flows/common.flow"), String::new(), false);
        assert!(p.wanted().is_empty());
        assert_eq!(p.visible(FileId(0)), vec![true, true]);
        assert_eq!(p.visible(FileId(1)), vec![false, true]);
    }
}
