//! The callflow language: source files → syntax → checked project → (later) bytecode, with
//! diagnostics for every mistake. No I/O and no clock: callers hand in texts and file facts.

pub mod ast;
pub mod bytecode;
pub mod calendar;
pub mod check;
pub mod diagnostics;
pub mod lower;
pub mod pattern;
pub mod project;
pub mod source;
pub mod syntax;

pub use check::{Checked, check};
pub use project::Project;
