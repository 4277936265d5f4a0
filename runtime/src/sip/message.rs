//! SIP messages (RFC 3261 §7): parsing a datagram or a framed stream message into a borrowed
//! [`Message`] with strict checks first — the start line, header syntax with folding and compact
//! names, the headers every request needs exactly once, CSeq, Max-Forwards, Content-Length
//! against the body — and writing messages back out. A message that fails gets the status the
//! RFC asks for (400, 505, 416, ...) or is dropped (responses). Pure: bytes in, values out.

use std::borrow::Cow;

/// The largest message accepted (UDP datagrams and framed stream messages).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The most header fields one message may carry.
pub const MAX_HEADERS: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start<'a> {
    Request { method: &'a str, uri: &'a str },
    Response { code: u16, reason: &'a str },
}

/// A header field: its canonical name (compact forms expanded) and its value (folded lines
/// joined with one space; surrounding whitespace trimmed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a str,
    pub value: Cow<'a, str>,
    /// Which well-known header it is (an index into [`KNOWN`]; [`OTHER`] for the rest).
    known: u8,
}

/// The well-known headers: found by index, not by comparing names.
const KNOWN: [&str; 26] = [
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Contact",
    "Content-Length",
    "Content-Type",
    "Record-Route",
    "Route",
    "Require",
    "Proxy-Require",
    "Accept",
    "Allow",
    "Supported",
    "Expires",
    "Date",
    "Retry-After",
    "Content-Encoding",
    "Subject",
    "Event",
    "Refer-To",
    "Referred-By",
    "Allow-Events",
    "Session-Expires",
];
const OTHER: u8 = u8::MAX;
const VIA: u8 = 0;
const FROM: u8 = 1;
const TO: u8 = 2;
const CALL_ID: u8 = 3;
const CSEQ: u8 = 4;
const MAX_FORWARDS: u8 = 5;
const CONTACT: u8 = 6;
const CONTENT_LENGTH: u8 = 7;

/// The index of a well-known header name (any case, compact forms too).
fn known(name: &str) -> u8 {
    if name.len() == 1 {
        return match name.as_bytes()[0].to_ascii_lowercase() {
            b'v' => VIA,
            b'f' => FROM,
            b't' => TO,
            b'i' => CALL_ID,
            b'm' => CONTACT,
            b'l' => CONTENT_LENGTH,
            b'c' => 8,
            b'k' => 15,
            b'e' => 19,
            b's' => 20,
            b'o' => 21,
            b'r' => 22,
            b'b' => 23,
            b'u' => 24,
            b'x' => 25,
            _ => OTHER,
        };
    }
    // The one candidate its length and first letter leave (a second letter for the two pairs
    // those share), then one comparison. `| 0x20` lower-cases a letter and turns no other
    // byte into one.
    let b = name.as_bytes();
    let letter = |i: usize| b.get(i).map_or(0, |c| c | 0x20);
    let k = match (b.len(), letter(0)) {
        (2, b't') => TO,
        (3, b'v') => VIA,
        (4, b'f') => FROM,
        (4, b'c') => CSEQ,
        (4, b'd') => 17,
        (5, b'r') => 10,
        (5, b'a') => 14,
        (5, b'e') => 21,
        (6, b'a') => 13,
        (7, b'c') if letter(1) == b'a' => CALL_ID,
        (7, b'c') => CONTACT,
        (7, b'r') => 11,
        (7, b'e') => 16,
        (7, b's') => 20,
        (8, b'r') => 22,
        (9, b's') => 15,
        (11, b'r') if letter(2) == b't' => 18,
        (11, b'r') => 23,
        (12, b'm') => MAX_FORWARDS,
        (12, b'c') => 8,
        (12, b'r') => 9,
        (12, b'a') => 24,
        (13, b'p') => 12,
        (14, b'c') => CONTENT_LENGTH,
        (15, b's') => 25,
        (16, b'c') => 19,
        _ => return OTHER,
    };
    if same_name(KNOWN[k as usize], name) {
        k
    } else {
        OTHER
    }
}

/// Whether a header name is a well-known one (letters and '-'), in any case. Where the known
/// name has a letter (bit 0x40 set), 0x20 is set in both bytes, so only that letter in either
/// case meets it; its '-' must be met exactly. One pass without branches: it runs for every
/// header field, and for names not yet checked to be tokens (`frame`).
fn same_name(known: &str, name: &str) -> bool {
    known.len() == name.len()
        && known.bytes().zip(name.bytes()).fold(0, |differ, (k, n)| {
            let fold = (k & 0x40) >> 1;
            differ | ((k | fold) ^ (n | fold))
        }) == 0
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub start: Start<'a>,
    pub headers: Vec<Header<'a>>,
    pub body: &'a [u8],
    /// Per well-known header: 1 + the index of its first field (0: absent), and how many
    /// fields it has (at most 255 counted).
    first: [u8; KNOWN.len()],
    count: [u8; KNOWN.len()],
    /// The top Via value (the first item of the first Via field).
    top: Option<&'a str>,
}

/// Why a message was refused: the status to answer a request with (`None`: drop it, as for
/// a broken response or bytes that are no SIP at all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: Option<u16>,
    pub reason: String,
}

fn refuse(status: u16, reason: impl Into<String>) -> Refusal {
    Refusal {
        status: Some(status),
        reason: reason.into(),
    }
}

fn drop_it(reason: impl Into<String>) -> Refusal {
    Refusal {
        status: None,
        reason: reason.into(),
    }
}

/// RFC 3261's token characters, by byte.
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        c += 1;
    }
    t
};

fn is_token_char(c: u8) -> bool {
    TOKEN[c as usize]
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Where ASCII byte `c` first is in `s` (a plain loop: header values are short, and a char
/// pattern's generic search costs more than the scan).
pub(crate) fn find(s: &str, c: u8) -> Option<usize> {
    s.bytes().position(|b| b == c)
}

/// Where ASCII byte `c` last is in `s`.
pub(crate) fn rfind(s: &str, c: u8) -> Option<usize> {
    s.bytes().rposition(|b| b == c)
}

/// `s` split at the first ASCII byte `c` (which is in neither part).
pub(crate) fn split_at_byte(s: &str, c: u8) -> Option<(&str, &str)> {
    let i = find(s, c)?;
    Some((&s[..i], &s[i + 1..]))
}

/// The `c`-separated parts of `s` (ASCII `c`), as `str::split` gives them.
pub(crate) fn parts(s: &str, c: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match find(r, c) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Where the header section ends: the index of the first empty line's CRLF CRLF.
fn head_end(b: &[u8]) -> Option<usize> {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
    FINDER.find(b)
}

/// The CRLF-terminated lines of a header section (a bare LF stays inside its line).
struct Lines<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.s.as_bytes();
        let from = self.at;
        if from >= b.len() {
            return None;
        }
        let mut search = from;
        loop {
            match memchr::memchr(b'\n', &b[search..]) {
                Some(i) if search + i > from && b[search + i - 1] == b'\r' => {
                    let end = search + i - 1;
                    self.at = search + i + 1;
                    return Some(&self.s[from..end]);
                }
                Some(i) => search += i + 1,
                None => {
                    self.at = b.len();
                    return Some(&self.s[from..]);
                }
            }
        }
    }
}

/// How many bytes of a stream buffer the next message takes (`Ok(None)`: not complete yet).
/// Refuses a stream it can no longer frame (no Content-Length, or a header section or body
/// too large): the connection must be closed then.
pub fn frame(buf: &[u8]) -> Result<Option<usize>, Refusal> {
    // Keep-alives (RFC 5626: CRLF pings) between messages.
    let lead = buf
        .iter()
        .take_while(|&&c| c == b'\r' || c == b'\n')
        .count();
    let buf = &buf[lead..];
    let Some(at) = head_end(buf) else {
        if buf.len() > MAX_MESSAGE {
            return Err(drop_it("header section too large"));
        }
        return Ok(None);
    };
    let head =
        std::str::from_utf8(&buf[..at]).map_err(|_| drop_it("header section is not UTF-8"))?;
    let mut length: Option<usize> = None;
    for line in (Lines { s: head, at: 0 }).skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if known(name.trim()) == CONTENT_LENGTH {
            let n: usize = value
                .trim()
                .parse()
                .map_err(|_| drop_it("Content-Length is not a number"))?;
            if length.is_some_and(|l| l != n) {
                return Err(drop_it("two different Content-Length values"));
            }
            length = Some(n);
        }
    }
    // On a stream, Content-Length is mandatory (RFC 3261 §18.3); a message without it is taken
    // as having no body, the way common peers frame it. A length beyond any message is refused
    // before it is added to anything (a huge one must not wrap around).
    let length = length.unwrap_or(0);
    if length > MAX_MESSAGE {
        return Err(drop_it("message too large"));
    }
    let total = lead + at + 4 + length;
    if total > MAX_MESSAGE + lead {
        return Err(drop_it("message too large"));
    }
    Ok((lead + buf.len() >= total).then_some(total))
}

/// Parses one message with the strict checks. `datagram`: the bytes came in one UDP packet
/// (a body shorter than Content-Length is an error; bytes after it are ignored).
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, Refusal> {
    if bytes.len() > MAX_MESSAGE {
        return Err(refuse(513, "message too large"));
    }
    let Some(at) = head_end(bytes) else {
        return Err(drop_it("no end of the header section"));
    };
    let rest = &bytes[at + 4..];
    let head = std::str::from_utf8(&bytes[..at + 2])
        .map_err(|_| refuse(400, "header section is not UTF-8"))?;
    let mut lines = Lines { s: head, at: 0 };
    let first = lines.next().unwrap_or("");
    let start = start_line(first)?;
    let is_request = matches!(start, Start::Request { .. });
    let bad = |reason: String| {
        if is_request {
            refuse(400, reason)
        } else {
            drop_it(reason)
        }
    };
    // Header lines, with folding (a line starting with SP or HT continues the one before).
    let mut headers: Vec<Header> = Vec::with_capacity(16);
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some(last) = headers.last_mut() else {
                return Err(bad("a folded line before any header".into()));
            };
            let part = line.trim();
            if !part.is_empty() {
                let v = last.value.to_mut();
                if !v.is_empty() {
                    v.push(' ');
                }
                v.push_str(part);
            }
            continue;
        }
        let Some((name, value)) = split_at_byte(line, b':') else {
            return Err(bad(format!("header line without a colon: {line:?}")));
        };
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(bad(format!("bad header name {name:?}")));
        }
        let k = known(name);
        headers.push(Header {
            name: if k == OTHER { name } else { KNOWN[k as usize] },
            value: Cow::Borrowed(value.trim_ascii()),
            known: k,
        });
        if headers.len() > MAX_HEADERS {
            return Err(bad("too many header fields".into()));
        }
    }
    let mut m = Message {
        start,
        headers,
        body: &[],
        first: [0; KNOWN.len()],
        count: [0; KNOWN.len()],
        top: None,
    };
    for (i, h) in m.headers.iter().enumerate() {
        if h.known != OTHER {
            let k = h.known as usize;
            if m.first[k] == 0 {
                // MAX_HEADERS (128) keeps the index within a u8.
                m.first[k] = i as u8 + 1;
            }
            m.count[k] = m.count[k].saturating_add(1);
        }
    }
    m.top = match m.first[VIA as usize] {
        0 => None,
        i => match &m.headers[i as usize - 1].value {
            Cow::Borrowed(v) => split_list(v).next(),
            // A folded Via (rare): looked up each time instead.
            Cow::Owned(_) => None,
        },
    };
    // Content-Length: one value, a number, not more than the bytes there are.
    let length = match m.count[CONTENT_LENGTH as usize] {
        0 => None,
        1 => {
            let one = m.known(CONTENT_LENGTH).unwrap_or("");
            Some(
                one.parse::<usize>()
                    .map_err(|_| bad(format!("Content-Length {one:?} is not a length")))?,
            )
        }
        _ => return Err(bad("several Content-Length values".into())),
    };
    m.body = match length {
        Some(n) if n > rest.len() => {
            return Err(bad(format!(
                "Content-Length {n} but only {} bytes of body",
                rest.len()
            )));
        }
        Some(n) => &rest[..n],
        // RFC 2543 style: without Content-Length a datagram's body runs to its end.
        None => rest,
    };
    if is_request {
        check_request(&m)?;
    } else {
        check_response(&m)?;
    }
    Ok(m)
}

fn start_line(line: &str) -> Result<Start<'_>, Refusal> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        // A response: SIP/2.0 SP code SP reason (the reason may be empty).
        let (version, rest) = rest
            .split_once(' ')
            .ok_or_else(|| drop_it("bad status line"))?;
        if version != "2.0" {
            return Err(drop_it("unknown SIP version in a response"));
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|c| c.is_ascii_digit()) {
            return Err(drop_it(format!("bad status code {code:?}")));
        }
        let code: u16 = code.parse().map_err(|_| drop_it("bad status code"))?;
        if !(100..=699).contains(&code) {
            return Err(drop_it(format!("status code {code} out of range")));
        }
        return Ok(Start::Response { code, reason });
    }
    // A request: Method SP Request-URI SP SIP-Version, single spaces, nothing else.
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse(
            400,
            "the request line must be METHOD URI SIP/2.0, single spaces",
        ));
    };
    if !is_token(method) || uri.is_empty() {
        return Err(refuse(400, "bad request line"));
    }
    if !version.starts_with("SIP/") {
        return Err(refuse(400, "bad SIP version"));
    }
    if version != "SIP/2.0" {
        return Err(refuse(505, "SIP version not supported"));
    }
    Ok(Start::Request { method, uri })
}

fn check_request(m: &Message) -> Result<(), Refusal> {
    let Start::Request { method, uri } = m.start else {
        return Ok(());
    };
    check_request_uri(uri)?;
    for (k, name) in [
        (CALL_ID, "Call-ID"),
        (FROM, "From"),
        (TO, "To"),
        (CSEQ, "CSeq"),
    ] {
        match m.count[k as usize] {
            0 => return Err(refuse(400, format!("missing {name}"))),
            1 => {}
            _ => return Err(refuse(400, format!("several {name} values"))),
        }
    }
    if m.count[VIA as usize] == 0 {
        return Err(refuse(400, "missing Via"));
    }
    match m.count[MAX_FORWARDS as usize] {
        0 => {}
        1 => {
            let n: u32 = m
                .known(MAX_FORWARDS)
                .unwrap_or("")
                .parse()
                .map_err(|_| refuse(400, "Max-Forwards is not a number"))?;
            if n > 255 {
                return Err(refuse(400, "Max-Forwards over 255"));
            }
        }
        _ => return Err(refuse(400, "several Max-Forwards values")),
    }
    let (_, cseq_method) = m.cseq().ok_or_else(|| refuse(400, "bad CSeq"))?;
    if cseq_method != method {
        let status = if is_known_method(method) { 400 } else { 501 };
        return Err(refuse(status, "the CSeq method differs from the request's"));
    }
    for via in m.all_known(VIA).flat_map(split_list) {
        check_via(via)?;
    }
    check_name_addr(m.known(FROM).unwrap_or(""), "From")?;
    check_name_addr(m.known(TO).unwrap_or(""), "To")?;
    for contact in m.all_known(CONTACT).flat_map(split_list) {
        if contact != "*" {
            check_name_addr(contact, "Contact")?;
        }
    }
    Ok(())
}

fn check_response(m: &Message) -> Result<(), Refusal> {
    for (k, name) in [
        (CALL_ID, "Call-ID"),
        (FROM, "From"),
        (TO, "To"),
        (CSEQ, "CSeq"),
    ] {
        if m.count[k as usize] != 1 {
            return Err(drop_it(format!("{name} missing or repeated")));
        }
    }
    m.cseq().ok_or_else(|| drop_it("bad CSeq"))?;
    if m.count[VIA as usize] == 0 {
        return Err(drop_it("missing Via"));
    }
    Ok(())
}

pub fn is_known_method(m: &str) -> bool {
    matches!(
        m,
        "INVITE"
            | "ACK"
            | "BYE"
            | "CANCEL"
            | "OPTIONS"
            | "REGISTER"
            | "INFO"
            | "PRACK"
            | "UPDATE"
            | "SUBSCRIBE"
            | "NOTIFY"
            | "REFER"
            | "MESSAGE"
            | "PUBLISH"
    )
}

/// The Request-URI: no `<>`, no spaces, no headers (`?`) in a SIP URI, a bracketed IPv6 host,
/// and a scheme we serve (else 416).
fn check_request_uri(uri: &str) -> Result<(), Refusal> {
    if uri.starts_with('<') {
        return Err(refuse(400, "the Request-URI must not be enclosed in <>"));
    }
    let Some((scheme, rest)) = split_at_byte(uri, b':') else {
        return Err(refuse(400, "the Request-URI has no scheme"));
    };
    let scheme_ok = scheme.bytes().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || (i > 0 && (c.is_ascii_digit() || b"+-.".contains(&c)))
    });
    if scheme.is_empty() || !scheme_ok {
        return Err(refuse(400, "bad URI scheme"));
    }
    if scheme.eq_ignore_ascii_case("tel") {
        return Ok(());
    }
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        let scheme = scheme.to_ascii_lowercase();
        return Err(refuse(416, format!("unsupported URI scheme {scheme:?}")));
    }
    // Headers (`?...`) come after the host; a user part may hold a '?'.
    let host_on = rfind(rest, b'@').map_or(rest, |i| &rest[i + 1..]);
    if find(host_on, b'?').is_some() {
        return Err(refuse(400, "headers are not allowed in the Request-URI"));
    }
    super::uri::Uri::parse(uri).map_err(|e| refuse(400, e))?;
    Ok(())
}

/// A Via value: `SIP/2.0/TRANSPORT sent-by *(;param)`, LWS allowed around the slashes, no
/// empty parameters.
fn check_via(v: &str) -> Result<(), Refusal> {
    let v = v.trim_ascii();
    if v.is_empty() {
        return Err(refuse(400, "an empty Via value"));
    }
    let mut params = parts(v, b';');
    let proto_and_host = params.next().unwrap_or("");
    for p in params {
        let name = split_at_byte(p, b'=').map_or(p, |(n, _)| n);
        if name.trim_ascii().is_empty() {
            return Err(refuse(400, "an empty Via parameter"));
        }
    }
    // Protocol: three slash-separated tokens, whitespace around the slashes allowed.
    let Some((name, rest)) = split_at_byte(proto_and_host, b'/') else {
        return Err(refuse(400, "bad Via protocol"));
    };
    let Some((version, rest)) = split_at_byte(rest, b'/') else {
        return Err(refuse(400, "bad Via protocol"));
    };
    let last = rest.trim_ascii_start();
    let (transport, sent_by) = last
        .bytes()
        .position(|c| c.is_ascii_whitespace())
        .map(|i| (&last[..i], &last[i + 1..]))
        .ok_or_else(|| refuse(400, "Via without sent-by"))?;
    if !name.trim_ascii().eq_ignore_ascii_case("SIP")
        || version.trim_ascii() != "2.0"
        || !is_token(transport)
    {
        return Err(refuse(400, "bad Via protocol"));
    }
    if sent_by.trim_ascii().is_empty() {
        return Err(refuse(400, "Via without sent-by"));
    }
    Ok(())
}

/// Whether `s` has whitespace (any Unicode space; bytes first, for speed).
pub(crate) fn has_space(s: &str) -> bool {
    // What `char::is_whitespace` counts among ASCII: the vertical tab as well. One pass over
    // the bytes; the first non-ASCII one (a character's first byte) sends the rest to the
    // Unicode check.
    match s
        .bytes()
        .position(|c| c.is_ascii_whitespace() || c == 0x0b || c >= 0x80)
    {
        None => false,
        Some(i) if s.as_bytes()[i] < 0x80 => true,
        Some(i) => s[i..].contains(char::is_whitespace),
    }
}

/// `"Display" <uri>;params`, `Name <uri>`, or `uri;params`: quotes and brackets balanced, no
/// empty parameters.
fn check_name_addr(v: &str, what: &str) -> Result<(), Refusal> {
    let v = v.trim_ascii();
    if v.is_empty() {
        return Err(refuse(400, format!("an empty {what}")));
    }
    // Skip a quoted display name (with backslash escapes).
    let mut rest = v;
    if let Some(q) = v.strip_prefix('"') {
        let mut escaped = false;
        let mut end = None;
        for (i, &c) in q.as_bytes().iter().enumerate() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end =
            end.ok_or_else(|| refuse(400, format!("unterminated quoted string in {what}")))?;
        rest = q[end + 1..].trim_start();
        if !rest.starts_with('<') {
            return Err(refuse(400, format!("{what}: a display name needs <uri>")));
        }
    }
    let params = if let Some(open) = find(rest, b'<') {
        // Unquoted, a display name is tokens separated by whitespace.
        let display = rest[..open].trim_ascii();
        if !display
            .bytes()
            .all(|c| is_token_char(c) || c.is_ascii_whitespace())
        {
            return Err(refuse(
                400,
                format!("{what}: the display name must be quoted"),
            ));
        }
        let close = find(&rest[open..], b'>')
            .ok_or_else(|| refuse(400, format!("{what}: '<' without '>'")))?;
        let uri = &rest[open + 1..open + close];
        if has_space(uri) {
            return Err(refuse(400, format!("{what}: spaces inside the URI")));
        }
        &rest[open + close + 1..]
    } else {
        // addr-spec without brackets: parameters after the URI belong to the header.
        let uri_end = find(rest, b';').unwrap_or(rest.len());
        if has_space(rest[..uri_end].trim_ascii()) {
            return Err(refuse(400, format!("{what}: spaces inside the URI")));
        }
        &rest[uri_end..]
    };
    for p in parts(params, b';').skip(1) {
        if p.trim_ascii().is_empty() {
            return Err(refuse(400, format!("{what}: an empty parameter")));
        }
    }
    Ok(())
}

/// Splits a header value at top-level commas (not inside quotes or `<>`), each item trimmed.
pub fn split_list(v: &str) -> List<'_> {
    List { rest: Some(v) }
}

/// The items of a comma-separated header value (see [`split_list`]).
pub struct List<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for List<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let v = self.rest?;
        // Most values are a single item: no comma at all, nothing to scan.
        if find(v, b',').is_none() {
            self.rest = None;
            return Some(v.trim_ascii());
        }
        let (mut quoted, mut angle, mut escaped) = (false, false, false);
        for (i, &c) in v.as_bytes().iter().enumerate() {
            match c {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b'<' if !quoted => angle = true,
                b'>' if !quoted => angle = false,
                b',' if !quoted && !angle => {
                    self.rest = Some(&v[i + 1..]);
                    return Some(v[..i].trim_ascii());
                }
                _ => {}
            }
        }
        self.rest = None;
        Some(v.trim_ascii())
    }
}

/// A `;name=value` parameter of a header value (outside `<>` and quotes), case-insensitive
/// name; `Some("")` for a parameter without a value.
pub fn param<'v>(value: &'v str, name: &str) -> Option<&'v str> {
    // One pass: where the last '>' is, and whether there is a '<' at all.
    let (mut close, mut open) = (None, false);
    for (i, &c) in value.as_bytes().iter().enumerate() {
        match c {
            b'<' => open = true,
            b'>' => close = Some(i),
            _ => {}
        }
    }
    let after = match close {
        Some(i) if open || value.trim_ascii_start().starts_with('"') => &value[i + 1..],
        _ => value,
    };
    // The parameters begin at the first ';' after that.
    params_from(&after[find(after, b';')?..], name)
}

/// A parameter of `;`-separated parameters (what comes before the first `;` is not one).
fn params_from<'v>(s: &'v str, name: &str) -> Option<&'v str> {
    parts(s, b';').skip(1).find_map(|p| {
        let (n, v) = split_at_byte(p, b'=').unwrap_or((p, ""));
        n.trim_ascii()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim_ascii())
    })
}

impl<'a> Message<'a> {
    /// The first value of a well-known header.
    fn known(&self, k: u8) -> Option<&str> {
        match self.first[k as usize] {
            0 => None,
            i => Some(&*self.headers[i as usize - 1].value),
        }
    }

    /// Every value of a well-known header, in order.
    fn all_known(&self, k: u8) -> impl Iterator<Item = &str> {
        let from = (self.first[k as usize] as usize).saturating_sub(1);
        self.headers[from..]
            .iter()
            .filter(move |h| h.known == k)
            .map(|h| &*h.value)
    }

    /// The first value of a header (by canonical name, case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        match known(name) {
            OTHER => self
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| &*h.value),
            k => self.known(k),
        }
    }

    /// Every value of a header, in order.
    pub fn all<'m>(&'m self, name: &'m str) -> impl Iterator<Item = &'m str> {
        let k = known(name);
        self.headers
            .iter()
            .filter(move |h| {
                if k == OTHER {
                    h.known == OTHER && h.name.eq_ignore_ascii_case(name)
                } else {
                    h.known == k
                }
            })
            .map(|h| &*h.value)
    }

    pub fn method(&self) -> Option<&'a str> {
        match self.start {
            Start::Request { method, .. } => Some(method),
            Start::Response { .. } => None,
        }
    }

    /// CSeq number (at most 2^32-1) and method.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let v = self.known(CSEQ)?;
        let mut it = v.split_whitespace();
        let (n, method, None) = (it.next()?, it.next()?, it.next()) else {
            return None;
        };
        if !n.bytes().all(|c| c.is_ascii_digit()) || !is_token(method) {
            return None;
        }
        Some((n.parse().ok()?, method))
    }

    pub fn call_id(&self) -> &str {
        self.known(CALL_ID).unwrap_or("")
    }

    /// The top Via value.
    pub fn top_via(&self) -> Option<&str> {
        self.top.or_else(|| split_list(self.known(VIA)?).next())
    }

    /// Every Via value (the fields' comma-separated items), top first.
    pub fn vias(&self) -> impl Iterator<Item = &str> {
        self.all_known(VIA).flat_map(split_list)
    }

    /// The top Via's branch, when it is an RFC 3261 one (magic cookie and something after).
    pub fn branch(&self) -> Option<&str> {
        // A Via value has no name-addr: its parameters follow the sent-by.
        let b = params_from(self.top_via()?, "branch")?;
        (b.len() > 7 && b.starts_with("z9hG4bK")).then_some(b)
    }

    pub fn from_tag(&self) -> Option<&str> {
        param(self.known(FROM)?, "tag").filter(|t| !t.is_empty())
    }

    pub fn to_tag(&self) -> Option<&str> {
        param(self.known(TO)?, "tag").filter(|t| !t.is_empty())
    }

    pub fn max_forwards(&self) -> u32 {
        self.known(MAX_FORWARDS)
            .and_then(|v| v.parse().ok())
            .unwrap_or(70)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:200@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
        f: <sip:caller@127.0.0.1>;tag=a1\r\n\
        t: <sip:200@127.0.0.1>\r\n\
        i: call-1\r\n\
        CSeq: 1 INVITE\r\n\
        Max-Forwards: 70\r\n\
        Subject: folded\r\n  value\r\n\
        l: 4\r\n\r\nbodyEXTRA";

    #[test]
    fn compact_names_folding_and_the_body_by_content_length() {
        let m = parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.get("From"), Some("<sip:caller@127.0.0.1>;tag=a1"));
        assert_eq!(m.get("subject"), Some("folded value"));
        assert_eq!(m.call_id(), "call-1");
        assert_eq!(m.cseq(), Some((1, "INVITE")));
        assert_eq!(m.body, b"body");
        assert_eq!(m.branch(), Some("z9hG4bK-1"));
        assert_eq!(m.from_tag(), Some("a1"));
        assert_eq!(m.to_tag(), None);
    }

    #[test]
    fn strict_checks_answer_with_the_right_status() {
        let with = |from: &str, to: &str| INVITE.replacen(from, to, 1);
        let status = |t: String| parse(t.as_bytes()).err().and_then(|r| r.status);
        assert_eq!(status(with("l: 4", "l: 40")), Some(400));
        assert_eq!(status(with("l: 4", "l: -4")), Some(400));
        assert_eq!(status(with("SIP/2.0\r\n", "SIP/3.0\r\n")), Some(505));
        assert_eq!(status(with("CSeq: 1 INVITE", "CSeq: 1 OPTIONS")), Some(400));
        assert_eq!(status(with("i: call-1\r\n", "")), Some(400));
        assert_eq!(
            status(with("Max-Forwards: 70", "Max-Forwards: 300")),
            Some(400)
        );
        assert_eq!(
            status(with("INVITE sip:200@", "INVITE  sip:200@")),
            Some(400)
        );
        assert_eq!(
            status(with("sip:200@127.0.0.1 SIP", "mailto:a@b SIP")),
            Some(416)
        );
        assert_eq!(
            status(with("CSeq: 1 INVITE", "CSeq: 4294967296 INVITE")),
            Some(400)
        );
        // An unquoted display name is tokens and whitespace; anything else must be quoted.
        for (display, ok) in [
            ("Bob", true),
            ("Bob  Smith\t", true),
            ("Bob.O'Neil-2", true),
            ("\"Bob, Jr.\" ", true),
            ("Bob, Jr. ", false),
            ("Bob@home ", false),
            ("Bøb ", false),
        ] {
            let t = with("f: <sip:caller", &format!("f: {display}<sip:caller"));
            let got = status(t);
            assert_eq!(got, (!ok).then_some(400), "{display:?}");
        }
    }

    #[test]
    fn stream_framing_waits_for_the_whole_message() {
        let b = INVITE.as_bytes();
        let whole = b.len() - "EXTRA".len();
        for cut in 0..whole {
            assert_eq!(frame(&b[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(frame(b), Ok(Some(whole)));
        assert_eq!(frame(b"\r\n\r\n"), Ok(None), "keep-alives only");
        // A Content-Length that would wrap the sum around is refused, not framed as 0 bytes.
        let huge = INVITE.replacen("l: 4", "l: 18446744073709551486", 1);
        assert!(frame(huge.as_bytes()).is_err());
    }

    #[test]
    fn every_well_known_name_is_found_in_any_case() {
        for (i, k) in KNOWN.iter().enumerate() {
            assert_eq!(known(k) as usize, i, "{k}");
            assert_eq!(known(&k.to_ascii_uppercase()) as usize, i, "{k}");
        }
        assert_eq!(known("X-Custom"), OTHER);
        assert_eq!(known("Tx"), OTHER);
        // A name one byte away from a well-known one is another name (any ASCII byte: the
        // framing looks names up before they are checked to be tokens).
        for (i, k) in KNOWN.iter().enumerate() {
            for at in 0..k.len() {
                for b in (0..0x80).filter(|&b: &u8| !b.eq_ignore_ascii_case(&k.as_bytes()[at])) {
                    let mut name = k.as_bytes().to_vec();
                    name[at] = b;
                    let name = String::from_utf8(name).unwrap();
                    assert_ne!(known(&name) as usize, i, "{name:?}");
                }
            }
        }
        let m = parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.get("x-unknown"), None);
        assert_eq!(m.all("SUBJECT").collect::<Vec<_>>(), vec!["folded value"]);
    }

    #[test]
    fn the_token_table_has_rfc_3261s_token_characters() {
        for c in 0..=255u8 {
            let token = c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c);
            assert_eq!(is_token_char(c), token, "{c:#04x}");
        }
    }

    #[test]
    fn spaces_are_found_as_char_is_whitespace_finds_them() {
        for s in [
            "",
            "sip:a@b",
            "sip:a b",
            "a\tb",
            "a\u{b}b",
            "a\u{c}b",
            "\r",
            "é",
            "éa b",
            "é\u{a0}",
            "x\u{2003}",
            "日本",
            "日本\u{3000}",
            "\u{85}",
            "ab\u{7f}",
        ] {
            assert_eq!(has_space(s), s.contains(char::is_whitespace), "{s:?}");
        }
        assert_eq!(
            params_from("SIP/2.0/UDP h;rport;Branch=z9hG4bKx", "branch"),
            Some("z9hG4bKx")
        );
        assert_eq!(params_from("SIP/2.0/UDP h", "branch"), None);
    }

    #[test]
    fn lists_and_params() {
        assert_eq!(
            split_list("\"a, b\" <sip:x@y>;tag=1, <sip:z@w>").collect::<Vec<_>>(),
            vec!["\"a, b\" <sip:x@y>;tag=1", "<sip:z@w>"]
        );
        assert_eq!(param("<sip:x@y;lr>;tag=abc", "tag"), Some("abc"));
        assert_eq!(param("<sip:x@y;tag=no>", "tag"), None);
        assert_eq!(
            param("SIP/2.0/UDP h;branch=z9hG4bK1;rport", "rport"),
            Some("")
        );
    }
}
