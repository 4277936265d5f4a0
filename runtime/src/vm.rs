//! The VM: runs a verified `Program` for one call. It does no I/O and reads no clock: `resume`
//! runs instructions until the call needs something from the outside world, then returns that
//! [`Effect`] (play, collect keys, ring a group, ...) and waits to be resumed with the
//! [`Event`] that happened. Facts read during decisions (the time, operator switches, queue
//! statistics) come from a [`World`] the caller provides. A call's state ([`Call`]) is plain
//! data, so a call can be suspended at any effect; the simulator, `callflow test` and the SIP
//! runtime drive the very same code.

mod apply;
mod exec;
mod guard;
pub mod time;
pub mod value;

use callflow_compiler::bytecode::{
    ANY_CONSENT, Cmp, Instr, Pc, Program, Reason, RecordMode, Sides, Stat, format::VERSION, var,
    verify,
};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::borrow::Cow;
use std::sync::Arc;
use time::{Local, OpenWhy};
use value::Val;

/// Instructions a call may run between two effects before it is ended as a runaway.
pub const STEPS_BETWEEN_EFFECTS: u32 = 10_000;
/// Instructions a call may run in all.
pub const STEPS_PER_CALL: u64 = 1_000_000;
/// Nesting of menus, `collect` and subflows.
pub const MAX_FRAMES: usize = 16;
/// Keys typed ahead that a call keeps (the latest ones).
pub const TYPEAHEAD_KEYS: usize = 32;

/// Facts the VM reads while deciding. Pure reads; the runtime answers from memory.
pub trait World {
    fn now(&self) -> Timestamp;
    /// Whether the operator switch is on (`default` when nobody has set it).
    fn switch(&self, name: &str, default: bool) -> bool;
    /// A group statistic (a count, or milliseconds for waiting times).
    fn stat(&self, group: &str, stat: Stat) -> i64;
}

/// Receives what the VM does, for traces and coverage. All methods default to nothing.
pub trait Trace {
    /// Whether notes are wanted (they cost a `format!` each).
    fn enabled(&self) -> bool {
        false
    }
    fn step(&mut self, _pc: Pc) {}
    fn decision(&mut self, _pc: Pc, _taken: bool) {}
    fn note(&mut self, _pc: Pc, _text: String) {}
}

/// Traces nothing.
pub struct NoTrace;
impl Trace for NoTrace {}

/// What a key collection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeysFor<'p> {
    Menu(&'p str),
    Collect(&'p str),
    Consent(&'p str),
}

/// Something the call needs done; the VM continues when resumed with what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect<'p> {
    /// Play a prompt (resume with `Done`, or `Keys` when the caller pressed a key during it).
    Play {
        prompt: &'p str,
        file: Option<&'p str>,
        interruptible: bool,
        /// Before answering (early media): the call is not answered for it.
        early: bool,
    },
    /// Read out a number, or digit by digit (resume with `Done`).
    Say {
        value: String,
        digits: bool,
    },
    /// Play a prompt and collect keys (resume with `Keys`, empty for a timeout). After each
    /// digit, [`Machine::keys_complete`] says whether the input is complete already, so the
    /// runtime need not wait out the digit timeout.
    Keys {
        /// Keys the caller typed ahead during earlier prompts: they start the input, so the
        /// prompt should not play; the answer holds only the keys pressed after this effect.
        typed: String,
        what: KeysFor<'p>,
        /// Prompts played first, in order (name, file): a menu's `prompt "a", "b", "c"`. Keys
        /// pressed during them are the answer as well; the timeout starts after `prompt`.
        before: Vec<(&'p str, Option<&'p str>)>,
        prompt: &'p str,
        file: Option<&'p str>,
        max_digits: u32,
        first_timeout_ms: u64,
        digit_timeout_ms: u64,
        terminator: Option<&'p str>,
    },
    /// Ring the group of a route, queueing if it has a queue (resume with the outcome).
    Route {
        route: u16,
        group: &'p str,
        /// Record the conversation (these sides of it), if an agent answers.
        record: Option<Sides>,
        /// The caller's place in the queue: higher waits ahead (0 for everyone by default).
        priority: i64,
    },
    /// Hand the call over (resume with `Done`; the flow ends).
    Transfer {
        target: String,
    },
    /// Take a message (resume with `Done`; the flow ends).
    Voicemail {
        vbox: &'p str,
        greeting: Option<&'p str>,
        file: Option<&'p str>,
        reason: Reason,
    },
    /// Ask a web service (resume with `LookupOk`, `LookupNotFound` or `LookupFailed`).
    Lookup {
        lookup: &'p str,
        url: String,
        timeout_ms: u64,
        /// After a failed try (not "not found"), ask again this many times, `retry_ms` later;
        /// the driver does, and answers once with the last outcome.
        retries: u32,
        retry_ms: u64,
    },
    /// Record the call from now on (these sides; the agent's once connected).
    StartRecording {
        sides: Sides,
    },
    StopRecording,
    /// Answer the call now if it is not answered yet (`answer`); then `Done`.
    Answer,
    /// Let this much time pass (`wait 2s`); then `Done`. Keys pressed meanwhile are typed
    /// ahead for the next prompt that asks for keys.
    Wait {
        ms: u64,
    },
}

/// Which effect a call waits on. Each effect handed out gets the next id; the event that
/// answers it names it, so a late or duplicated answer cannot be taken for a newer one.
pub type EffectId = u32;

/// What happened in answer to an effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The first resume of a call.
    Start,
    Done,
    /// Keys the caller pressed (empty: nothing before the timeout).
    Keys(String),
    Answered {
        agent: String,
    },
    NoAnswer,
    /// Nobody could take the call (no agent available, no queue).
    Busy,
    QueueTimeout,
    QueueFull,
    /// Nobody of the group is logged in (on entering a queue, or the last agent left).
    NoAgents,
    /// The queue's hours ended (or were over when the caller came).
    Closed,
    /// The caller pressed a queue exit key.
    QueueKey(String),
    LookupOk(Vec<(String, String)>),
    LookupNotFound,
    LookupFailed,
    /// A transfer or voicemail could not be done (the target refused, no recording possible).
    Failed,
    /// The caller hung up (answers whatever the call waits on).
    HungUp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmError {
    /// A budget ran out: `per_call` for the whole call, else between two effects.
    StepBudget {
        steps: u64,
        per_call: bool,
    },
    TooDeep,
    /// The event does not answer the pending effect.
    UnexpectedEvent(String),
    /// The call state does not fit the instruction (a `MenuExit` without a menu, ...).
    BadState(&'static str),
    /// Texts joined with `+` grew longer than [`MAX_TEXT`] bytes.
    TextTooLong,
}

/// The longest text `+` may make (a flow joining in a loop would otherwise take memory
/// without bound).
pub const MAX_TEXT: usize = 4096;

impl std::fmt::Display for VmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VmError::StepBudget {
                steps,
                per_call: false,
            } => {
                write!(
                    f,
                    "the flow ran {steps} steps without waiting for anything and was stopped"
                )
            }
            VmError::StepBudget {
                steps,
                per_call: true,
            } => {
                write!(
                    f,
                    "the call used up its budget of {steps} steps and was stopped"
                )
            }
            VmError::TooDeep => write!(
                f,
                "menus, collects and subflows nested more than {MAX_FRAMES} deep"
            ),
            VmError::UnexpectedEvent(e) => write!(f, "unexpected event {e}"),
            VmError::BadState(s) => write!(f, "inconsistent call state: {s}"),
            VmError::TextTooLong => write!(
                f,
                "texts joined with `+` grew longer than {MAX_TEXT} bytes and the call was stopped"
            ),
        }
    }
}

/// How a call's flow ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    Hangup,
    Transferred(String),
    Voicemail,
    /// An agent answered; the call is theirs now.
    Answered {
        agent: String,
    },
    CallerHungUp,
    /// The transfer to this target failed; the flow has no other way to go.
    TransferFailed(String),
    /// The voicemail box could not take the message.
    VoicemailFailed,
    Failed(VmError),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<'p> {
    /// The call waits for this effect; answer it with an event naming the id.
    Effect(EffectId, Effect<'p>),
    End(End),
}

/// Why an event was not applied. The call is exactly as it was: a refused event never ends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The event answers another effect than the one the call waits on (late or duplicated).
    NotPending {
        waiting: EffectId,
        answered: EffectId,
    },
    /// This kind of event cannot answer the effect the call waits on.
    WrongEvent {
        event: String,
        waiting_for: &'static str,
    },
    /// The call has ended.
    Ended,
    /// The call was started on another program.
    OtherProgram,
    /// The call's state does not fit the program (a damaged stored call).
    Corrupt(&'static str),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NotPending { waiting, answered } => write!(
                f,
                "the event answers effect {answered}, but the call waits on effect {waiting}"
            ),
            Refused::WrongEvent { event, waiting_for } => {
                write!(f, "{event} cannot answer {waiting_for}")
            }
            Refused::Ended => write!(f, "the call has ended"),
            Refused::OtherProgram => write!(f, "the call belongs to another program"),
            Refused::Corrupt(what) => write!(f, "the call's state is damaged: {what}"),
        }
    }
}

impl std::error::Error for Refused {}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum FrameKind {
    #[default]
    Sub,
    Menu,
    Collect,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Frame {
    ret: Pc,
    id: u16,
    kind: FrameKind,
    /// Failed tries since the menu or collect was last offered fresh (for a menu that counts
    /// wrong keys and silence apart: the wrong keys).
    tries: u8,
    /// A menu's tries that ended in silence, when it counts them apart.
    #[serde(default)]
    silences: u8,
    /// Whether the menu's last try ended in silence (which count its retry goes to).
    #[serde(default)]
    silent: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Pending {
    #[default]
    Start,
    Continue,
    Menu(u16),
    Collect(u16),
    Consent(u16),
    Route(u16),
    Lookup(u16),
    Transfer,
    Voicemail,
    Ended,
}

/// The fields of a lookup's answer.
type Answer = Vec<(Box<str>, Box<str>)>;

/// One call's state: small plain data plus its variables. It serializes, so a call suspended at
/// an effect can be stored or moved and resumed elsewhere with the same program.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Call {
    pub flow: u16,
    pub pc: Pc,
    frames: [Frame; MAX_FRAMES],
    depth: u8,
    pending: Pending,
    /// Consents given, by position in the flow's consent list.
    consent: u32,
    /// Consents asked and refused (or withdrawn).
    refused: u32,
    pub recording: bool,
    /// The consent the running recording relies on.
    recording_consent: u16,
    /// The prompt language (a string index), `u32::MAX` before any is chosen.
    lang: u32,
    pub steps: u64,
    since_effect: u32,
    /// Built-ins and the flow's variables (empty text when unset).
    vars: Vec<Box<str>>,
    /// The last answer of each lookup, by lookup index.
    answers: Vec<(u16, Answer)>,
    pub transfer_target: Option<Box<str>>,
    /// The program the call runs on (the low half of its checksum).
    program: u32,
    /// The effect the call waits on (0: the start).
    effect: EffectId,
    /// Keys pressed during a prompt that did not ask for keys, for the next prompt that does.
    typeahead: Box<str>,
    /// The queue priority for the next `Route` (`priority VALUE`), 0 after it.
    #[serde(default)]
    priority: i16,
}

impl Call {
    /// The consents given and those refused or withdrawn, as bits by position in the flow's
    /// consent list.
    pub fn consent_bits(&self) -> (u32, u32) {
        (self.consent, self.refused)
    }

    /// The effect the call waits on, or `None` once it has ended.
    pub fn waiting_on(&self) -> Option<EffectId> {
        (self.pending != Pending::Ended).then_some(self.effect)
    }

    /// Keys typed ahead, not yet taken by a prompt.
    pub fn typed_ahead(&self) -> &str {
        &self.typeahead
    }
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Machine {{ program: {:016x} }}", self.checksum())
    }
}

/// A program ready to run: verified, with each flow's time zone loaded. It owns its program
/// (shared), so machines can live as long as the calls that run on them — across a reload the
/// calls in progress keep theirs.
pub struct Machine {
    program: Arc<Program>,
    /// Identifies the program: calls record it, and resuming a call on another program fails.
    checksum: u64,
    zones: Vec<TimeZone>,
    /// Native code for the pure decision regions, when the JIT tier is on.
    #[cfg(feature = "jit")]
    jit: Option<crate::jit::Code>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    Verify(verify::VerifyError),
    UnknownZone(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Verify(e) => write!(f, "the program does not verify: {e}"),
            LoadError::UnknownZone(z) => write!(f, "unknown time zone {z:?} (format {VERSION})"),
        }
    }
}

enum Flow<'p> {
    Next,
    Jump(Pc),
    /// Hand out an effect; `call.pc` stays on the instruction until the answer arrives.
    Yield(Effect<'p>, Pending),
    End(End),
}

impl Machine {
    pub fn new(program: impl Into<Arc<Program>>) -> Result<Machine, LoadError> {
        let program: Arc<Program> = program.into();
        verify::verify(&program).map_err(LoadError::Verify)?;
        let checksum = callflow_compiler::bytecode::format::checksum(
            &callflow_compiler::bytecode::format::encode(&program),
        );
        let mut zones = Vec::new();
        for f in &program.flows {
            zones.push(match f.timezone {
                None => TimeZone::UTC,
                Some(z) => {
                    let name = program.str(z);
                    jiff::tz::db()
                        .get(name)
                        .map_err(|_| LoadError::UnknownZone(name.to_string()))?
                }
            });
        }
        Ok(Machine {
            program,
            checksum,
            zones,
            #[cfg(feature = "jit")]
            jit: None,
        })
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The program, shared.
    pub fn shared_program(&self) -> &Arc<Program> {
        &self.program
    }

    /// Identifies the program (a checksum of its encoding).
    pub fn checksum(&self) -> u64 {
        self.checksum
    }

    /// A new call to `flow` from `caller` (as signalled) to `dialled`.
    pub fn start(&self, flow: usize, caller: &str, dialled: &str) -> Call {
        let p = &*self.program;
        let f = &p.flows[flow];
        let mut vars = vec![Box::<str>::default(); var::FIRST_USER as usize + f.vars.len()];
        vars[var::CALLER as usize] = caller.trim().into();
        vars[var::DIALLED as usize] = dialled.trim().into();
        let lang = f.languages.first().copied().unwrap_or(u32::MAX);
        vars[var::LANGUAGE as usize] = if lang == u32::MAX {
            "".into()
        } else {
            p.str(lang).into()
        };
        Call {
            flow: flow as u16,
            pc: f.entry,
            frames: [Frame::default(); MAX_FRAMES],
            depth: 0,
            pending: Pending::Start,
            consent: 0,
            refused: 0,
            recording: false,
            recording_consent: ANY_CONSENT,
            lang,
            steps: 0,
            since_effect: 0,
            vars,
            answers: Vec::new(),
            transfer_target: None,
            program: self.checksum as u32,
            effect: 0,
            typeahead: "".into(),
            priority: 0,
        }
    }

    /// The prompt language the call is in now (empty for flows without languages).
    pub fn language<'c>(&self, call: &'c Call) -> &'c str {
        call.vars.get(var::LANGUAGE as usize).map_or("", |v| &**v)
    }

    pub fn zone(&self, flow: usize) -> &TimeZone {
        &self.zones[flow]
    }

    /// Whether `digits` (pressed since the call's `Keys` effect, after any keys typed ahead)
    /// already complete the input it waits for: a menu key that no longer key extends, all the
    /// digits a `collect` takes or its terminator, a consent's accept or refuse key. The runtime
    /// answers at once then, instead of waiting out the digit timeout.
    pub fn keys_complete(&self, call: &Call, digits: &str) -> bool {
        let p = &*self.program;
        let full = format!("{}{digits}", call.typeahead);
        let n = full.chars().count();
        match call.pending {
            Pending::Menu(m) => {
                let Some(info) = p.menus.get(m as usize) else {
                    return false;
                };
                if n >= info.max_len as usize {
                    return true;
                }
                let is_key = info.keys.iter().any(|(k, _)| p.str(*k) == full)
                    || info.patterns.iter().any(|(pat, _)| pat.matches(&full));
                let longer = info
                    .keys
                    .iter()
                    .any(|(k, _)| p.str(*k).len() > full.len() && p.str(*k).starts_with(&full))
                    || info.patterns.iter().any(|(pat, _)| pat.extends(&full));
                is_key && !longer
            }
            Pending::Collect(c) => {
                let Some(info) = p.collects.get(c as usize) else {
                    return false;
                };
                // With a terminator the phone takes one key more (the effect's max_digits).
                let most = info.max_len as usize + usize::from(info.terminator.is_some());
                info.terminator.is_some_and(|t| full.ends_with(p.str(t))) || n >= most
            }
            Pending::Consent(c) => {
                let Some(info) = p.consents.get(c as usize) else {
                    return false;
                };
                let (accept, refuse) = (p.str(info.accept), p.str(info.refuse));
                let known = full == accept || full == refuse;
                let longer = [accept, refuse]
                    .iter()
                    .any(|k| k.len() > full.len() && k.starts_with(&full));
                (known && !longer) || n >= accept.len().max(refuse.len())
            }
            _ => false,
        }
    }

    /// The consent keys that withdraw consent at any time during calls of `flow`.
    pub fn withdraw_keys(&self, flow: usize) -> Vec<(u16, &str)> {
        let p = &*self.program;
        p.flows[flow]
            .consents
            .iter()
            .filter_map(|&c| p.consents[c as usize].withdraw.map(|w| (c, p.str(w))))
            .collect()
    }

    /// The caller withdrew `consent`: returns true when a running recording must stop now.
    pub fn withdraw(&self, call: &mut Call, consent: u16) -> bool {
        // A call of another program, or a damaged one, is left alone.
        if call.program != self.checksum as u32
            || self.program.flows.get(call.flow as usize).is_none()
        {
            return false;
        }
        if let Some(bit) = self.consent_bit(call, consent) {
            call.consent &= !bit;
            call.refused |= bit;
        }
        let relies = call.recording_consent == consent || call.recording_consent == ANY_CONSENT;
        if call.recording && relies {
            call.recording = false;
            return true;
        }
        false
    }

    fn consent_bit(&self, call: &Call, consent: u16) -> Option<u32> {
        self.program.flows[call.flow as usize]
            .consents
            .iter()
            .position(|&c| c == consent)
            .filter(|&i| i < 32)
            .map(|i| 1 << i)
    }

    pub fn prompt_file(&self, call: &Call, prompt: u32) -> Option<&str> {
        let p = &*self.program;
        let files = &p.prompts.get(prompt as usize)?.files;
        let lang = (call.lang != u32::MAX).then(|| p.str(call.lang));
        files
            .iter()
            .find(|(l, _)| l.map(|l| p.str(l)) == lang && lang.is_some())
            .or_else(|| files.iter().find(|(l, _)| l.is_none()))
            .or_else(|| files.first())
            .map(|(_, f)| p.str(*f))
    }

    /// Answers the effect `answers` with `event` and runs the call until it needs something
    /// else or ends. An event that does not answer what the call waits on — a late or repeated
    /// answer, the wrong kind of event, a call of another program or a damaged one — is
    /// refused and changes nothing. `HungUp` answers whatever the call waits on.
    pub fn resume<'m, T: Trace>(
        &'m self,
        call: &mut Call,
        answers: EffectId,
        event: Event,
        world: &dyn World,
        trace: &mut T,
    ) -> Result<Step<'m>, Refused> {
        self.guard(call, answers, &event)?;
        if event == Event::HungUp {
            call.pending = Pending::Ended;
            return Ok(Step::End(End::CallerHungUp));
        }
        Ok(match self.apply(call, event, trace) {
            Ok(Some(end)) => {
                call.pending = Pending::Ended;
                Step::End(end)
            }
            Ok(None) => self.run(call, world, trace),
            Err(e) => {
                call.pending = Pending::Ended;
                Step::End(End::Failed(e))
            }
        })
    }
}

fn note<T: Trace + ?Sized>(trace: &mut T, pc: Pc, text: impl FnOnce() -> String) {
    if trace.enabled() {
        trace.note(pc, text());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Machine>();
        shared::<Call>();
    }

    #[test]
    fn call_state_is_small() {
        // docs/PERFORMANCE.md: the target is 320 bytes plus the variables' texts (256 until
        // each menu frame kept its own count of silences).
        let size = std::mem::size_of::<Call>();
        assert!(size <= 320, "Call is {size} bytes");
        println!(
            "Call: {size} bytes, Frame: {} bytes",
            std::mem::size_of::<Frame>()
        );
    }
}
