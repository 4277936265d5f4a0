//! The callflow language: source files → syntax → checked model → (later) bytecode, with
//! diagnostics for every mistake. No I/O and no clock: callers hand in texts and file facts.

pub mod diagnostics;
pub mod source;
pub mod syntax;
