//! Writing SIP messages: a response to a request (its Via list with the source's
//! `received`/`rport` on top, From, To with our tag, Call-ID, CSeq, Content-Length) and the
//! requests a UAS sends inside its dialogs (BYE).

use super::message::Message;
use super::transaction::via_with_source;
use std::net::SocketAddr;

/// The reason phrase RFC 3261 gives a status code.
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// What every response to a request repeats (§8.2.6.2): its Via list (the top one with the
/// packet's source as `received`/`rport`), From, To, Call-ID and CSeq — taken from the
/// request once, and kept by a call for the responses it sends later (no second parse).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Echo {
    /// The header lines, CRLF-terminated, with the To line's end at `to_end` (where our tag
    /// goes).
    text: Box<str>,
    to_end: u32,
    /// Whether the request's To has a tag already (then ours is not added).
    tagged: bool,
}

impl Echo {
    pub fn of(req: &Message, source: SocketAddr) -> Echo {
        let mut t = String::with_capacity(256);
        let mut first = true;
        for via in req.vias() {
            t.push_str("Via: ");
            if first {
                t.push_str(&via_with_source(via, source));
                first = false;
            } else {
                t.push_str(via);
            }
            t.push_str("\r\n");
        }
        if let Some(from) = req.get("From") {
            t.push_str("From: ");
            t.push_str(from);
            t.push_str("\r\n");
        }
        let mut to_end = None;
        if let Some(to) = req.get("To") {
            t.push_str("To: ");
            t.push_str(to);
            to_end = Some(t.len());
            t.push_str("\r\n");
        }
        t.push_str("Call-ID: ");
        t.push_str(req.call_id());
        t.push_str("\r\n");
        if let Some(cseq) = req.get("CSeq") {
            t.push_str("CSeq: ");
            t.push_str(cseq);
            t.push_str("\r\n");
        }
        Echo {
            to_end: to_end.unwrap_or(usize::MAX) as u32,
            text: t.into(),
            tagged: req.to_tag().is_some(),
        }
    }

    /// The response with status `code`. `to_tag`: our tag, added to To when the request's To
    /// has none (not on a 100). `extra`: more header lines (`"Contact: <sip:...>"`).
    pub fn response(
        &self,
        code: u16,
        to_tag: Option<&str>,
        extra: &[String],
        body: Option<(&str, &[u8])>,
    ) -> Vec<u8> {
        // Exactly what is written (responses are kept for retransmission: no slack).
        let size = 14
            + reason(code).len()
            + self.text.len()
            + to_tag.map_or(0, |t| t.len() + 5)
            + extra.iter().map(|h| h.len() + 2).sum::<usize>()
            + 18
            + body.map_or(21, |(k, b)| 14 + k.len() + 18 + 20 + 4 + b.len());
        let mut out: Vec<u8> = Vec::with_capacity(size);
        out.extend_from_slice(b"SIP/2.0 ");
        push_number(&mut out, code as usize);
        out.push(b' ');
        out.extend_from_slice(reason(code).as_bytes());
        out.extend_from_slice(b"\r\n");
        let text = self.text.as_bytes();
        match to_tag {
            Some(tag) if !self.tagged && code > 100 && (self.to_end as usize) < text.len() => {
                let at = self.to_end as usize;
                out.extend_from_slice(&text[..at]);
                out.extend_from_slice(b";tag=");
                out.extend_from_slice(tag.as_bytes());
                out.extend_from_slice(&text[at..]);
            }
            _ => out.extend_from_slice(text),
        }
        for h in extra {
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Server: callflow\r\n");
        match body {
            Some((kind, b)) => {
                out.extend_from_slice(b"Content-Type: ");
                out.extend_from_slice(kind.as_bytes());
                out.extend_from_slice(b"\r\nContent-Length: ");
                push_number(&mut out, b.len());
                out.extend_from_slice(b"\r\n\r\n");
                out.extend_from_slice(b);
            }
            None => out.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
        }
        out
    }
}

/// Appends `n` in decimal.
fn push_number(out: &mut Vec<u8>, n: usize) {
    let mut buf = [0u8; 20];
    out.extend_from_slice(super::text::decimal(n as u64, &mut buf));
}

/// A response to `req`, which came from `source`. `to_tag`: our tag, added to To when the
/// request's To has none. `extra`: more header lines (`"Contact: <sip:...>"`).
pub fn response(
    req: &Message,
    source: SocketAddr,
    code: u16,
    to_tag: Option<&str>,
    extra: &[String],
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    Echo::of(req, source).response(code, to_tag, extra, body)
}

/// A request inside a dialog we are the UAS of (BYE, ...): to the peer's Contact (or the From
/// URI), From and To swapped, our next CSeq, a new branch.
pub struct InDialog<'a> {
    pub method: &'a str,
    /// Where the request goes (the remote target: the peer's Contact URI).
    pub target: &'a str,
    /// Our address as the Via sent-by (`127.0.0.1:5060`).
    pub local: SocketAddr,
    pub branch: &'a str,
    /// Our side: the To of the INVITE with our tag.
    pub from: &'a str,
    /// Their side: the From of the INVITE.
    pub to: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    /// More header lines, each ending in CRLF (`Refer-To: <sip:...>\r\n`).
    pub extra: &'a str,
}

/// An INVITE we send (an agent's leg): our Contact and an SDP offer.
pub fn invite(r: &InDialog, contact: &str, sdp: &str) -> Vec<u8> {
    let extra = format!(
        "Contact: <{contact}>\r\nAllow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO\r\n{}",
        r.extra
    );
    with_body(
        &InDialog {
            method: "INVITE",
            extra: &extra,
            ..*r
        },
        Some(("application/sdp", sdp)),
    )
}

pub fn request(r: &InDialog) -> Vec<u8> {
    with_body(r, None)
}

fn with_body(r: &InDialog, body: Option<(&str, &str)>) -> Vec<u8> {
    let (kind, body) = match body {
        Some((kind, body)) => (format!("Content-Type: {kind}\r\n"), body),
        None => (String::new(), ""),
    };
    format!(
        "{m} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
         CSeq: {cseq} {m}\r\n{extra}{kind}Content-Length: {len}\r\n\r\n{body}",
        m = r.method,
        target = r.target,
        local = r.local,
        branch = r.branch,
        from = r.from,
        to = r.to,
        call_id = r.call_id,
        cseq = r.cseq,
        extra = r.extra,
        len = body.len(),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;

    #[test]
    fn a_response_mirrors_the_request_and_parses() {
        let req = b"INVITE sip:200@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:200@127.0.0.1>\r\nCall-ID: c\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n";
        let m = parse(req).unwrap();
        let src = "127.0.0.1:5070".parse().unwrap();
        let bytes = response(
            &m,
            src,
            200,
            Some("t9"),
            &["Contact: <sip:200@127.0.0.1:5060>".into()],
            Some(("application/sdp", b"v=0\r\n")),
        );
        let r = parse(&bytes).unwrap();
        assert_eq!(r.to_tag(), Some("t9"));
        assert_eq!(r.all("Via").count(), 2);
        assert!(
            r.get("Via")
                .unwrap()
                .ends_with("rport=5070;received=127.0.0.1")
        );
        assert_eq!(r.body, b"v=0\r\n");
        assert_eq!(r.cseq(), Some((7, "INVITE")));
        let trying = response(&m, src, 100, Some("t9"), &[], None);
        assert_eq!(parse(&trying).unwrap().to_tag(), None, "100 carries no tag");
    }
}
