//! Phone numbers: the numbers a flow answers (E.164 with free spacing, or short internal
//! numbers), each claimed by one flow only across the project; transfer targets and SIP
//! addresses.

use crate::ast::Flow;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::FileId;
use std::collections::HashMap;

/// `"+49 30 2555-5366"` → `"+493025555366"`; `None` when it is not a dialable number.
/// Accepted: `+` and 7-15 digits (E.164, no leading 0), or 2-15 digits (internal and national).
pub fn normalize(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    for (i, c) in raw.trim().chars().enumerate() {
        match c {
            '0'..='9' => out.push(c),
            '+' if i == 0 => out.push(c),
            ' ' | '-' | '/' | '(' | ')' | '.' => {}
            _ => return None,
        }
    }
    let digits = out.trim_start_matches('+');
    let ok = if out.starts_with('+') {
        (7..=15).contains(&digits.len()) && !digits.starts_with('0')
    } else {
        (2..=15).contains(&digits.len())
    };
    ok.then_some(out)
}

/// A SIP or SIPS URI with a host: `sip:user@host`, `sips:host:5061`.
pub fn is_sip_uri(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("sip:").or_else(|| s.strip_prefix("sips:")) else {
        return false;
    };
    let hostport = rest
        .rsplit_once('@')
        .map_or(rest, |(user, h)| if user.is_empty() { "" } else { h });
    let host = hostport.split([';', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') || h.ends_with(']') => {
            if port.parse::<u16>().is_err() {
                return false;
            }
            h
        }
        _ => host,
    };
    !host.is_empty()
        && !host.contains(char::is_whitespace)
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
}

/// Something a call can be transferred to: a phone number or a SIP address.
pub fn is_target(s: &str) -> bool {
    normalize(s).is_some() || is_sip_uri(s)
}

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
