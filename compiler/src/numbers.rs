//! Phone numbers as the language and the runtime read them: normalising a dialled or written
//! number (`"+49 30 2555-5366"` → `"+493025555366"`), SIP addresses, transfer targets. Shared by
//! the checker and the VM, so a number means the same in both.

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

/// A withheld caller number as networks signal it (`anonymous`, `private`, ... or nothing).
pub fn is_anonymous(caller: &str) -> bool {
    let c = caller.trim();
    c.is_empty()
        || [
            "anonymous",
            "unknown",
            "restricted",
            "private",
            "unavailable",
        ]
        .iter()
        .any(|a| c.eq_ignore_ascii_case(a))
}
