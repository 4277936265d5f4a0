//! Menu keys and number patterns: each key is valid, no key is given twice, and no key hides
//! another (a pattern covered by an earlier one; with `digit_timeout 0s`, a key that starts a
//! longer one). With a digit timeout, `"1"` and `"12"` live side by side: `1` alone is taken
//! when no further key comes in time.

use crate::ast::{Menu, Text};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::pattern::{self, Pattern, PatternError};
use crate::source::Span;

fn bad(t: &Text, e: &PatternError, what: &str, diags: &mut Diagnostics) {
    // +1 for the opening quote.
    let at = t.span.start as usize + 1 + e.at;
    let len = t.value[e.at..].chars().next().map_or(1, char::len_utf8);
    diags.push(
        Diagnostic::new(
            codes::BAD_KEY,
            Span::new(t.span.file, at, at + len),
            format!("\"{}\" is not a valid {what}", t.value),
            e.message.clone(),
        )
        .help("keys are `0`-`9`, `*` and `#`; in patterns `X` is any digit, `N` is 2-9, `Z` is 1-9, `[1-4]` is a range"),
    );
}

/// A key for one press (a consent key, a terminator, a queue exit key): no patterns.
pub fn single_key(t: &Text, diags: &mut Diagnostics) -> Option<Pattern> {
    match pattern::parse_key(&t.value) {
        Ok(p) if p.is_exact() => Some(p),
        Ok(_) => {
            diags.push(
                Diagnostic::new(
                    codes::BAD_KEY,
                    t.span,
                    format!(
                        "\"{}\" is a pattern, but a fixed key is needed here",
                        t.value
                    ),
                    "not a single key sequence",
                )
                .help("write the exact keys, such as \"1\" or \"*9\""),
            );
            None
        }
        Err(e) => {
            bad(t, &e, "key", diags);
            None
        }
    }
}

/// A pattern for `caller matches "..."`.
pub fn caller_pattern(t: &Text, diags: &mut Diagnostics) {
    if let Err(e) = pattern::parse_number(&t.value) {
        bad(t, &e, "number pattern", diags);
    }
}

/// Checks the keys of a menu: valid, distinct, none hiding another.
pub fn menu(m: &Menu, diags: &mut Diagnostics) {
    let keys: Vec<(&Text, Pattern)> = m
        .arms
        .iter()
        .filter_map(|a| match pattern::parse_key(&a.key.value) {
            Ok(p) => Some((&a.key, p)),
            Err(e) => {
                bad(&a.key, &e, "menu key", diags);
                None
            }
        })
        .collect();
    for (j, (tj, pj)) in keys.iter().enumerate() {
        for (ti, pi) in &keys[..j] {
            if pi == pj {
                diags.push(
                    Diagnostic::new(
                        codes::DUPLICATE_KEY,
                        tj.span,
                        format!(
                            "key \"{}\" is used twice in menu `{}`",
                            tj.value, m.name.name
                        ),
                        "used again here",
                    )
                    .label(ti.span, "first used here")
                    .help("each key may lead to one place; remove or change one of them"),
                );
                break;
            }
            let (short, long, tshort, tlong) = if pi.elems.len() <= pj.elems.len() {
                (pi, pj, ti, tj)
            } else {
                (pj, pi, tj, ti)
            };
            // A key that starts a longer one is chosen when no further key comes within the
            // digit timeout (direct extension dialling: "2" and "2XX"); only a menu that does
            // not wait between keys can never tell them apart.
            let waits = m.digit_timeout.is_none_or(|d| d.millis > 0);
            if !waits && short.elems.len() < long.elems.len() && short.overlaps_prefix_of(long) {
                diags.push(
                    Diagnostic::new(
                        codes::SHADOWED_KEY,
                        tlong.span,
                        format!(
                            "key \"{}\" can never be dialled in menu `{}`",
                            tlong.value, m.name.name
                        ),
                        format!("its first keys are taken by \"{}\"", tshort.value),
                    )
                    .label(tshort.span, "with `digit_timeout 0s` this key is taken as soon as it is pressed")
                    .help(
                        "give the menu a digit timeout (`digit_timeout 2s`: then the shorter key is chosen when no further key comes), give the keys the same length, or start them differently",
                    ),
                );
                break;
            }
            if !pj.is_exact() && pi.covers(pj) {
                diags.push(
                    Diagnostic::new(
                        codes::SHADOWED_KEY,
                        tj.span,
                        format!(
                            "key \"{}\" can never be dialled in menu `{}`",
                            tj.value, m.name.name
                        ),
                        "every key sequence it allows is taken by an earlier pattern",
                    )
                    .label(ti.span, "this pattern comes first")
                    .help("remove it, or move the narrower pattern before the wider one"),
                );
                break;
            }
        }
    }
}
