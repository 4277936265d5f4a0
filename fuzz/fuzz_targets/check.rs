//! Coverage-guided fuzzing of the parser and checker: any bytes as a flow file (plus the same
//! bytes as a used `common.flow`) must give diagnostics, never a panic or a stack overflow.
//! Run: `cargo fuzz run check` (see docs/ARCHITECTURE.md).
#![no_main]

use callflow_compiler::Project;
use callflow_compiler::check::media::{self, Facts};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut p = Project::new();
    p.add_file(Path::new("flows/a.flow"), text.clone(), true);
    for w in p.wanted() {
        p.add_file(&w, text.clone(), false);
    }
    for w in p.wanted() {
        p.unreadable(&w, "missing");
    }
    let mut checked = callflow_compiler::check(&p);
    media::check(&mut checked, &Facts::default());
});
