//! SIP and SIPS URIs (RFC 3261 §19.1, RFC 5118 for IPv6): user, host, port, parameters. Only
//! what the server needs — the user part of a Request-URI is the dialled number — with the
//! checks that tell a broken URI from a strange one.

use super::message::{find, has_space, rfind, split_at_byte};
use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uri<'a> {
    pub scheme: &'a str,
    /// The user part as written (percent escapes kept).
    pub user: Option<&'a str>,
    /// The host: a name, an IPv4 address, or an IPv6 reference with its brackets.
    pub host: &'a str,
    pub port: Option<u16>,
    /// `;name[=value]` parameters after the host, as written.
    pub params: &'a str,
}

impl<'a> Uri<'a> {
    pub fn parse(s: &'a str) -> Result<Uri<'a>, String> {
        let (scheme, rest) = split_at_byte(s, b':').ok_or("no scheme")?;
        if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
            return Err(format!("not a SIP URI: {scheme:?}"));
        }
        // The user part ends at the last '@' before the host (a user may hold ';' and '?',
        // RFC 4475 semiuri and intmeth; an '@' inside it must be escaped). Headers (`?...`)
        // follow the host.
        let (user, hostpart) = match rfind(rest, b'@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let hostpart = find(hostpart, b'?').map_or(hostpart, |i| &hostpart[..i]);
        if user.is_some_and(str::is_empty) {
            return Err("empty user part".into());
        }
        if has_space(rest) {
            return Err("spaces in the URI".into());
        }
        let (hostport, params) = match find(hostpart, b';') {
            Some(i) => (&hostpart[..i], &hostpart[i..]),
            None => (hostpart, ""),
        };
        let (host, port) = if hostport.starts_with('[') {
            let close = find(hostport, b']').ok_or("IPv6 reference without ']'")?;
            let host = &hostport[..=close];
            let inner = &host[1..host.len() - 1];
            if inner.is_empty()
                || !inner
                    .bytes()
                    .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
            {
                return Err(format!("bad IPv6 reference {host}"));
            }
            let port = match &hostport[close + 1..] {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or("junk after the IPv6 reference")?),
            };
            (host, port)
        } else {
            match split_at_byte(hostport, b':') {
                Some((h, p)) => {
                    if find(p, b':').is_some() {
                        return Err("an IPv6 address must be in brackets".into());
                    }
                    (h, Some(p))
                }
                None => (hostport, None),
            }
        };
        if host.is_empty()
            || !host.starts_with('[')
                && !host
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
        {
            return Err(format!("bad host {host:?}"));
        }
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| format!("bad port {p:?}"))?),
        };
        Ok(Uri {
            scheme,
            user,
            host,
            port,
            params,
        })
    }

    /// The user part with percent escapes decoded (`%32%30%30` is `200`), without any
    /// `;parameters` a telephone-subscriber user carries.
    pub fn user_decoded(&self) -> Option<Cow<'a, str>> {
        let user = self.user?;
        Some(unescape(user))
    }
}

/// Decodes `%XX` escapes; a `%` that is not an escape stays as it is.
pub fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_hosts_ports() {
        let u = Uri::parse("sip:+49%2030@[2001:db8::10]:5070;transport=udp").unwrap();
        assert_eq!(u.user, Some("+49%2030"));
        assert_eq!(u.user_decoded().as_deref(), Some("+49 30"));
        assert_eq!(u.host, "[2001:db8::10]");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params, ";transport=udp");
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert!(Uri::parse("sip:2001:db8::10").is_err());
        assert!(Uri::parse("sip:[2001:db8::10:5070]").is_ok());
        assert!(Uri::parse("sip:a b@c").is_err());
        assert_eq!(unescape("100%"), "100%");
        assert_eq!(unescape("%3"), "%3");
    }
}
