//! The VM: runs a verified `Program` for one call. It does no I/O and reads no clock: `resume`
//! runs instructions until the call needs something from the outside world, then returns that
//! [`Effect`] (play, collect keys, ring a group, ...) and waits to be resumed with the
//! [`Event`] that happened. Facts read during decisions (the time, operator switches, queue
//! statistics) come from a [`World`] the caller provides. A call's state ([`Call`]) is plain
//! data, so a call can be suspended at any effect; the simulator, `callflow test` and the SIP
//! runtime drive the very same code.

pub mod time;
pub mod value;

use callflow_compiler::bytecode::{
    ANY_CONSENT, Cmp, Instr, Pc, Program, Reason, RecordMode, Stat, format::VERSION, var, verify,
};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::borrow::Cow;
use time::{Local, OpenWhy};
use value::Val;

/// Instructions a call may run between two effects before it is ended as a runaway.
pub const STEPS_BETWEEN_EFFECTS: u32 = 10_000;
/// Instructions a call may run in all.
pub const STEPS_PER_CALL: u64 = 1_000_000;
/// Nesting of menus, `collect` and subflows.
pub const MAX_FRAMES: usize = 16;

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
    },
    /// Read out a number, or digit by digit (resume with `Done`).
    Say {
        value: String,
        digits: bool,
    },
    /// Play a prompt and collect keys (resume with `Keys`, empty for a timeout).
    Keys {
        what: KeysFor<'p>,
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
        record: bool,
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
    },
    StartRecording,
    StopRecording,
}

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
    /// The caller pressed a queue exit key.
    QueueKey(String),
    LookupOk(Vec<(String, String)>),
    LookupNotFound,
    LookupFailed,
    /// The caller hung up.
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
}

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
    Failed(VmError),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<'p> {
    Effect(Effect<'p>),
    End(End),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum FrameKind {
    #[default]
    Sub,
    Menu,
    Collect,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Frame {
    ret: Pc,
    id: u16,
    kind: FrameKind,
    tries: u8,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

/// One call's state: small plain data plus its variables.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

/// A program ready to run: verified, with each flow's time zone loaded.
pub struct Machine<'p> {
    pub program: &'p Program,
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

impl<'p> Machine<'p> {
    pub fn new(program: &'p Program) -> Result<Machine<'p>, LoadError> {
        verify::verify(program).map_err(LoadError::Verify)?;
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
            zones,
            #[cfg(feature = "jit")]
            jit: None,
        })
    }

    /// A new call to `flow` from `caller` (as signalled) to `dialled`.
    pub fn start(&self, flow: usize, caller: &str, dialled: &str) -> Call {
        let p = self.program;
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
        }
    }

    /// The prompt language the call is in now (empty for flows without languages).
    pub fn language<'c>(&self, call: &'c Call) -> &'c str {
        &call.vars[var::LANGUAGE as usize]
    }

    pub fn zone(&self, flow: usize) -> &TimeZone {
        &self.zones[flow]
    }

    /// The consent keys that withdraw consent at any time during calls of `flow`.
    pub fn withdraw_keys(&self, flow: usize) -> Vec<(u16, &'p str)> {
        let p = self.program;
        p.flows[flow]
            .consents
            .iter()
            .filter_map(|&c| p.consents[c as usize].withdraw.map(|w| (c, p.str(w))))
            .collect()
    }

    /// The caller withdrew `consent`: returns true when a running recording must stop now.
    pub fn withdraw(&self, call: &mut Call, consent: u16) -> bool {
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

    fn prompt_file(&self, call: &Call, prompt: u32) -> Option<&'p str> {
        let p = self.program;
        let files = &p.prompts.get(prompt as usize)?.files;
        let lang = (call.lang != u32::MAX).then(|| p.str(call.lang));
        files
            .iter()
            .find(|(l, _)| l.map(|l| p.str(l)) == lang && lang.is_some())
            .or_else(|| files.iter().find(|(l, _)| l.is_none()))
            .or_else(|| files.first())
            .map(|(_, f)| p.str(*f))
    }

    /// Runs the call until it needs something or ends.
    pub fn resume<T: Trace>(
        &self,
        call: &mut Call,
        event: Event,
        world: &dyn World,
        trace: &mut T,
    ) -> Step<'p> {
        if call.pending == Pending::Ended {
            return Step::End(End::Failed(VmError::UnexpectedEvent(format!(
                "{event:?} after the end"
            ))));
        }
        if event == Event::HungUp {
            call.pending = Pending::Ended;
            return Step::End(End::CallerHungUp);
        }
        match self.apply(call, event, trace) {
            Ok(Some(end)) => {
                call.pending = Pending::Ended;
                Step::End(end)
            }
            Ok(None) => self.run(call, world, trace),
            Err(e) => {
                call.pending = Pending::Ended;
                Step::End(End::Failed(e))
            }
        }
    }

    /// Interprets the event that answers the pending effect; sets the pc.
    fn apply<T: Trace + ?Sized>(
        &self,
        call: &mut Call,
        event: Event,
        trace: &mut T,
    ) -> Result<Option<End>, VmError> {
        let p = self.program;
        let pc = call.pc;
        let unexpected = |e: &Event| {
            VmError::UnexpectedEvent(format!("{e:?} while waiting for {:?}", call.pending))
        };
        match (call.pending, event) {
            (Pending::Start, Event::Start) => {}
            (Pending::Continue, Event::Done | Event::Keys(_)) => call.pc += 1,
            (Pending::Transfer, Event::Done) => {
                return Ok(Some(End::Transferred(
                    call.transfer_target
                        .take()
                        .map(String::from)
                        .unwrap_or_default(),
                )));
            }
            (Pending::Voicemail, Event::Done) => return Ok(Some(End::Voicemail)),
            (Pending::Menu(m), Event::Keys(d)) => {
                let info = &p.menus[m as usize];
                let target = if d.is_empty() {
                    note(trace, pc, || "no key pressed before the timeout".into());
                    info.timeout
                        .map_or_else(|| self.menu_retry(call, m, trace), Ok)?
                } else if let Some(t) = info
                    .keys
                    .binary_search_by(|(k, _)| p.str(*k).cmp(d.as_str()))
                    .ok()
                    .map(|i| info.keys[i].1)
                    .or_else(|| {
                        info.patterns
                            .iter()
                            .find(|(pat, _)| pat.matches(&d))
                            .map(|x| x.1)
                    })
                {
                    note(trace, pc, || format!("keys \"{d}\" → their branch"));
                    call.vars[var::KEY as usize] = d.into();
                    t
                } else {
                    note(trace, pc, || {
                        format!(
                            "keys \"{d}\" are not a choice of menu `{}`",
                            p.str(info.name)
                        )
                    });
                    info.invalid
                        .map_or_else(|| self.menu_retry(call, m, trace), Ok)?
                };
                call.pc = target;
            }
            (Pending::Collect(c), Event::Keys(d)) => {
                let info = &p.collects[c as usize];
                let pressed = !d.is_empty();
                let mut d = d;
                if let Some(t) = info.terminator {
                    if let Some(stripped) = d.strip_suffix(p.str(t)) {
                        d = stripped.to_string();
                    }
                }
                let n = d.chars().count() as u32;
                let digits_ok = d
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#');
                call.pc = if !pressed {
                    note(trace, pc, || "no digits before the timeout".into());
                    info.timeout
                        .map_or_else(|| self.collect_retry(call, c, trace), Ok)?
                } else if (info.min_len..=info.max_len).contains(&n) && digits_ok {
                    note(trace, pc, || format!("collected \"{d}\""));
                    if let Some(v) = call.vars.get_mut(info.var as usize) {
                        *v = d.into();
                    }
                    self.pop(call, FrameKind::Collect)?;
                    info.done
                } else {
                    note(trace, pc, || {
                        format!(
                            "\"{d}\" has {n} digits, {}..{} wanted",
                            info.min_len, info.max_len
                        )
                    });
                    info.invalid
                        .map_or_else(|| self.collect_retry(call, c, trace), Ok)?
                };
            }
            (Pending::Consent(c), Event::Keys(d)) => {
                let info = &p.consents[c as usize];
                let given = if d.is_empty() {
                    note(trace, pc, || {
                        format!(
                            "no answer: silence means {}",
                            if info.silence_accepts {
                                "accept"
                            } else {
                                "refuse"
                            }
                        )
                    });
                    info.silence_accepts
                } else if d == p.str(info.accept) {
                    true
                } else {
                    if d != p.str(info.refuse) {
                        note(trace, pc, || {
                            format!(
                                "\"{d}\" is neither the accept nor the refuse key: counted as refusal"
                            )
                        });
                    }
                    false
                };
                if let Some(bit) = self.consent_bit(call, c) {
                    if given {
                        call.consent |= bit;
                        call.refused &= !bit;
                    } else {
                        call.consent &= !bit;
                        call.refused |= bit;
                    }
                }
                note(trace, pc, || {
                    format!(
                        "consent `{}` {}",
                        p.str(info.name),
                        if given { "given" } else { "refused" }
                    )
                });
                call.pc += 1;
            }
            (Pending::Route(r), event) => {
                let info = &p.routes[r as usize];
                let q = info.queue.as_ref();
                call.pc = match event {
                    Event::Answered { agent } => {
                        // The runtime records the conversation from here; a withdrawal stops it.
                        if info.record != RecordMode::Off
                            && self.consented(call, info.record_consent)
                        {
                            call.recording = true;
                            call.recording_consent = info.record_consent;
                        }
                        return Ok(Some(End::Answered { agent }));
                    }
                    Event::NoAnswer => info.no_answer.unwrap_or(info.after),
                    Event::Busy => info.busy.or(info.no_answer).unwrap_or(info.after),
                    Event::QueueTimeout => q
                        .and_then(|q| q.on_max_wait)
                        .or(info.no_answer)
                        .unwrap_or(info.after),
                    Event::QueueFull => q
                        .and_then(|q| q.on_max_length)
                        .or(info.busy)
                        .or(info.no_answer)
                        .unwrap_or(info.after),
                    Event::QueueKey(k) => q
                        .and_then(|q| q.exit_keys.iter().find(|(key, _)| p.str(*key) == k))
                        .map_or(info.after, |x| x.1),
                    other => return Err(unexpected(&other)),
                };
            }
            (Pending::Lookup(s), event) => {
                let site = &p.lookup_sites[s as usize];
                call.answers.retain(|a| a.0 != site.lookup);
                call.pc = match event {
                    Event::LookupOk(fields) => {
                        call.answers.push((
                            site.lookup,
                            fields
                                .into_iter()
                                .map(|(k, v)| (k.into(), v.into()))
                                .collect(),
                        ));
                        pc + 1
                    }
                    Event::LookupNotFound => site.on_not_found.unwrap_or(site.after),
                    Event::LookupFailed => site.on_error.unwrap_or(site.after),
                    other => return Err(unexpected(&other)),
                };
            }
            (_, other) => return Err(unexpected(&other)),
        }
        Ok(None)
    }

    fn push(&self, call: &mut Call, f: Frame) -> Result<(), VmError> {
        let d = call.depth as usize;
        if d >= MAX_FRAMES {
            return Err(VmError::TooDeep);
        }
        call.frames[d] = f;
        call.depth += 1;
        Ok(())
    }

    fn top(&self, call: &Call, kind: FrameKind) -> Result<Frame, VmError> {
        match call.depth.checked_sub(1).map(|d| call.frames[d as usize]) {
            Some(f) if f.kind == kind => Ok(f),
            _ => Err(VmError::BadState(match kind {
                FrameKind::Menu => "no menu is open",
                FrameKind::Collect => "no collect is open",
                FrameKind::Sub => "no subflow is running",
            })),
        }
    }

    fn pop(&self, call: &mut Call, kind: FrameKind) -> Result<Frame, VmError> {
        let f = self.top(call, kind)?;
        call.depth -= 1;
        Ok(f)
    }

    /// Ends `collect`s open on top of the frames (a menu key's `collect` handler that says
    /// `back`, `top` or `repeat` leaves the collect first).
    fn leave_collects(&self, call: &mut Call) {
        while call.depth > 0 && call.frames[call.depth as usize - 1].kind == FrameKind::Collect {
            call.depth -= 1;
        }
    }

    /// Counts a failed try of the menu or collect on top; true while it may be offered again.
    fn another_try<T: Trace + ?Sized>(
        &self,
        call: &mut Call,
        kind: FrameKind,
        retries: u32,
        trace: &mut T,
    ) -> Result<bool, VmError> {
        self.top(call, kind)?;
        let top = call.depth as usize - 1;
        let tries = call.frames[top].tries.saturating_add(1);
        call.frames[top].tries = tries;
        let again = u32::from(tries) <= retries;
        note(trace, call.pc, || match (again, kind) {
            (true, FrameKind::Menu) => {
                format!("offering the menu again ({tries} of {retries} retries)")
            }
            (true, _) => format!("asking again ({tries} of {retries} retries)"),
            (false, FrameKind::Menu) => format!("no valid choice after {tries} tries"),
            (false, _) => "no valid input: the variable stays empty".into(),
        });
        Ok(again)
    }

    /// After a wrong or missing key: offer the menu again, or give up (`exhausted`, else leave).
    fn menu_retry<T: Trace + ?Sized>(
        &self,
        call: &mut Call,
        m: u16,
        trace: &mut T,
    ) -> Result<Pc, VmError> {
        let info = &self.program.menus[m as usize];
        if self.another_try(call, FrameKind::Menu, info.retries, trace)? {
            return Ok(info.wait);
        }
        match info.exhausted {
            Some(pc) => Ok(pc),
            None => Ok(self.pop(call, FrameKind::Menu)?.ret),
        }
    }

    /// After invalid or missing digits: ask again, or give up with the variable empty.
    fn collect_retry<T: Trace + ?Sized>(
        &self,
        call: &mut Call,
        c: u16,
        trace: &mut T,
    ) -> Result<Pc, VmError> {
        let info = &self.program.collects[c as usize];
        if self.another_try(call, FrameKind::Collect, info.retries, trace)? {
            return Ok(info.wait);
        }
        self.pop(call, FrameKind::Collect)?;
        if let Some(v) = call.vars.get_mut(info.var as usize) {
            *v = "".into();
        }
        Ok(info.exhausted.unwrap_or(info.done))
    }

    fn consented(&self, call: &Call, c: u16) -> bool {
        if c == ANY_CONSENT {
            call.consent != 0
        } else {
            self.consent_bit(call, c)
                .is_some_and(|b| call.consent & b != 0)
        }
    }

    fn run<T: Trace>(&self, call: &mut Call, world: &dyn World, trace: &mut T) -> Step<'p> {
        let p = self.program;
        let mut stack: Vec<Val<'p>> = Vec::with_capacity(8);
        let mut local: Option<Local> = None;
        call.since_effect = 0;
        loop {
            #[cfg(feature = "jit")]
            if let Some(region) = self.jit.as_ref().and_then(|j| j.region(call.pc)) {
                let mut env = crate::jit::Env {
                    machine: self,
                    call: &mut *call,
                    stack: &mut stack,
                    local: &mut local,
                    world,
                    trace: &mut *trace,
                    error: None,
                };
                // SAFETY: `region` was compiled for this program with the `Region` signature; it
                // only calls back into the helpers with this environment.
                let exit = unsafe { region(&mut env) };
                if let Some(e) = env.error.take() {
                    call.pending = Pending::Ended;
                    return Step::End(End::Failed(e));
                }
                call.pc = exit;
                if let Some(e) = over_budget(call) {
                    call.pending = Pending::Ended;
                    return Step::End(End::Failed(e));
                }
                continue;
            }
            call.steps += 1;
            call.since_effect += 1;
            if let Some(e) = over_budget(call) {
                call.pending = Pending::Ended;
                return Step::End(End::Failed(e));
            }
            let pc = call.pc;
            let Some(&instr) = p.code.get(pc as usize) else {
                call.pending = Pending::Ended;
                return Step::End(End::Failed(VmError::BadState(
                    "ran past the end of the code",
                )));
            };
            trace.step(pc);
            match self.exec(call, instr, &mut stack, &mut local, world, trace) {
                Ok(Flow::Next) => call.pc += 1,
                Ok(Flow::Jump(t)) => call.pc = t,
                Ok(Flow::Yield(effect, pending)) => {
                    call.pending = pending;
                    return Step::Effect(effect);
                }
                Ok(Flow::End(end)) => {
                    call.pending = Pending::Ended;
                    return Step::End(end);
                }
                Err(e) => {
                    call.pending = Pending::Ended;
                    return Step::End(End::Failed(e));
                }
            }
        }
    }

    /// Counts one executed instruction (the budget is checked by `run`).
    pub(crate) fn count_step(&self, call: &mut Call) {
        call.steps += 1;
        call.since_effect += 1;
    }

    /// Runs the pure, non-jumping instruction at `pc` exactly as the interpreter loop would
    /// (step counted, trace told): the JIT's helpers call this.
    #[cfg(feature = "jit")]
    pub(crate) fn exec_one(
        &self,
        call: &mut Call,
        pc: Pc,
        stack: &mut Vec<Val<'p>>,
        local: &mut Option<Local>,
        world: &dyn World,
        trace: &mut dyn Trace,
    ) -> Result<(), VmError> {
        self.count_step(call);
        call.pc = pc;
        trace.step(pc);
        let instr = self.program.code[pc as usize];
        match self.exec(call, instr, stack, local, world, trace)? {
            Flow::Next => Ok(()),
            _ => Err(VmError::BadState(
                "the native code ran an instruction that is not pure",
            )),
        }
    }

    /// Compiles the program's decision code to native code (the cranelift tier) and uses it
    /// from now on; the interpreter runs everything else.
    #[cfg(feature = "jit")]
    pub fn enable_jit(&mut self) -> Result<&crate::jit::Code, String> {
        let code = crate::jit::compile(self.program)?;
        Ok(self.jit.insert(code))
    }

    fn local(&self, call: &Call, local: &mut Option<Local>, world: &dyn World) -> Local {
        *local.get_or_insert_with(|| Local::of(&self.zones[call.flow as usize], world.now()))
    }

    /// Runs one instruction.
    fn exec<T: Trace + ?Sized>(
        &self,
        call: &mut Call,
        instr: Instr,
        stack: &mut Vec<Val<'p>>,
        local: &mut Option<Local>,
        world: &dyn World,
        trace: &mut T,
    ) -> Result<Flow<'p>, VmError> {
        let p = self.program;
        let pc = call.pc;
        let pop =
            |stack: &mut Vec<Val<'p>>| stack.pop().ok_or(VmError::BadState("operand stack empty"));
        match instr {
            Instr::PushBool(b) => stack.push(Val::Bool(b)),
            Instr::PushInt(n) => stack.push(Val::Int(n)),
            Instr::PushStr(s) => stack.push(Val::Str(Cow::Borrowed(p.str(s)))),
            Instr::Load(slot) => {
                let v = call.vars.get(slot as usize).map_or("", |v| &**v);
                stack.push(Val::Str(Cow::Owned(v.to_string())));
            }
            Instr::Field { lookup, field } => {
                let name = p.str(field);
                let v = call
                    .answers
                    .iter()
                    .find(|a| a.0 == lookup)
                    .and_then(|a| a.1.iter().find(|(k, _)| &**k == name))
                    .map_or(String::new(), |(_, v)| v.to_string());
                note(trace, pc, || {
                    format!("{}.{name} = {v:?}", p.str(p.lookups[lookup as usize].name))
                });
                stack.push(Val::Str(Cow::Owned(v)));
            }
            Instr::Open(h) => {
                let l = self.local(call, local, world);
                let table = &p.hours[h as usize];
                let (open, why) = time::open(table, p, &l);
                note(trace, pc, || {
                    format!(
                        "open({}) = {open}: {} is {}",
                        p.str(table.name),
                        l.describe(),
                        show_open(p, open, &why)
                    )
                });
                stack.push(Val::Bool(open));
            }
            Instr::Holiday(c) => {
                let l = self.local(call, local, world);
                let cal = &p.calendars[c as usize];
                let hit = time::holiday(cal, l.day);
                note(trace, pc, || match hit {
                    Some(label) => format!(
                        "holiday({}) = true: {} is a holiday{}",
                        p.str(cal.name),
                        l.date,
                        label.map_or(String::new(), |l| format!(" ({})", p.str(l)))
                    ),
                    None => format!(
                        "holiday({}) = false: {} is not in it",
                        p.str(cal.name),
                        l.date
                    ),
                });
                stack.push(Val::Bool(hit.is_some()));
            }
            Instr::Switch(s) => {
                let info = &p.switches[s as usize];
                let on = world.switch(p.str(info.name), info.default_on);
                note(trace, pc, || {
                    format!(
                        "switch({}) is {}",
                        p.str(info.name),
                        if on { "on" } else { "off" }
                    )
                });
                stack.push(Val::Bool(on));
            }
            Instr::Consented(c) => {
                let yes = self.consented(call, c);
                note(trace, pc, || {
                    let what = if c == ANY_CONSENT {
                        "any consent".to_string()
                    } else {
                        format!("consent `{}`", p.str(p.consents[c as usize].name))
                    };
                    format!("{what}: {}", if yes { "given" } else { "not given" })
                });
                stack.push(Val::Bool(yes));
            }
            Instr::Stat { group, stat } => {
                let g = p.str(p.groups[group as usize].name);
                let v = world.stat(g, stat);
                note(trace, pc, || match stat {
                    // Waiting times are milliseconds; say them in minutes and seconds too.
                    Stat::WaitingTime | Stat::ExpectedWait => {
                        let secs = v / 1000;
                        format!(
                            "{}({g}) = {}m {:02}s ({v} ms)",
                            stat.name(),
                            secs / 60,
                            secs % 60
                        )
                    }
                    _ => format!("{}({g}) = {v}", stat.name()),
                });
                stack.push(Val::Int(v));
            }
            Instr::Anonymous => {
                let c = call.vars[var::CALLER as usize].to_ascii_lowercase();
                let anon = c.is_empty()
                    || matches!(
                        c.as_str(),
                        "anonymous" | "unknown" | "restricted" | "private" | "unavailable"
                    );
                note(trace, pc, || {
                    format!(
                        "the caller is {}",
                        if anon { "anonymous" } else { "not anonymous" }
                    )
                });
                stack.push(Val::Bool(anon));
            }
            Instr::Cmp(op) => {
                let b = pop(stack)?;
                let a = pop(stack)?;
                let r = value::compare(&a, &b, op);
                let sym = match op {
                    Cmp::Eq => "==",
                    Cmp::Ne => "!=",
                    Cmp::Lt => "<",
                    Cmp::Le => "<=",
                    Cmp::Gt => ">",
                    Cmp::Ge => ">=",
                };
                note(trace, pc, || {
                    format!("{} {sym} {} → {r}", a.show(), b.show())
                });
                stack.push(Val::Bool(r));
            }
            Instr::StartsWith => {
                let b = pop(stack)?;
                let a = pop(stack)?;
                let r = value::starts_with(&a, &b);
                note(trace, pc, || {
                    format!("{} starts with {} → {r}", a.show(), b.show())
                });
                stack.push(Val::Bool(r));
            }
            Instr::Matches(i) => {
                let a = pop(stack)?;
                let pat = &p.patterns[i as usize];
                let r = pat.matches(&a.text());
                note(trace, pc, || {
                    let verb = if r { "matches" } else { "does not match" };
                    format!("{} {verb} \"{}\"", a.show(), pat.describe())
                });
                stack.push(Val::Bool(r));
            }
            Instr::In(i) => {
                let a = pop(stack)?;
                let r = p.sets[i as usize].iter().any(|c| {
                    let v = match c {
                        callflow_compiler::bytecode::Const::Str(s) => {
                            Val::Str(Cow::Borrowed(p.str(*s)))
                        }
                        callflow_compiler::bytecode::Const::Int(n) => Val::Int(*n),
                    };
                    value::compare(&a, &v, callflow_compiler::bytecode::Cmp::Eq)
                });
                note(trace, pc, || format!("{} in the list → {r}", a.show()));
                stack.push(Val::Bool(r));
            }
            Instr::Not => {
                let a = pop(stack)?;
                stack.push(Val::Bool(!a.truthy()));
            }
            Instr::Jump(t) => return Ok(Flow::Jump(t)),
            Instr::JumpIf(t) | Instr::JumpIfNot(t) => {
                let v = pop(stack)?.truthy();
                let jump = v == matches!(instr, Instr::JumpIf(_));
                trace.decision(pc, v);
                if jump {
                    return Ok(Flow::Jump(t));
                }
            }
            Instr::Call(t) => {
                self.push(
                    call,
                    Frame {
                        ret: pc + 1,
                        id: 0,
                        kind: FrameKind::Sub,
                        tries: 0,
                    },
                )?;
                return Ok(Flow::Jump(t));
            }
            Instr::Return => {
                // Menus and collects opened inside the subflow end with it.
                while call.depth > 0 {
                    call.depth -= 1;
                    let f = call.frames[call.depth as usize];
                    if f.kind == FrameKind::Sub {
                        return Ok(Flow::Jump(f.ret));
                    }
                }
                return Err(VmError::BadState("return outside a subflow"));
            }
            Instr::Goto(t) => {
                call.depth = 0;
                return Ok(Flow::Jump(t));
            }
            Instr::Store(slot) => {
                let v = pop(stack)?;
                if let Some(var) = call.vars.get_mut(slot as usize) {
                    *var = v.text().into();
                }
            }
            Instr::SetLang(s) => {
                call.lang = s;
                call.vars[var::LANGUAGE as usize] = p.str(s).into();
                note(trace, pc, || format!("prompts now in `{}`", p.str(s)));
            }
            Instr::Play {
                prompt,
                interruptible,
            } => {
                let effect = Effect::Play {
                    prompt: p.str(p.prompts[prompt as usize].name),
                    file: self.prompt_file(call, prompt),
                    interruptible,
                };
                return Ok(Flow::Yield(effect, Pending::Continue));
            }
            Instr::Say { digits } => {
                let v = pop(stack)?;
                return Ok(Flow::Yield(
                    Effect::Say {
                        value: v.text().into_owned(),
                        digits,
                    },
                    Pending::Continue,
                ));
            }
            Instr::MenuEnter(m) => {
                // A menu that is already open (main → billing → "0" => menu main): go back to
                // it instead of opening it once more, so menus reached in circles never pile up.
                let open = call.frames[..call.depth as usize]
                    .iter()
                    .rposition(|f| f.kind == FrameKind::Sub)
                    .map_or(0, |i| i + 1);
                if let Some(i) = call.frames[open..call.depth as usize]
                    .iter()
                    .rposition(|f| f.kind == FrameKind::Menu && f.id == m)
                {
                    call.depth = (open + i + 1) as u8;
                    call.frames[open + i].tries = 0;
                    note(trace, pc, || "this menu is already open: back to it".into());
                    return Ok(Flow::Jump(p.menus[m as usize].wait));
                }
                self.push(
                    call,
                    Frame {
                        ret: pc + 1,
                        id: m,
                        kind: FrameKind::Menu,
                        tries: 0,
                    },
                )?;
                return Ok(Flow::Jump(p.menus[m as usize].wait));
            }
            Instr::MenuWait(m) => {
                let info = &p.menus[m as usize];
                let f = self.top(call, FrameKind::Menu)?;
                let prompt = if f.tries > 0 {
                    info.repeat_prompt.unwrap_or(info.prompt)
                } else {
                    info.prompt
                };
                let effect = Effect::Keys {
                    what: KeysFor::Menu(p.str(info.name)),
                    prompt: p.str(p.prompts[prompt as usize].name),
                    file: self.prompt_file(call, prompt),
                    max_digits: info.max_len,
                    first_timeout_ms: info.timeout_ms,
                    digit_timeout_ms: info.digit_timeout_ms,
                    terminator: None,
                };
                return Ok(Flow::Yield(effect, Pending::Menu(m)));
            }
            Instr::MenuRetry(m) => return Ok(Flow::Jump(self.menu_retry(call, m, trace)?)),
            Instr::MenuExit => return Ok(Flow::Jump(self.pop(call, FrameKind::Menu)?.ret)),
            Instr::Back => {
                self.leave_collects(call);
                self.pop(call, FrameKind::Menu)?;
                let parent = self.top(call, FrameKind::Menu);
                return match parent {
                    Ok(f) => {
                        // Back in the menu before: a fresh offer, with its full prompt.
                        call.frames[call.depth as usize - 1].tries = 0;
                        Ok(Flow::Jump(p.menus[f.id as usize].wait))
                    }
                    Err(_) => {
                        // No menu before this one: `back` offers this menu again.
                        let this = Frame {
                            tries: 0,
                            ..call.frames[call.depth as usize]
                        };
                        self.push(call, this)?;
                        Ok(Flow::Jump(p.menus[this.id as usize].wait))
                    }
                };
            }
            Instr::Top => {
                self.leave_collects(call);
                self.top(call, FrameKind::Menu)?;
                while call.depth >= 2
                    && call.frames[call.depth as usize - 2].kind == FrameKind::Menu
                {
                    call.depth -= 1;
                }
                let top = call.depth as usize - 1;
                call.frames[top].tries = 0;
                return Ok(Flow::Jump(p.menus[call.frames[top].id as usize].wait));
            }
            Instr::Repeat => {
                // The caller asked to hear the menu again: its full prompt, a fresh offer.
                self.leave_collects(call);
                let f = self.top(call, FrameKind::Menu)?;
                call.frames[call.depth as usize - 1].tries = 0;
                return Ok(Flow::Jump(p.menus[f.id as usize].wait));
            }
            Instr::CollectEnter(c) => {
                self.push(
                    call,
                    Frame {
                        ret: 0,
                        id: c,
                        kind: FrameKind::Collect,
                        tries: 0,
                    },
                )?;
            }
            Instr::CollectWait(c) => {
                let info = &p.collects[c as usize];
                let name = p.flows[call.flow as usize]
                    .vars
                    .get((info.var as usize).wrapping_sub(var::FIRST_USER as usize))
                    .map_or("", |&n| p.str(n));
                let effect = Effect::Keys {
                    what: KeysFor::Collect(name),
                    prompt: p.str(p.prompts[info.prompt as usize].name),
                    file: self.prompt_file(call, info.prompt),
                    max_digits: info.max_len + u32::from(info.terminator.is_some()),
                    first_timeout_ms: info.timeout_ms,
                    digit_timeout_ms: info.digit_timeout_ms,
                    terminator: info.terminator.map(|t| p.str(t)),
                };
                return Ok(Flow::Yield(effect, Pending::Collect(c)));
            }
            Instr::CollectRetry(c) => return Ok(Flow::Jump(self.collect_retry(call, c, trace)?)),
            Instr::Route(r) => {
                let info = &p.routes[r as usize];
                let record = match info.record {
                    RecordMode::Off => false,
                    RecordMode::Always | RecordMode::IfConsented => {
                        let yes = self.consented(call, info.record_consent);
                        note(trace, pc, || {
                            if yes {
                                "the conversation will be recorded (consent given)".into()
                            } else {
                                "the conversation will not be recorded: no consent".into()
                            }
                        });
                        yes
                    }
                };
                let effect = Effect::Route {
                    route: r,
                    group: p.str(p.groups[info.group as usize].name),
                    record,
                };
                return Ok(Flow::Yield(effect, Pending::Route(r)));
            }
            Instr::Transfer => {
                let target = pop(stack)?.text().into_owned();
                call.transfer_target = Some(target.clone().into());
                return Ok(Flow::Yield(Effect::Transfer { target }, Pending::Transfer));
            }
            Instr::Voicemail { vbox, reason } => {
                let b = &p.boxes[vbox as usize];
                let greeting =
                    b.greetings[reason as usize].or(b.greetings[Reason::Default as usize]);
                let effect = Effect::Voicemail {
                    vbox: p.str(b.name),
                    greeting: greeting.map(|g| p.str(p.prompts[g as usize].name)),
                    file: greeting.and_then(|g| self.prompt_file(call, g)),
                    reason,
                };
                return Ok(Flow::Yield(effect, Pending::Voicemail));
            }
            Instr::Lookup(s) => {
                let site = &p.lookup_sites[s as usize];
                let l = &p.lookups[site.lookup as usize];
                let url = p
                    .str(l.url)
                    .replace("{caller}", &percent(&call.vars[var::CALLER as usize]))
                    .replace("{dialled}", &percent(&call.vars[var::DIALLED as usize]));
                let effect = Effect::Lookup {
                    lookup: p.str(l.name),
                    url,
                    timeout_ms: l.timeout_ms,
                };
                return Ok(Flow::Yield(effect, Pending::Lookup(s)));
            }
            Instr::Ask(c) => {
                let info = &p.consents[c as usize];
                let effect = Effect::Keys {
                    what: KeysFor::Consent(p.str(info.name)),
                    prompt: p.str(p.prompts[info.prompt as usize].name),
                    file: self.prompt_file(call, info.prompt),
                    max_digits: p.str(info.accept).len().max(p.str(info.refuse).len()) as u32,
                    first_timeout_ms: info.timeout_ms,
                    digit_timeout_ms: 3_000,
                    terminator: None,
                };
                return Ok(Flow::Yield(effect, Pending::Consent(c)));
            }
            Instr::Record(c) => {
                if call.recording {
                    note(trace, pc, || "already recording".into());
                } else if self.consented(call, c) {
                    call.recording = true;
                    call.recording_consent = c;
                    return Ok(Flow::Yield(Effect::StartRecording, Pending::Continue));
                } else {
                    // The checker proves unguarded recording unreachable without consent; the VM
                    // enforces it anyway (consent may have been refused or withdrawn since).
                    note(trace, pc, || {
                        "not recording: the caller has not consented".into()
                    });
                }
            }
            Instr::StopRecording => {
                if call.recording {
                    call.recording = false;
                    return Ok(Flow::Yield(Effect::StopRecording, Pending::Continue));
                }
            }
            Instr::Hangup => return Ok(Flow::End(End::Hangup)),
        }
        Ok(Flow::Next)
    }
}

/// Percent-encodes a value for a URL query or path.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The step budget a call has run out of, if any.
fn over_budget(call: &Call) -> Option<VmError> {
    if call.since_effect > STEPS_BETWEEN_EFFECTS {
        Some(VmError::StepBudget {
            steps: u64::from(call.since_effect),
            per_call: false,
        })
    } else if call.steps > STEPS_PER_CALL {
        Some(VmError::StepBudget {
            steps: call.steps,
            per_call: true,
        })
    } else {
        None
    }
}

fn note<T: Trace + ?Sized>(trace: &mut T, pc: Pc, text: impl FnOnce() -> String) {
    if trace.enabled() {
        trace.note(pc, text());
    }
}

fn show_open(p: &Program, open: bool, why: &OpenWhy) -> String {
    let state = if open { "open" } else { "closed" };
    match why {
        OpenWhy::SpecialDay(ws) if ws.is_empty() => "closed all day (special day)".into(),
        OpenWhy::SpecialDay(_) => format!("{state} (special day hours)"),
        OpenWhy::Holiday { calendar, label } => format!(
            "closed: a holiday in `{}`{}",
            p.str(p.calendars[*calendar as usize].name),
            label.map_or(String::new(), |l| format!(" ({})", p.str(l)))
        ),
        OpenWhy::Weekly => format!("{state} (weekly hours)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Machine<'static>>();
        shared::<Call>();
    }

    #[test]
    fn call_state_is_small() {
        // docs/PERFORMANCE.md: the target is 256 bytes plus the variables' texts.
        let size = std::mem::size_of::<Call>();
        assert!(size <= 256, "Call is {size} bytes");
        println!(
            "Call: {size} bytes, Frame: {} bytes",
            std::mem::size_of::<Frame>()
        );
    }
}
