//! Syntax: text → the typed syntax tree of one file (`ast`), with diagnostics in admin words.
//! `tree` turns pest's parse into lines, blocks and tokens; the other modules read statements.

pub mod tree;
