//! Applying an event to a suspended call: which continuation the answer to an effect selects
//! (menu keys, collected digits, consent answers, route and lookup outcomes), and the frames and
//! retry counters of menus and `collect`.

use super::*;
use callflow_compiler::outcome::Outcome;

impl Machine {
    /// Interprets the event that answers the pending effect; sets the pc.
    pub(super) fn apply<T: Trace + ?Sized>(
        &self,
        call: &mut Call,
        event: Event,
        trace: &mut T,
    ) -> Result<Option<End>, VmError> {
        let p = &*self.program;
        let pc = call.pc;
        let unexpected = |e: &Event| {
            VmError::UnexpectedEvent(format!("{e:?} while waiting for {:?}", call.pending))
        };
        // Keys typed ahead during earlier prompts start the input of a prompt that asks.
        let event = match (call.pending, event) {
            (Pending::Menu(_) | Pending::Collect(_) | Pending::Consent(_), Event::Keys(d))
                if !call.typeahead.is_empty() =>
            {
                let typed = std::mem::take(&mut call.typeahead);
                Event::Keys(format!("{typed}{d}"))
            }
            (_, e) => e,
        };
        match (call.pending, event) {
            (Pending::Start, Event::Start) => {}
            (Pending::Continue, Event::Done) => call.pc += 1,
            (Pending::Continue, Event::Keys(k)) => {
                // Pressed during a prompt that asks for nothing: typed ahead for the next
                // prompt that asks (a phone keeps at most a few dozen keys).
                if !k.is_empty() {
                    note(trace, pc, || format!("keys \"{k}\" typed ahead"));
                    let mut typed = std::mem::take(&mut call.typeahead).into_string();
                    typed.push_str(&k);
                    let keep = typed
                        .char_indices()
                        .rev()
                        .nth(TYPEAHEAD_KEYS - 1)
                        .map_or(0, |(i, _)| i);
                    call.typeahead = typed[keep..].into();
                }
                call.pc += 1
            }
            (Pending::Transfer, Event::Done) => {
                return Ok(Some(End::Transferred(
                    call.transfer_target
                        .take()
                        .map(String::from)
                        .unwrap_or_default(),
                )));
            }
            (Pending::Voicemail, Event::Done) => return Ok(Some(End::Voicemail)),
            (Pending::Transfer, Event::Failed) => {
                let target = call.transfer_target.take().map(String::from);
                note(trace, pc, || "the transfer failed".into());
                return Ok(Some(End::TransferFailed(target.unwrap_or_default())));
            }
            (Pending::Voicemail, Event::Failed) => {
                note(trace, pc, || {
                    "the voicemail box could not take the message".into()
                });
                return Ok(Some(End::VoicemailFailed));
            }
            (Pending::Menu(m), Event::Keys(d)) => {
                let info = &p.menus[m as usize];
                // Which counter a retry counts in: silence and wrong keys have their own.
                if call.depth > 0 {
                    call.frames[call.depth as usize - 1].silent = d.is_empty();
                }
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
                // Digits only: `*` and `#` end the input (as its terminator) or are wrong keys,
                // so a withdraw key starting with `*` is never part of a number typed.
                let digits_ok = d.chars().all(|c| c.is_ascii_digit());
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
            // A notice heard in full is consent; keys pressed meanwhile are typed ahead.
            (Pending::Consent(c), event @ (Event::Done | Event::Keys(_)))
                if p.consents[c as usize].notice =>
            {
                if let Event::Keys(k) = event {
                    call.typeahead = k.into();
                }
                if let Some(bit) = self.consent_bit(call, c) {
                    call.consent |= bit;
                    call.refused &= !bit;
                }
                note(trace, pc, || {
                    format!(
                        "consent `{}` given: the notice was heard in full",
                        p.str(p.consents[c as usize].name)
                    )
                });
                call.pc += 1;
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
                    Event::NoAnswer => info.goes_to(Outcome::NoAnswer),
                    Event::Busy => info.goes_to(Outcome::Busy),
                    Event::QueueTimeout => info.goes_to(Outcome::MaxWait),
                    Event::Failed => info.goes_to(Outcome::Error),
                    Event::Closed => info.goes_to(Outcome::Closed),
                    Event::NoAgents => info.goes_to(Outcome::NoAgents),
                    Event::QueueFull => info.goes_to(Outcome::MaxLength),
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

    pub(super) fn push(&self, call: &mut Call, f: Frame) -> Result<(), VmError> {
        let d = call.depth as usize;
        if d >= MAX_FRAMES {
            return Err(VmError::TooDeep);
        }
        call.frames[d] = f;
        call.depth += 1;
        Ok(())
    }

    pub(super) fn top(&self, call: &Call, kind: FrameKind) -> Result<Frame, VmError> {
        match call.depth.checked_sub(1).map(|d| call.frames[d as usize]) {
            Some(f) if f.kind == kind => Ok(f),
            _ => Err(VmError::BadState(match kind {
                FrameKind::Menu => "no menu is open",
                FrameKind::Collect => "no collect is open",
                FrameKind::Sub => "no subflow is running",
            })),
        }
    }

    pub(super) fn pop(&self, call: &mut Call, kind: FrameKind) -> Result<Frame, VmError> {
        let f = self.top(call, kind)?;
        call.depth -= 1;
        Ok(f)
    }

    /// Ends `collect`s open on top of the frames (a menu key's `collect` handler that says
    /// `back`, `top` or `repeat` leaves the collect first).
    pub(super) fn leave_collects(&self, call: &mut Call) {
        while call.depth > 0 && call.frames[call.depth as usize - 1].kind == FrameKind::Collect {
            call.depth -= 1;
        }
    }

    /// Counts a failed try of the menu or collect on top; true while it may be offered again.
    pub(super) fn another_try<T: Trace + ?Sized>(
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
    /// Wrong keys and silence are counted apart, each against its own limit.
    pub(super) fn menu_retry<T: Trace + ?Sized>(
        &self,
        call: &mut Call,
        m: u16,
        trace: &mut T,
    ) -> Result<Pc, VmError> {
        let info = &self.program.menus[m as usize];
        self.top(call, FrameKind::Menu)?;
        let f = &mut call.frames[call.depth as usize - 1];
        let silent = f.silent;
        let (count, limit, what) = if silent && info.counted_apart {
            f.silences = f.silences.saturating_add(1);
            (f.silences, info.timeout_retries, " without a key")
        } else {
            f.tries = f.tries.saturating_add(1);
            let what = if info.counted_apart {
                " with a wrong key"
            } else {
                ""
            };
            (f.tries, info.retries, what)
        };
        let again = u32::from(count) <= limit;
        note(trace, call.pc, || match (again, limit) {
            (true, u32::MAX) => format!("offering the menu again ({count} tries{what}, no limit)"),
            (true, _) => format!("offering the menu again ({count} of {limit} retries{what})"),
            (false, _) => format!("no valid choice after {count} tries{what}"),
        });
        if again {
            return Ok(info.wait);
        }
        match info.exhausted {
            Some(pc) => Ok(pc),
            None => Ok(self.pop(call, FrameKind::Menu)?.ret),
        }
    }

    /// After invalid or missing digits: ask again, or give up with the variable empty.
    pub(super) fn collect_retry<T: Trace + ?Sized>(
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
}
