//! The callflow language: source files → syntax → checked project → bytecode, with diagnostics
//! for every mistake. No I/O and no clock: callers hand in texts and file facts.
//!
//! Without the `check` feature (on by default) the crate is only what a runtime needs: the
//! bytecode (types, file format, verifier, disassembler) and what the language shares with the
//! VM (number patterns, phone numbers, weekdays, where a route's endings go) — no parser, no checker, no diagnostics.

pub mod bytecode;
pub mod duration;
pub mod numbers;
pub mod outcome;
pub mod pattern;
pub mod say;
pub mod suggest;
pub mod week;

#[cfg(feature = "check")]
pub mod ast;
#[cfg(feature = "check")]
pub mod calendar;
#[cfg(feature = "check")]
pub mod check;
#[cfg(feature = "check")]
pub mod diagnostics;
#[cfg(feature = "check")]
pub mod lower;
#[cfg(feature = "check")]
pub mod project;
#[cfg(feature = "check")]
pub mod source;
#[cfg(feature = "check")]
pub mod syntax;

#[cfg(feature = "check")]
pub use check::{Checked, check};
#[cfg(feature = "check")]
pub use project::Project;
