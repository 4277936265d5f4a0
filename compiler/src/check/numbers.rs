//! Phone numbers: the numbers a flow answers (E.164 with free spacing, or short internal
//! numbers), each claimed by one flow only across the project; transfer targets and SIP
//! addresses.

use crate::ast::Flow;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::FileId;
use std::collections::HashMap;

pub use crate::numbers::{Country, is_sip_uri, is_target, normalize, normalize_in};

/// The flow's country, when it names a known one: its own (`country "DE"`), its file's, or
/// (once the checks settled it) that of the files its file uses.
pub fn country_of(f: &Flow) -> Option<&'static Country> {
    match &f.country {
        Some(c) => Country::find(&c.value),
        None => f.used_country.get().copied().flatten(),
    }
}

/// CF0114 for a `country` callflow has no numbering plan for.
fn unknown_country(c: &crate::ast::Text, diags: &mut Diagnostics) {
    let codes_known: Vec<&str> = crate::numbers::COUNTRIES.iter().map(|c| c.code).collect();
    diags.push(
        Diagnostic::new(
            codes::UNKNOWN_COUNTRY,
            c.span,
            format!("unknown country \"{}\"", c.value),
            "not a country whose numbering plan callflow knows",
        )
        .help(format!(
            "use an ISO 3166 code: {}; or write numbers in international form and leave `country` out",
            codes_known.join(", ")
        )),
    );
}

/// Settles the country of flows that name none, nor their file: the one country named at the
/// top of the files their file uses (transitively). Reports files that disagree (CF0115), an
/// unknown country in a file without flows (CF0114), and a country no flow reads (CF0107).
pub fn countries(project: &crate::project::Project, diags: &mut Diagnostics) {
    use crate::ast::Item;
    // Most projects name no file-level country: nothing to settle (and no per-file walk of
    // what each file uses).
    if project.modules.iter().all(|m| m.country.is_none()) {
        return;
    }
    let has_flows = |m: &crate::ast::Module| m.items.iter().any(|i| matches!(i, Item::Flow(_)));
    let mut read = vec![false; project.modules.len()];
    for m in &project.modules {
        if m.country.is_some() && has_flows(m) {
            read[m.file.0 as usize] = true;
        }
        let flows: Vec<&Flow> = m
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Flow(f) if f.country.is_none() => Some(f),
                _ => None,
            })
            .collect();
        if flows.is_empty() {
            continue;
        }
        let visible = project.visible(m.file);
        let named: Vec<(usize, &crate::ast::Text)> = project
            .modules
            .iter()
            .enumerate()
            .filter(|(i, _)| visible[*i])
            .filter_map(|(i, u)| Some((i, u.country.as_ref()?)))
            .collect();
        for &(i, _) in &named {
            read[i] = true;
        }
        let first = named.first().map(|n| n.1);
        let other = first.and_then(|a| {
            named
                .iter()
                .map(|n| n.1)
                .find(|b| !b.value.eq_ignore_ascii_case(&a.value))
                .map(|b| (a, b))
        });
        if let Some((a, b)) = other {
            for f in &flows {
                diags.push(
                    Diagnostic::new(
                        codes::COUNTRIES_DISAGREE,
                        f.name.span,
                        format!(
                            "flow `{}` reads numbers in no country: the files it uses name \"{}\" and \"{}\"",
                            f.name.name, a.value, b.value
                        ),
                        "no `country` of its own",
                    )
                    .label(a.span, "one country")
                    .label(b.span, "another")
                    .help(format!("name the flow's country: `country \"{}\"` inside `flow {}`", a.value, f.name.name)),
                );
                let _ = f.used_country.set(None);
            }
            continue;
        }
        let country = first.and_then(|c| Country::find(&c.value));
        for f in flows {
            let _ = f.used_country.set(country);
        }
    }
    for m in &project.modules {
        let Some(c) = &m.country else { continue };
        if has_flows(m) {
            continue;
        }
        if Country::find(&c.value).is_none() {
            unknown_country(c, diags);
        } else if !read[m.file.0 as usize] {
            diags.push(
                Diagnostic::new(
                    codes::UNUSED,
                    c.span,
                    "`country` is for the flows of its file and of the files that use it, and there are none",
                    "no flow reads numbers in this country",
                )
                .help("put `country` at the top of the files whose flows it is for, or of a file they `use` (or inside a flow)"),
            );
        }
    }
}

/// A number as the flow reads it (in its country's plan, if it names one).
pub fn flow_number(f: &Flow, raw: &str) -> Option<String> {
    normalize_in(raw, country_of(f))
}

/// Whether the flow answers the number `raw` (as written in a test, say).
pub fn answers(f: &Flow, raw: &str) -> bool {
    let Some(n) = flow_number(f, raw) else {
        return false;
    };
    f.numbers
        .iter()
        .any(|x| flow_number(f, &x.value).as_deref() == Some(n.as_str()))
}

/// How to write numbers, for help texts.
pub fn how_to_write(f: &Flow) -> String {
    match country_of(f) {
        Some(c) => format!(
            "write numbers in international form (\"+{} …\"), the national way for {} (such as {}), or internal numbers as 2-6 digits (\"200\"); spaces and dashes are fine",
            c.calling,
            c.code,
            c.example()
        ),
        None => "write public numbers in international form (\"+49 30 2555 5366\") and internal numbers as digits (\"200\"); to write them the national way, name the flow's `country`; spaces and dashes are fine".into(),
    }
}

/// Each number valid, and claimed by one flow only (CF0103, CF0104); each `country` known
/// (CF0114).
pub fn check(flows: &[(FileId, &Flow)], diags: &mut Diagnostics) {
    let mut claimed: HashMap<String, (&str, crate::source::Span)> = HashMap::new();
    // A file's `country` is every flow's of that file: reported once.
    let mut reported = std::collections::HashSet::new();
    for (_, f) in flows {
        if let Some(c) = &f.country {
            if Country::find(&c.value).is_none() && reported.insert(c.span) {
                unknown_country(c, diags);
            }
        }
        for n in &f.numbers {
            let Some(norm) = flow_number(f, &n.value) else {
                diags.push(
                    Diagnostic::new(
                        codes::BAD_NUMBER,
                        n.span,
                        format!("\"{}\" is not a valid phone number", n.value),
                        "cannot be dialled",
                    )
                    .help(how_to_write(f)),
                );
                continue;
            };
            match claimed.get(&norm) {
                Some((other, prev)) => {
                    let msg = if *other == f.name.name {
                        format!("number \"{}\" is listed twice in flow `{}`", n.value, other)
                    } else {
                        format!(
                            "number \"{}\" is claimed by flows `{}` and `{}`",
                            n.value, other, f.name.name
                        )
                    };
                    diags.push(
                        Diagnostic::new(codes::DUPLICATE_NUMBER, n.span, msg, "claimed again here")
                            .label(*prev, format!("first claimed by `{other}` here"))
                            .help("a call to a number must lead to exactly one flow; remove one of them"),
                    );
                }
                None => {
                    claimed.insert(norm, (&f.name.name, n.span));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(
            normalize("+49 30 2555 5366").as_deref(),
            Some("+493025555366")
        );
        assert_eq!(normalize("200").as_deref(), Some("200"));
        assert_eq!(normalize("(030) 2555-5366").as_deref(), Some("03025555366"));
        assert_eq!(normalize("+0 30"), None);
        assert_eq!(normalize("1"), None);
        assert_eq!(normalize("12a"), None);
        assert_eq!(normalize("+49 30 2555 5366 1234 5678"), None);
    }

    #[test]
    fn sip_uris() {
        assert!(is_sip_uri("sip:jan@pbx.example.com"));
        assert!(is_sip_uri("sips:desk@10.0.0.1:5061"));
        assert!(is_sip_uri("sip:pbx.example.com"));
        assert!(is_sip_uri("sip:jan@[::1]:5060"));
        assert!(!is_sip_uri("sip:"));
        assert!(!is_sip_uri("sip:jan@"));
        assert!(!is_sip_uri("http://x"));
        assert!(!is_sip_uri("sip:jan@pbx:99999"));
    }
}
