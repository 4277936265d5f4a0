//! Phone numbers: the numbers a flow answers (E.164 with free spacing, or short internal
//! numbers), each claimed by one flow only across the project; transfer targets and SIP
//! addresses.

use crate::ast::Flow;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::FileId;
use std::collections::HashMap;

pub use crate::numbers::{Country, is_sip_uri, is_target, normalize, normalize_in};

/// The flow's country (`country "DE"`), when it names a known one.
pub fn country_of(f: &Flow) -> Option<&'static Country> {
    f.country.as_ref().and_then(|c| Country::find(&c.value))
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
                let codes_known: Vec<&str> =
                    crate::numbers::COUNTRIES.iter().map(|c| c.code).collect();
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
