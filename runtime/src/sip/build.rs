//! Writing SIP messages: a response to a request (its Via list with the source's
//! `received`/`rport` on top, From, To with our tag, Call-ID, CSeq, Content-Length) and the
//! requests a UAS sends inside its dialogs (BYE).

use super::message::{Message, split_list};
use super::transaction::via_with_source;
use std::fmt::Write;
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
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
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
    let mut out = String::with_capacity(512);
    let _ = write!(out, "SIP/2.0 {code} {}\r\n", reason(code));
    let mut first = true;
    for v in req.all("Via") {
        for via in split_list(v) {
            if first {
                let _ = write!(out, "Via: {}\r\n", via_with_source(&via, source));
                first = false;
            } else {
                let _ = write!(out, "Via: {via}\r\n");
            }
        }
    }
    if let Some(from) = req.get("From") {
        let _ = write!(out, "From: {from}\r\n");
    }
    if let Some(to) = req.get("To") {
        match (req.to_tag(), to_tag) {
            (None, Some(tag)) if code > 100 => {
                let _ = write!(out, "To: {to};tag={tag}\r\n");
            }
            _ => {
                let _ = write!(out, "To: {to}\r\n");
            }
        }
    }
    let _ = write!(out, "Call-ID: {}\r\n", req.call_id());
    if let Some(cseq) = req.get("CSeq") {
        let _ = write!(out, "CSeq: {cseq}\r\n");
    }
    for h in extra {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("Server: callflow\r\n");
    let mut bytes = match body {
        Some((kind, b)) => {
            let _ = write!(
                out,
                "Content-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
                b.len()
            );
            let mut v = out.into_bytes();
            v.extend_from_slice(b);
            v
        }
        None => {
            out.push_str("Content-Length: 0\r\n\r\n");
            out.into_bytes()
        }
    };
    bytes.shrink_to_fit();
    bytes
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

pub fn request(r: &InDialog) -> Vec<u8> {
    format!(
        "{m} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
         CSeq: {cseq} {m}\r\n{extra}Content-Length: 0\r\n\r\n",
        m = r.method,
        target = r.target,
        local = r.local,
        branch = r.branch,
        from = r.from,
        to = r.to,
        call_id = r.call_id,
        cseq = r.cseq,
        extra = r.extra,
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
        assert_eq!(r.all("Via").len(), 2);
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
