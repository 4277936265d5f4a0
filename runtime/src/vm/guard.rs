//! What an event must satisfy before it touches a call: the call belongs to this program and
//! its stored state fits it (a damaged or foreign call is refused, never run), the event
//! answers the effect the call waits on, and it is an event that effect can take.

use super::*;

impl Machine {
    pub(super) fn guard(
        &self,
        call: &Call,
        answers: EffectId,
        event: &Event,
    ) -> Result<(), Refused> {
        if call.program != self.checksum as u32 {
            return Err(Refused::OtherProgram);
        }
        self.check_state(call).map_err(Refused::Corrupt)?;
        if call.pending == Pending::Ended {
            return Err(Refused::Ended);
        }
        if *event == Event::HungUp {
            return Ok(());
        }
        if answers != call.effect {
            return Err(Refused::NotPending {
                waiting: call.effect,
                answered: answers,
            });
        }
        if !self.fits(call, event) {
            return Err(Refused::WrongEvent {
                event: format!("{event:?}"),
                waiting_for: call.pending.describe(),
            });
        }
        Ok(())
    }

    /// Whether the event is one the pending effect can take.
    fn fits(&self, call: &Call, event: &Event) -> bool {
        let p = &*self.program;
        match (call.pending, event) {
            (Pending::Start, Event::Start) => true,
            (Pending::Continue, Event::Done) => true,
            // Keys pressed during a prompt or a wait (typed ahead); other effects take no keys.
            (Pending::Continue, Event::Keys(_)) => matches!(
                p.code.get(call.pc as usize),
                Some(Instr::Play { .. } | Instr::Say { .. } | Instr::Wait(_))
            ),
            (Pending::Transfer | Pending::Voicemail, Event::Done | Event::Failed) => true,
            (Pending::Consent(c), Event::Done) => {
                p.consents.get(c as usize).is_some_and(|info| info.notice)
            }
            (Pending::Menu(_) | Pending::Collect(_) | Pending::Consent(_), Event::Keys(_)) => true,
            (Pending::Route(r), event) => match event {
                Event::Answered { .. }
                | Event::NoAnswer
                | Event::Busy
                | Event::QueueTimeout
                | Event::QueueFull
                | Event::NoAgents
                | Event::Closed
                | Event::Failed => true,
                Event::QueueKey(k) => p.routes[r as usize]
                    .queue
                    .as_ref()
                    .is_some_and(|q| q.exit_keys.iter().any(|(x, _)| p.str(*x) == k)),
                _ => false,
            },
            (
                Pending::Lookup(_),
                Event::LookupOk(_) | Event::LookupNotFound | Event::LookupFailed,
            ) => true,
            _ => false,
        }
    }

    /// Whether the call's state fits this program: every index in range, and the call waits
    /// at an instruction that hands out the effect it says it waits on.
    fn check_state(&self, call: &Call) -> Result<(), &'static str> {
        let p = &*self.program;
        let flow = p.flows.get(call.flow as usize).ok_or("no such flow")?;
        if call.vars.len() != var::FIRST_USER as usize + flow.vars.len() {
            return Err("variables do not fit the flow");
        }
        if call.depth as usize > MAX_FRAMES {
            return Err("too many frames");
        }
        for f in &call.frames[..call.depth as usize] {
            let id_ok = match f.kind {
                FrameKind::Sub => true,
                FrameKind::Menu => (f.id as usize) < p.menus.len(),
                FrameKind::Collect => (f.id as usize) < p.collects.len(),
            };
            if f.ret as usize > p.code.len() || !id_ok {
                return Err("a frame points outside the program");
            }
        }
        if call.lang != u32::MAX && call.lang as usize >= p.strings.len() {
            return Err("no such language");
        }
        if call.recording_consent != ANY_CONSENT
            && call.recording_consent as usize >= p.consents.len()
        {
            return Err("no such consent");
        }
        if call.answers.iter().any(|a| a.0 as usize >= p.lookups.len()) {
            return Err("an answer of no such lookup");
        }
        let instr = p.code.get(call.pc as usize).copied();
        let at_effect = match (call.pending, instr) {
            (Pending::Ended, _) => true,
            (Pending::Start, _) => call.pc == flow.entry,
            (Pending::Continue, Some(i)) => matches!(
                i,
                Instr::Play { .. }
                    | Instr::Say { .. }
                    | Instr::Record(..)
                    | Instr::StopRecording
                    | Instr::Answer
                    | Instr::Wait(_)
            ),
            (Pending::Menu(m), Some(Instr::MenuWait(x))) => m == x,
            (Pending::Collect(c), Some(Instr::CollectWait(x))) => c == x,
            (Pending::Consent(c), Some(Instr::Ask(x))) => c == x,
            (Pending::Route(r), Some(Instr::Route(x))) => r == x,
            (Pending::Lookup(l), Some(Instr::Lookup(x))) => l == x,
            (Pending::Transfer, Some(Instr::Transfer)) => true,
            (Pending::Voicemail, Some(Instr::Voicemail { .. })) => true,
            _ => false,
        };
        if !at_effect {
            return Err("the call does not wait where it says");
        }
        Ok(())
    }
}

impl Pending {
    fn describe(self) -> &'static str {
        match self {
            Pending::Start => "the start of the call",
            Pending::Continue => "a prompt",
            Pending::Menu(_) => "a menu's keys",
            Pending::Collect(_) => "collected digits",
            Pending::Consent(_) => "a consent answer",
            Pending::Route(_) => "a route's outcome",
            Pending::Lookup(_) => "a lookup's answer",
            Pending::Transfer => "a transfer",
            Pending::Voicemail => "a voicemail",
            Pending::Ended => "nothing (the call has ended)",
        }
    }
}
