//! Property test: the parser and checker never panic and never overflow the stack, on random
//! token soup, on mutations of real flows, and on pathological nesting. Bounded (runs in the
//! normal test suite); `CALLFLOW_FUZZ_ITERS` raises the count, `CALLFLOW_FUZZ_SEED` the seed.
//! The unbounded, coverage-guided version is the `cargo fuzz` target in `fuzz/`.

use callflow_compiler::Project;
use callflow_compiler::check::media::{self, Facts};
use std::path::{Path, PathBuf};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "flow",
    "start",
    "menu",
    "route",
    "if",
    "else",
    "not",
    "and",
    "or",
    "play",
    "\"1\"",
    "=>",
    "{",
    "}",
    "\n",
    ";",
    "(",
    ")",
    ",",
    ":",
    "..",
    "-",
    "==",
    "record",
    "ask",
    "consent",
    "goto",
    "call",
    "subflow",
    "block",
    "return",
    "hours",
    "holidays",
    "group",
    "agent",
    "members",
    "tier",
    "strategy",
    "priority",
    "skills",
    "mon-fri",
    "08:00-18:00",
    "22:00-06:00",
    "overnight",
    "2026-02-30",
    "2026-12-24..2026-12-26",
    "every",
    "12-25",
    "easter",
    "+",
    "1",
    "last",
    "monday",
    "of",
    "may",
    "numbers",
    "\"+49 30 123456\"",
    "\"200\"",
    "timezone",
    "\"Europe/Berlin\"",
    "open(h)",
    "holiday(x)",
    "consented",
    "queue",
    "max_wait",
    "10m",
    "5s",
    "sticky",
    "today",
    "\"",
    "\\",
    "é",
    "€",
    "\u{0}",
    "/*",
    "*/",
    "//",
    "x",
    "h",
    "use",
    "\"a.flow\"",
    "collect",
    "length",
    "6..10",
    "lookup",
    "crm.tier",
    "voicemail",
    "greeting",
    "busy",
    "switch",
    "transfer",
    "\"sip:a@b\"",
    "caller",
    "is",
    "anonymous",
    "matches",
    "\"+49*\"",
    "in",
    "say",
    "digits",
    "key",
];

fn check(texts: &[(&str, String)]) {
    let mut p = Project::new();
    for (name, t) in texts {
        p.add_file(Path::new(name), t.clone(), true);
    }
    for w in p.wanted() {
        p.unreadable(&w, "not there");
    }
    let mut checked = callflow_compiler::check(&p);
    media::check(&mut checked, &Facts::default());
}

fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    for dir in ["flows", "tests/ui"] {
        let mut stack: Vec<PathBuf> = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "flow") {
                    if let Ok(t) = std::fs::read_to_string(&p) {
                        out.push(t);
                    }
                }
            }
        }
    }
    out.sort();
    out.push(include_str!("seed.flow").to_string());
    out
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(6) {
        if chars.is_empty() {
            chars.push('{');
        }
        let at = rng.below(chars.len());
        match rng.below(6) {
            0 => {
                chars.remove(at);
            }
            1 => {
                let tok = TOKENS[rng.below(TOKENS.len())];
                for (i, c) in tok.chars().enumerate() {
                    chars.insert(at + i, c);
                }
            }
            2 => {
                // Duplicate a slice (repeats statements and blocks).
                let len = rng.below(200).min(chars.len() - at);
                let piece: Vec<char> = chars[at..at + len].to_vec();
                let to = rng.below(chars.len());
                for (i, c) in piece.into_iter().enumerate() {
                    chars.insert(to + i, c);
                }
            }
            3 => {
                let len = rng.below(80).min(chars.len() - at);
                chars.drain(at..at + len);
            }
            4 => chars[at] = ['{', '}', '"', '\n', '(', ')', ' '][rng.below(7)],
            _ => {
                let b = rng.below(chars.len());
                chars.swap(at, b);
            }
        }
    }
    chars.into_iter().collect()
}

fn iters(default: usize) -> usize {
    std::env::var("CALLFLOW_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    std::env::var("CALLFLOW_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_CA11_F10F)
}

#[test]
fn random_token_soup() {
    let mut rng = Rng(seed());
    for _ in 0..iters(1500) {
        let n = rng.below(120);
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(TOKENS[rng.below(TOKENS.len())]);
            text.push(if rng.below(4) == 0 { '\n' } else { ' ' });
        }
        check(&[("a.flow", text)]);
    }
}

#[test]
fn mutated_real_flows() {
    let seeds = seeds();
    let mut rng = Rng(seed() ^ 0xABCD);
    for i in 0..iters(1500) {
        let base = &seeds[i % seeds.len()];
        let text = mutate(&mut rng, base);
        let pick = rng.below(seeds.len());
        let other = mutate(&mut rng, &seeds[pick]);
        check(&[("flows/a.flow", text), ("flows/common.flow", other)]);
    }
}

#[test]
fn pathological_nesting_and_sizes() {
    let deep_blocks = "flow f { start { ".to_string() + &"if consented { ".repeat(5_000);
    let deep_parens = "flow f { start { if ".to_string() + &"(".repeat(50_000) + "open(h) {} } }";
    let deep_nots = "flow f { start { if ".to_string() + &"not ".repeat(50_000) + "open(h) {} } }";
    let long_line = "flow f { numbers ".to_string() + &"\"200\", ".repeat(20_000) + "\"201\" }";
    let many_menus: String = (0..2_000)
        .map(|i| format!("menu m{i} {{ prompt \"p\" \"1\" => menu m{} }}\n", i + 1))
        .collect();
    let chain = format!("flow f {{ numbers \"300\" start {{ menu m0 }} {many_menus} }}");
    let gotos: String = (0..2_000)
        .map(|i| format!("block b{i} {{ goto b{} }}\n", (i + 1) % 2_000))
        .collect();
    let ring = format!("flow f {{ numbers \"301\" start {{ goto b0 }} {gotos} }}");
    for t in [
        deep_blocks,
        deep_parens,
        deep_nots,
        long_line,
        chain,
        ring,
        "\u{feff}".into(),
        "{".repeat(47) + &"}".repeat(47),
    ] {
        check(&[("a.flow", t)]);
    }
}
