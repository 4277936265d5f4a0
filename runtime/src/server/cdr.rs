//! Call records: one JSON line per call — the numbers, the times, the flow and the program it
//! ran on, the flow lines it passed, the keys pressed, the prompts played and how it ended.

use crate::sip::text::push_decimal;

// The line is written by hand (`Record::line`); serde's derive stays as the tests' reference
// for what the line must be.
#[derive(Clone, Debug)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Record {
    pub call_id: String,
    pub caller: String,
    pub dialled: String,
    pub flow: String,
    /// The program's checksum (which version of the flows ran), written as 16 hex digits.
    #[cfg_attr(test, serde(serialize_with = "hex"))]
    pub program: u64,
    /// Milliseconds since the epoch.
    pub started: i64,
    pub answered: Option<i64>,
    pub ended: Option<i64>,
    /// `file:line` of each flow line the call passed, in order.
    pub path: Vec<String>,
    pub keys: Vec<String>,
    pub prompts: Vec<String>,
    /// How the call ended, in words.
    pub outcome: String,
    /// The SIP status of the INVITE's final response.
    pub status: u16,
    /// The recordings made of the call (only ever with consent).
    pub recordings: Vec<Recording>,
    /// What the caller said to each consent asked, in order, with times.
    pub consent: Vec<ConsentEvent>,
    /// The agents whose phones rang for the call, in the order they were rung.
    pub agents: Vec<Offer>,
}

/// An agent's phone rung for the call: when, when it answered, and how it ended (`answered`,
/// `busy (486)`, `declined (603)`, `no answer`, `answered elsewhere`, `caller gone`, ...).
#[derive(Clone, Debug)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Offer {
    pub agent: String,
    pub rang: i64,
    pub answered: Option<i64>,
    pub result: String,
}

/// A consent given, refused or withdrawn (ms since the epoch).
#[derive(Clone, Debug)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct ConsentEvent {
    pub consent: String,
    /// `given`, `refused` or `withdrawn`.
    pub event: &'static str,
    pub at: i64,
}

/// One recording of a call: its file, and when it started and stopped (ms since the epoch),
/// and what stopped it (`the flow`, `consent withdrawn`, `the call ended`).
#[derive(Clone, Debug)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Recording {
    pub file: String,
    pub started: i64,
    pub stopped: Option<i64>,
    pub stopped_by: String,
    /// `caller`, `agent` or `both`.
    pub sides: &'static str,
}

impl Record {
    pub fn new(
        call_id: &str,
        caller: &str,
        dialled: &str,
        flow: &str,
        program: u64,
        started: i64,
    ) -> Record {
        Record {
            call_id: call_id.into(),
            caller: caller.into(),
            dialled: dialled.into(),
            flow: flow.into(),
            program,
            started,
            answered: None,
            ended: None,
            path: Vec::new(),
            keys: Vec::new(),
            prompts: Vec::new(),
            outcome: String::new(),
            status: 0,
            recordings: Vec::new(),
            consent: Vec::new(),
            agents: Vec::new(),
        }
    }

    /// Moves every time of the record by `by` ms: the wall clock was stepped while the call
    /// went on (see `Uas`), and its times stay on one clock, so its durations stay true.
    pub fn shift(&mut self, by: i64) {
        let at = |t: &mut i64| *t = t.saturating_add(by);
        at(&mut self.started);
        for t in [&mut self.answered, &mut self.ended].into_iter().flatten() {
            at(t);
        }
        for o in &mut self.agents {
            at(&mut o.rang);
            o.answered.iter_mut().for_each(at);
        }
        for r in &mut self.recordings {
            at(&mut r.started);
            r.stopped.iter_mut().for_each(at);
        }
        self.consent.iter_mut().for_each(|c| at(&mut c.at));
    }

    /// One JSON line (the formatting of the record happens here, once per call, not as the
    /// call goes). Written by hand: serde_json took ~6,000 instructions a call for it.
    pub fn line(&self) -> String {
        let mut j = Json(String::with_capacity(512));
        j.0.push('{');
        j.string("call_id", &self.call_id);
        j.string("caller", &self.caller);
        j.string("dialled", &self.dialled);
        j.string("flow", &self.flow);
        j.key("program");
        j.0.push('"');
        for shift in (0..16).rev() {
            let digit = (self.program >> (shift * 4)) & 0xf;
            j.0.push(char::from(b"0123456789abcdef"[digit as usize]));
        }
        j.0.push('"');
        j.number("started", self.started);
        j.maybe("answered", self.answered);
        j.maybe("ended", self.ended);
        for (name, list) in [
            ("path", &self.path),
            ("keys", &self.keys),
            ("prompts", &self.prompts),
        ] {
            j.list(name, list, |j, s| j.quoted(s));
        }
        j.string("outcome", &self.outcome);
        j.number("status", self.status.into());
        j.list("recordings", &self.recordings, |j, r| {
            j.object(|j| {
                j.string("file", &r.file);
                j.number("started", r.started);
                j.maybe("stopped", r.stopped);
                j.string("stopped_by", &r.stopped_by);
                j.string("sides", r.sides);
            })
        });
        j.list("consent", &self.consent, |j, c| {
            j.object(|j| {
                j.string("consent", &c.consent);
                j.string("event", c.event);
                j.number("at", c.at);
            })
        });
        j.list("agents", &self.agents, |j, a| {
            j.object(|j| {
                j.string("agent", &a.agent);
                j.number("rang", a.rang);
                j.maybe("answered", a.answered);
                j.string("result", &a.result);
            })
        });
        j.0.push('}');
        j.0
    }
}

/// A JSON object being written: fields are separated by commas as they come.
struct Json(String);

impl Json {
    fn object(&mut self, fields: impl FnOnce(&mut Json)) {
        self.0.push('{');
        fields(self);
        self.0.push('}');
    }

    fn key(&mut self, name: &str) {
        if !matches!(self.0.as_bytes().last(), Some(b'{' | b'[')) {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(name);
        self.0.push_str("\":");
    }

    fn string(&mut self, name: &str, value: &str) {
        self.key(name);
        self.quoted(value);
    }

    fn number(&mut self, name: &str, n: i64) {
        self.key(name);
        if n < 0 {
            self.0.push('-');
        }
        push_decimal(&mut self.0, n.unsigned_abs());
    }

    fn maybe(&mut self, name: &str, n: Option<i64>) {
        match n {
            Some(n) => self.number(name, n),
            None => {
                self.key(name);
                self.0.push_str("null");
            }
        }
    }

    fn list<T>(&mut self, name: &str, items: &[T], mut each: impl FnMut(&mut Json, &T)) {
        self.key(name);
        self.0.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            each(self, item);
        }
        self.0.push(']');
    }

    /// A JSON string, escaped as serde_json escapes (RFC 8259: quote, backslash and control
    /// characters; the short forms where there are some).
    fn quoted(&mut self, s: &str) {
        self.0.push('"');
        // Most strings need no escape: one pass without branches (it vectorises) finds out.
        let plain_only = !s.bytes().fold(false, |any, b| {
            any | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if plain_only {
            self.0.push_str(s);
            self.0.push('"');
            return;
        }
        let mut plain = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.push_str(&s[plain..i]);
            plain = i + 1;
            if escape.is_empty() {
                self.0.push_str("\\u00");
                self.0
                    .push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
                self.0
                    .push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
            } else {
                self.0.push_str(escape);
            }
        }
        self.0.push_str(&s[plain..]);
        self.0.push('"');
    }
}

/// The program checksum as the records have always shown it: 16 hex digits.
#[cfg(test)]
fn hex<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_what_serde_json_writes() {
        let mut r = Record::new(
            "a\"b\\c@h",
            "+4930\u{1}\u{1f}",
            "\n\r\t\u{8}\u{c}",
            "flöw",
            0xab,
            -5,
        );
        assert_eq!(r.line(), serde_json::to_string(&r).unwrap());
        r.answered = Some(1_700_000_000_000);
        r.ended = Some(i64::MAX);
        r.path = vec!["main.flow:3".into(), "main.flow:4".into()];
        r.keys = vec!["1".into()];
        r.outcome = "hung up \u{7f} \u{2028}".into();
        r.status = 200;
        r.recordings.push(Recording {
            file: "rec/x.wav".into(),
            started: 1,
            stopped: None,
            stopped_by: "the call ended".into(),
            sides: "both",
        });
        r.consent.push(ConsentEvent {
            consent: "rec".into(),
            event: "given",
            at: i64::MIN,
        });
        for answered in [Some(3), None] {
            r.agents.push(Offer {
                agent: "ann".into(),
                rang: 2,
                answered,
                result: "answered".into(),
            });
        }
        r.program = u64::MAX;
        assert_eq!(r.line(), serde_json::to_string(&r).unwrap());
        let _: serde_json::Value = serde_json::from_str(&r.line()).unwrap();
    }
}
