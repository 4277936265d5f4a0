//! Phone numbers: the numbers a flow answers (E.164 with free spacing, or short internal
//! numbers), each claimed by one flow only across the project; transfer targets and SIP
//! addresses.

use crate::ast::Flow;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::FileId;
use std::collections::HashMap;

pub use crate::numbers::{is_sip_uri, is_target, normalize};

/// Each number valid, and claimed by one flow only (CF0103, CF0104).
pub fn check(flows: &[(FileId, &Flow)], diags: &mut Diagnostics) {
    let mut claimed: HashMap<String, (&str, crate::source::Span)> = HashMap::new();
    for (_, f) in flows {
        for n in &f.numbers {
            let Some(norm) = normalize(&n.value) else {
                diags.push(
                    Diagnostic::new(
                        codes::BAD_NUMBER,
                        n.span,
                        format!("\"{}\" is not a valid phone number", n.value),
                        "cannot be dialled",
                    )
                    .help("write public numbers in international form (\"+49 30 2555 5366\") and internal numbers as digits (\"200\"); spaces and dashes are fine"),
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
