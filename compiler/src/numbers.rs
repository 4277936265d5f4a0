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

/// A country's numbering plan, for numbers written the national way (`country "DE"` in a flow).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166 code, upper case.
    pub code: &'static str,
    /// The country calling code (`49`).
    pub calling: &'static str,
    /// The trunk prefix of national numbers (`0`); empty where national numbers have none
    /// (Italy, Spain: the national number is dialled whole).
    pub trunk: &'static str,
    /// The prefix for international calls (`00`; `011` in North America).
    pub international: &'static str,
}

/// The countries whose national forms are known (more are a table row each).
pub const COUNTRIES: &[Country] = &[
    Country {
        code: "AT",
        calling: "43",
        trunk: "0",
        international: "00",
    },
    Country {
        code: "BE",
        calling: "32",
        trunk: "0",
        international: "00",
    },
    Country {
        code: "CA",
        calling: "1",
        trunk: "1",
        international: "011",
    },
    Country {
        code: "CH",
        calling: "41",
        trunk: "0",
        international: "00",
    },
    Country {
        code: "DE",
        calling: "49",
        trunk: "0",
        international: "00",
    },
    Country {
        code: "DK",
        calling: "45",
        trunk: "",
        international: "00",
    },
    Country {
        code: "ES",
        calling: "34",
        trunk: "",
        international: "00",
    },
    Country {
        code: "FR",
        calling: "33",
        trunk: "0",
        international: "00",
    },
    Country {
        code: "GB",
        calling: "44",
        trunk: "0",
        international: "00",
    },
    Country {
        code: "IE",
        calling: "353",
        trunk: "0",
        international: "00",
    },
    Country {
        code: "IT",
        calling: "39",
        trunk: "",
        international: "00",
    },
    Country {
        code: "LU",
        calling: "352",
        trunk: "",
        international: "00",
    },
    Country {
        code: "NL",
        calling: "31",
        trunk: "0",
        international: "00",
    },
    Country {
        code: "NO",
        calling: "47",
        trunk: "",
        international: "00",
    },
    Country {
        code: "PL",
        calling: "48",
        trunk: "",
        international: "00",
    },
    Country {
        code: "PT",
        calling: "351",
        trunk: "",
        international: "00",
    },
    Country {
        code: "SE",
        calling: "46",
        trunk: "0",
        international: "00",
    },
    Country {
        code: "US",
        calling: "1",
        trunk: "1",
        international: "011",
    },
];

impl Country {
    /// The country of an ISO code (`"de"` or `"DE"`).
    pub fn find(code: &str) -> Option<&'static Country> {
        COUNTRIES
            .iter()
            .find(|c| c.code.eq_ignore_ascii_case(code.trim()))
    }

    fn nanp(&self) -> bool {
        self.calling == "1"
    }

    /// How numbers are written there, for help texts.
    pub fn example(&self) -> String {
        match (self.nanp(), self.trunk) {
            (true, _) => "\"(212) 555-0100\" or \"1 212 555 0100\"".into(),
            (false, "") => "\"06 1234 5678\"".into(),
            (false, t) => format!("\"{t}30 2555 5100\""),
        }
    }
}

/// A number as written or dialled in `country`: international (`+…`, or the international
/// prefix), national (after the trunk prefix; in North America 10 digits, or 1 and 10), or a
/// short internal number (2-6 digits). `None`: none of these. Without a country, as
/// [`normalize`].
pub fn normalize_in(raw: &str, country: Option<&Country>) -> Option<String> {
    let n = normalize(raw)?;
    let Some(c) = country else {
        return Some(n);
    };
    if n.starts_with('+') || (2..=6).contains(&n.len()) {
        return Some(n);
    }
    let e164 = |digits: &str| {
        ((7..=15).contains(&digits.len()) && !digits.starts_with('0')).then(|| format!("+{digits}"))
    };
    if let Some(rest) = n.strip_prefix(c.international) {
        return e164(rest);
    }
    if c.nanp() {
        return match n.len() {
            10 if !n.starts_with(['0', '1']) => e164(&format!("1{n}")),
            11 if n.starts_with('1') => e164(&n),
            _ => None,
        };
    }
    let national = if c.trunk.is_empty() {
        Some(n.as_str())
    } else {
        n.strip_prefix(c.trunk)
    }?;
    if national.len() < 4 {
        return None;
    }
    e164(&format!("{}{national}", c.calling))
}

/// A caller's number as a flow of `country` compares it: in international form when it reads
/// as one there (a trunk shows `0044 20 …` or `030 …`), else as it came (`anonymous`, `200`).
pub fn caller_in(raw: &str, country: Option<&Country>) -> String {
    normalize_in(raw, country)
        .filter(|n| n.starts_with('+'))
        .unwrap_or_else(|| raw.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_forms() {
        let de = Country::find("de");
        let n = |s: &str| normalize_in(s, de);
        assert_eq!(n("030 2555 5100").as_deref(), Some("+493025555100"));
        assert_eq!(n("0049 30 2555 5100").as_deref(), Some("+493025555100"));
        assert_eq!(n("+49 30 2555 5100").as_deref(), Some("+493025555100"));
        assert_eq!(
            n("310").as_deref(),
            Some("310"),
            "short internal numbers stay"
        );
        assert_eq!(
            n("3025555100"),
            None,
            "neither national nor international nor short"
        );
        let it = Country::find("IT");
        assert_eq!(
            normalize_in("06 1234 5678", it).as_deref(),
            Some("+390612345678")
        );
        let us = Country::find("US");
        assert_eq!(
            normalize_in("(212) 555-0100", us).as_deref(),
            Some("+12125550100")
        );
        assert_eq!(
            normalize_in("1 212 555 0100", us).as_deref(),
            Some("+12125550100")
        );
        assert_eq!(
            normalize_in("011 49 30 2555 5100", us).as_deref(),
            Some("+493025555100")
        );
        assert_eq!(normalize_in("012 555 0100", us), None);
        // Without a country: as before.
        assert_eq!(
            normalize_in("030 2555 5100", None).as_deref(),
            Some("03025555100")
        );
        assert!(Country::find("XX").is_none());
    }
}
