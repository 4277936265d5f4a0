//! Reading a session description (RFC 8866) for offer/answer: one pass over the text, no
//! copies. It checks the structure every line must have (`x=value`, `v=0` first, no NUL or
//! bare CR, the line types that may appear once at most) and the fields of the lines whose
//! syntax is fixed (`o=`, `c=`, `b=`, `t=`, `r=`, `m=`); it keeps where each stream's lines
//! are, so attributes are looked up only for the stream being considered. Unknown line types
//! are ignored (RFC 8866 §5).
//!
//! Lenient where phones are: `o=`, `s=` and `t=` may be missing, and lines after `v=` may come
//! in any order within their section. Where it differs from `sdp-types` (which read offers
//! before; the tests compare the two): an `m=` line with an empty field is refused; a `z=`
//! line is not read (only that it comes once), an `r=` time is not multiplied out, and a CR
//! that ends the body's last line is taken as that line's end.

/// A session description, borrowed from the body it was read from.
#[derive(Debug)]
pub struct Description<'a> {
    /// The session-level `c=` address (without a `/ttl` or `/count`).
    pub connection: Option<&'a str>,
    /// The session-level direction attribute.
    pub direction: Option<&'static str>,
    pub streams: Vec<Stream<'a>>,
}

/// One media description (an `m=` line and the lines after it).
#[derive(Debug)]
pub struct Stream<'a> {
    pub media: &'a str,
    pub port: u16,
    pub proto: &'a str,
    /// The format list as written (payload types, for RTP).
    pub fmt: &'a str,
    /// The stream's first `c=` address (without a `/ttl` or `/count`).
    pub connection: Option<&'a str>,
    pub direction: Option<&'static str>,
    /// The stream's lines after its `m=` line (those of unknown types need not be UTF-8).
    lines: &'a [u8],
}

impl<'a> Stream<'a> {
    /// Each `a=rtpmap:` of the stream (the attribute's name in any case): its payload type
    /// and encoding (`PCMU/8000`).
    pub fn rtpmaps(&self) -> impl Iterator<Item = (u8, &'a str)> {
        self.lines.split(|&b| b == b'\n').filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let name = line.get(..9)?;
            if name[..2] != *b"a=" || !name[2..].eq_ignore_ascii_case(b"rtpmap:") {
                return None;
            }
            // Attribute lines were found to be UTF-8 when read.
            let value = std::str::from_utf8(&line[9..]).ok()?;
            let (pt, encoding) = value.split_once(' ')?;
            Some((pt.trim().parse().ok()?, encoding.trim()))
        })
    }
}

/// Reads a description; the error says which line is wrong and why.
pub fn read(body: &[u8]) -> Result<Description<'_>, String> {
    let mut reader = Reader {
        text: body,
        d: Description {
            connection: None,
            direction: None,
            streams: Vec::new(),
        },
        session: Seen::default(),
        section: Seen::default(),
        times: false,
        stream: None,
    };
    let mut lines = Lines {
        text: body,
        at: 0,
        n: 0,
    };
    match lines.next()? {
        Some(l) if l.key == b'v' && l.value == b"0" => {}
        Some(l) if l.key == b'v' => {
            let v = String::from_utf8_lossy(l.value);
            return Err(format!("line {}: version {v:?}, not 0", l.n));
        }
        _ => return Err("it does not begin with v=0".into()),
    }
    while let Some(line) = lines.next()? {
        reader
            .line(&line)
            .map_err(|why| format!("line {} ({}=): {why}", line.n, line.key as char))?;
    }
    reader.end_stream(body.len());
    Ok(reader.d)
}

/// One line: its number (from 1), its type letter, its value and where it is in the text.
struct Line<'a> {
    n: usize,
    key: u8,
    value: &'a [u8],
    start: usize,
    end: usize,
}

struct Lines<'a> {
    text: &'a [u8],
    at: usize,
    n: usize,
}

impl<'a> Lines<'a> {
    /// The next line that is not empty; CRLF or LF ends a line.
    fn next(&mut self) -> Result<Option<Line<'a>>, String> {
        while self.at < self.text.len() {
            let start = self.at;
            let rest = &self.text[start..];
            let (line, end) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], start + i + 1),
                None => (rest, self.text.len()),
            };
            self.at = end;
            self.n += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let n = self.n;
            if line.iter().any(|&b| b == b'\r' || b == 0) {
                return Err(format!("line {n}: a NUL or CR inside the line"));
            }
            if line.len() < 2 || line[0] == b'=' || line[1] != b'=' {
                return Err(format!("line {n}: not a type=value line"));
            }
            return Ok(Some(Line {
                n,
                key: line[0],
                value: &line[2..],
                start,
                end,
            }));
        }
        Ok(None)
    }
}

/// The line types of a section that may appear once at most.
#[derive(Default)]
struct Seen {
    lines: u32,
}

impl Seen {
    fn once(&mut self, key: u8) -> Result<(), &'static str> {
        debug_assert!(key.is_ascii_lowercase());
        let bit = 1 << (key - b'a');
        if self.lines & bit != 0 {
            return Err("this line may appear once only");
        }
        self.lines |= bit;
        Ok(())
    }
}

struct Reader<'a> {
    text: &'a [u8],
    d: Description<'a>,
    session: Seen,
    section: Seen,
    /// Whether a `t=` line came (an `r=` line belongs to one).
    times: bool,
    /// The stream being read, and where its lines begin.
    stream: Option<(Stream<'a>, usize)>,
}

impl<'a> Reader<'a> {
    fn line(&mut self, l: &Line<'a>) -> Result<(), &'static str> {
        // The line types read here are text; others are skipped as they are.
        let known: &[u8] = match self.stream {
            None => b"mosiuepcbtrzka",
            Some(_) => b"mickba",
        };
        if !known.contains(&l.key) {
            return Ok(());
        }
        let value = std::str::from_utf8(l.value).map_err(|_| "not UTF-8 text")?;
        if l.key == b'm' {
            self.end_stream(l.start);
            self.stream = Some((media(value)?, l.end));
            self.section = Seen::default();
            return Ok(());
        }
        let Some((s, _)) = self.stream.as_mut() else {
            match l.key {
                b'o' => {
                    self.session.once(b'o')?;
                    origin(value)?;
                }
                b's' | b'i' | b'u' | b'z' | b'k' => self.session.once(l.key)?,
                b'c' => {
                    self.session.once(b'c')?;
                    self.d.connection = Some(connection(value)?);
                }
                b'b' => bandwidth(value)?,
                b't' => {
                    times(value, false)?;
                    self.times = true;
                }
                b'r' if !self.times => return Err("a repeat time before any t= line"),
                b'r' => times(value, true)?,
                b'a' => self.d.direction = self.d.direction.or(direction(value)),
                _ => {}
            }
            return Ok(());
        };
        match l.key {
            b'i' | b'k' => self.section.once(l.key)?,
            b'c' => {
                let address = connection(value)?;
                s.connection = s.connection.or(Some(address));
            }
            b'b' => bandwidth(value)?,
            b'a' => s.direction = s.direction.or(direction(value)),
            _ => {}
        }
        Ok(())
    }

    /// The stream being read ends where the next begins (or at the end of the text).
    fn end_stream(&mut self, at: usize) {
        if let Some((mut s, start)) = self.stream.take() {
            s.lines = &self.text[start..at];
            self.d.streams.push(s);
        }
    }
}

/// `m=<media> <port>[/<count>] <proto> <fmt> ...`
fn media(value: &str) -> Result<Stream<'_>, &'static str> {
    let mut fields = value.splitn(4, ' ');
    let mut field = |what| fields.next().filter(|f| !f.is_empty()).ok_or(what);
    let media = field("no media type")?;
    let ports = field("no port")?;
    let proto = field("no transport protocol")?;
    let fmt = field("no format")?;
    let (port, count) = match ports.split_once('/') {
        Some((port, count)) => (port, Some(count)),
        None => (ports, None),
    };
    let port = port
        .parse()
        .map_err(|_| "the port is not a number to 65535")?;
    if count.is_some_and(|c| c.parse::<u16>().is_err()) {
        return Err("the port count is not a number to 65535");
    }
    Ok(Stream {
        media,
        port,
        proto,
        fmt,
        connection: None,
        direction: None,
        lines: b"",
    })
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
fn origin(value: &str) -> Result<(), &'static str> {
    let [_, _, version, net, address, _] = fields(value).ok_or("not six fields")?;
    if version.parse::<u64>().is_err() {
        return Err("the session version is not a number");
    }
    if !token(net) || !token(address) {
        return Err("the network or address type is not a token");
    }
    Ok(())
}

/// `c=<nettype> <addrtype> <connection-address>`: the address, without `/ttl` or `/count`.
fn connection(value: &str) -> Result<&str, &'static str> {
    let [net, kind, address] = fields(value).ok_or("not three fields")?;
    if !token(net) || !token(kind) {
        return Err("the network or address type is not a token");
    }
    Ok(address.split('/').next().unwrap_or_default())
}

/// `b=<bwtype>:<bandwidth>`
fn bandwidth(value: &str) -> Result<(), &'static str> {
    match value.split_once(':') {
        Some((_, n)) if n.parse::<u64>().is_ok() => Ok(()),
        _ => Err("not <type>:<number>"),
    }
}

/// `t=<start> <stop>` (exactly two numbers) or, `repeat`, `r=<interval> <duration>
/// <offsets>...` (at least two, each with an optional d/h/m/s unit).
fn times(value: &str, repeat: bool) -> Result<(), &'static str> {
    let mut n = 0;
    for f in value.split(' ').filter(|f| !f.is_empty()) {
        let digits = match f.as_bytes()[f.len() - 1] {
            b'd' | b'h' | b'm' | b's' if repeat => &f[..f.len() - 1],
            _ => f,
        };
        if digits.parse::<u64>().is_err() {
            return Err("a time is not a number");
        }
        n += 1;
    }
    match (repeat, n) {
        (false, 2) => Ok(()),
        (false, _) => Err("not two times"),
        (true, 2..) => Ok(()),
        (true, _) => Err("not an interval and a duration"),
    }
}

/// A direction attribute (RFC 3264 §5.1), by the attribute's name.
fn direction(value: &str) -> Option<&'static str> {
    match value.split(':').next().unwrap_or_default() {
        "sendrecv" => Some("sendrecv"),
        "sendonly" => Some("sendonly"),
        "recvonly" => Some("recvonly"),
        "inactive" => Some("inactive"),
        _ => None,
    }
}

/// Exactly N fields separated by runs of spaces.
fn fields<const N: usize>(value: &str) -> Option<[&str; N]> {
    let mut out = [""; N];
    let mut it = value.split(' ').filter(|f| !f.is_empty());
    for slot in out.iter_mut() {
        *slot = it.next()?;
    }
    it.next().is_none().then_some(out)
}

/// RFC 8866's `token`.
fn token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            matches!(b, 0x21 | 0x23..=0x27 | 0x2a | 0x2b | 0x2d | 0x2e | 0x30..=0x39 | 0x41..=0x5a | 0x5e..=0x7e)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nb=AS:64\r\nt=0 0\r\nr=7d 1h 0 25h\r\na=recvonly\r\nm=video 5000/2 RTP/AVP 31\r\nb=CT:128\r\nm=audio 6000 RTP/AVP 8 0 101\r\nc=IN IP4 192.0.2.2/127\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendonly\r\n";

    fn direction_of(attributes: &[sdp_types::Attribute]) -> Option<&'static str> {
        attributes.iter().find_map(|a| direction(&a.attribute))
    }

    #[test]
    fn streams_and_their_lines_are_read() {
        let d = read(OFFER.as_bytes()).unwrap();
        assert_eq!(d.connection, Some("192.0.2.1"));
        assert_eq!(d.direction, Some("recvonly"));
        assert_eq!(d.streams.len(), 2);
        let (v, a) = (&d.streams[0], &d.streams[1]);
        assert_eq!(
            (v.media, v.port, v.proto, v.fmt),
            ("video", 5000, "RTP/AVP", "31")
        );
        assert_eq!(
            (v.connection, v.direction, v.rtpmaps().count()),
            (None, None, 0)
        );
        assert_eq!((a.media, a.port, a.fmt), ("audio", 6000, "8 0 101"));
        assert_eq!(
            (a.connection, a.direction),
            (Some("192.0.2.2"), Some("sendonly"))
        );
        let maps: Vec<_> = a.rtpmaps().collect();
        assert_eq!(maps, [(8, "PCMA/8000"), (101, "telephone-event/8000")]);
        // LF alone ends lines too.
        let lf = OFFER.replace("\r\n", "\n");
        assert_eq!(read(lf.as_bytes()).unwrap().streams[1].rtpmaps().count(), 2);
    }

    #[test]
    fn errors_say_which_line_and_why() {
        let e = |s: &str| read(s.as_bytes()).unwrap_err();
        assert_eq!(e("hello"), "line 1: not a type=value line");
        assert_eq!(e("s=x\r\nv=0\r\n"), "it does not begin with v=0");
        assert_eq!(e("v=1\r\n"), "line 1: version \"1\", not 0");
        assert_eq!(
            e("v=0\r\no=- 1 x IN IP4 a\r\n"),
            "line 2 (o=): the session version is not a number"
        );
        assert_eq!(
            e("v=0\r\ns=a\r\ns=b\r\n"),
            "line 3 (s=): this line may appear once only"
        );
        assert_eq!(e("v=0\r\nc=IN IP4\r\n"), "line 2 (c=): not three fields");
        assert_eq!(
            e("v=0\r\nr=1 2\r\n"),
            "line 2 (r=): a repeat time before any t= line"
        );
        assert_eq!(
            e("v=0\r\nm=audio 70000 RTP/AVP 0\r\n"),
            "line 2 (m=): the port is not a number to 65535"
        );
        assert_eq!(e("v=0\r\nm=audio 7 RTP/AVP\r\n"), "line 2 (m=): no format");
        assert_eq!(
            e("v=0\r\ns=a\rb\r\n"),
            "line 2: a NUL or CR inside the line"
        );
        assert_eq!(e("v=0\r\n\u{ff}"), "line 2: not a type=value line");
        assert_eq!(
            read(b"v=0\r\ns=\xff\r\n").unwrap_err(),
            "line 2 (s=): not UTF-8 text"
        );
        // A line of a type we do not know is skipped, whatever its bytes.
        assert!(read(b"v=0\r\n\xff=\xfe\r\ny=\xff\r\n").is_ok());
    }

    #[test]
    fn differs_from_sdp_types_only_where_meant() {
        let with = |line: &str| format!("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n{line}");
        for (offer, ours, theirs) in [
            (with("m=audio 7  RTP/AVP 0\r\n"), false, true),
            (with("z=garbage\r\n"), true, false),
            (with("r=300000000000000d 1h\r\n"), true, false),
            (with("m=audio 7 RTP/AVP 0\r\na=x\r"), true, false),
            (with("b=:64\r\n"), true, true),
        ] {
            let shown = offer.escape_debug();
            assert_eq!(read(offer.as_bytes()).is_ok(), ours, "{shown}");
            assert_eq!(
                sdp_types::Session::parse(offer.as_bytes()).is_ok(),
                theirs,
                "{shown}"
            );
        }
        // Attribute names in any case, as before.
        let d = with("m=audio 7 RTP/AVP 0 101\r\na=RTPMAP:101 telephone-event/8000\r\n");
        let ours = read(d.as_bytes()).unwrap();
        assert_eq!(
            ours.streams[0].rtpmaps().collect::<Vec<_>>(),
            [(101, "telephone-event/8000")]
        );
    }

    /// Every offer made from ours by deleting, doubling or changing one line or byte is
    /// refused by our reader exactly when `sdp-types` (the parser used before) refuses it,
    /// and where both read it, they find the same streams, addresses and formats. One
    /// difference is on purpose: an `m=` line with an empty field (two spaces in a row) is
    /// refused here, where `sdp-types` takes the empty string for a protocol or format.
    #[test]
    fn agrees_with_sdp_types_on_every_small_change() {
        let base: Vec<&str> = OFFER.split_inclusive("\r\n").collect();
        let mut offers: Vec<Vec<u8>> = Vec::new();
        for i in 0..base.len() {
            let mut without = base.clone();
            without.remove(i);
            offers.push(without.concat().into_bytes());
            let mut doubled = base.clone();
            doubled.insert(i, base[i]);
            offers.push(doubled.concat().into_bytes());
        }
        for at in 0..OFFER.len() {
            for b in [b' ', b'/', b'x', b'\r', b'\n', 0, b'=', b':', b'9', 0xff] {
                let mut o = OFFER.as_bytes().to_vec();
                o[at] = b;
                offers.push(o);
            }
        }
        let mut compared = 0;
        let mut differ = Vec::new();
        for o in &offers {
            let theirs = sdp_types::Session::parse(o);
            let ours = read(o);
            let shown = String::from_utf8_lossy(o);
            let empty_field = |s: &sdp_types::Session| {
                s.medias.iter().any(|m| {
                    m.media.is_empty()
                        || m.proto.is_empty()
                        || m.fmt.is_empty()
                        || m.fmt.starts_with(' ')
                })
            };
            if ours.is_err() && theirs.as_ref().is_ok_and(empty_field) {
                continue;
            }
            if ours.is_ok() != theirs.is_ok() {
                differ.push(format!("{shown:?}: {:?} / {:?}", ours.err(), theirs.err()));
                continue;
            }
            let (Ok(ours), Ok(theirs)) = (ours, theirs) else {
                continue;
            };
            compared += 1;
            let address = |c: &sdp_types::Connection| {
                c.connection_address.split('/').next().unwrap().to_string()
            };
            assert_eq!(
                ours.connection.map(str::to_string),
                theirs.connection.as_ref().map(address)
            );
            assert_eq!(
                ours.direction,
                direction_of(&theirs.attributes),
                "{shown:?}"
            );
            assert_eq!(ours.streams.len(), theirs.medias.len(), "{shown:?}");
            for (a, b) in ours.streams.iter().zip(&theirs.medias) {
                assert_eq!(
                    (a.media, a.port, a.proto, a.fmt),
                    (&*b.media, b.port, &*b.proto, &*b.fmt)
                );
                assert_eq!(
                    a.connection.map(str::to_string),
                    b.connections.first().map(address)
                );
                // As the offer/answer code read them with `sdp-types`.
                let maps: Vec<(u8, &str)> = b
                    .get_attribute_values("rtpmap")
                    .flatten()
                    .filter_map(|v| {
                        let (pt, name) = v.split_once(' ')?;
                        Some((pt.trim().parse().ok()?, name.trim()))
                    })
                    .collect();
                assert_eq!(a.rtpmaps().collect::<Vec<_>>(), maps, "{shown:?}");
                assert_eq!(a.direction, direction_of(&b.attributes), "{shown:?}");
            }
        }
        assert!(
            differ.is_empty(),
            "{} differ:\n{}",
            differ.len(),
            differ.join("\n")
        );
        assert!(compared > 100, "only {compared} offers were read by both");
    }
}
