//! Call records: one JSON line per call — the numbers, the times, the flow and the program it
//! ran on, the flow lines it passed, the keys pressed, the prompts played and how it ended.

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub call_id: String,
    pub caller: String,
    pub dialled: String,
    pub flow: String,
    /// The program's checksum (which version of the flows ran), written as 16 hex digits.
    #[serde(serialize_with = "hex")]
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
#[derive(Clone, Debug, serde::Serialize)]
pub struct Offer {
    pub agent: String,
    pub rang: i64,
    pub answered: Option<i64>,
    pub result: String,
}

/// A consent given, refused or withdrawn (ms since the epoch).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ConsentEvent {
    pub consent: String,
    /// `given`, `refused` or `withdrawn`.
    pub event: &'static str,
    pub at: i64,
}

/// One recording of a call: its file, and when it started and stopped (ms since the epoch),
/// and what stopped it (`the flow`, `consent withdrawn`, `the call ended`).
#[derive(Clone, Debug, serde::Serialize)]
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

    /// One JSON line (the formatting of the record happens here, once per call, not as the
    /// call goes).
    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The program checksum as the records have always shown it: 16 hex digits.
fn hex<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:016x}"))
}
