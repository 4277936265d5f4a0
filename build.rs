//! Embeds `docs/errors/*.md` into the binary for `callflow explain`.

use std::fmt::Write;

fn main() {
    let dir = std::path::Path::new("docs/errors");
    println!("cargo:rerun-if-changed=docs/errors");
    let mut pages: Vec<(String, String)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "md") {
                // A page's edits must rebuild the binary (a folder only changes when files come or go).
                println!("cargo:rerun-if-changed={}", path.display());
                let code = path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let abs = std::fs::canonicalize(&path).unwrap_or(path);
                pages.push((code, abs.display().to_string()));
            }
        }
    }
    pages.sort();
    let mut out = String::from(
        "/// `(code, page)` for every page in docs/errors.\npub static PAGES: &[(&str, &str)] = &[\n",
    );
    for (code, path) in pages {
        let _ = writeln!(out, "    ({code:?}, include_str!({path:?})),");
    }
    out.push_str("];\n");
    let dest =
        std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("error_pages.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        println!("cargo:warning=cannot write {}: {e}", dest.display());
    }
}
