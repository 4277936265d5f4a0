//! Agents' phones, as a B2BUA: the engine's `Ring` becomes an INVITE from this server to the
//! agent's phone (a dialog of its own, beside the caller's), `StopRinging` a CANCEL, the
//! phone's answer the engine's `answered` and its refusals `declined`; the answered leg is
//! bridged to the caller through the media thread (RTP relayed both ways), and a BYE from
//! either side ends both. Client INVITE transactions (RFC 3261 §17.1.1) over UDP: the INVITE
//! resent with Timer A until a provisional answer, given up after Timer B; a final answer
//! other than 2xx acknowledged on the INVITE's branch, a 2xx by an ACK of its own; a CANCEL
//! only after a provisional answer (§9.1), and a 200 that crosses it acknowledged and ended
//! with a BYE.

use super::*;
use crate::acd::AgentId;

/// An INVITE leg to an agent's phone, for one caller.
pub(super) struct Leg {
    /// The caller's call.
    call: u64,
    agent: AgentId,
    name: String,
    /// The phone's address (from the flows' `contact`, resolved at load).
    to: SocketAddr,
    /// The Request-URI: the agent's contact.
    target: String,
    call_id: String,
    /// Our From (the caller's number, with our tag) and the To (the agent, its tag once it
    /// answered).
    from: String,
    to_header: String,
    branch: String,
    invite: Vec<u8>,
    /// Our RTP port for the agent's side.
    port: u16,
    state: LegState,
    /// Timer A's interval, and Timer B's deadline (or the wait for a 487 after CANCEL).
    interval: i64,
    deadline: i64,
    /// Where requests inside the agent's dialog go (its Contact), and our CSeq there.
    remote_target: String,
    cseq: u32,
    /// The terms agreed with the phone (its answer to our offer).
    media: Option<sdp::Media>,
    /// Its line in the caller's record.
    offer: usize,
    /// Our ACK to its 200 (sent again for every copy of the 200).
    ack: Option<Vec<u8>>,
    /// A re-INVITE of the phone whose 200 waits for its ACK, and our SDP's version.
    reinvite_tx: Option<TxId>,
    sdp_version: u64,
    /// Whether another program holds its RTP port (not given out again).
    port_taken: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LegState {
    /// The INVITE went out; nothing came back yet.
    Calling,
    /// The phone rings (a provisional answer came).
    Proceeding,
    /// Ringing should stop, but no provisional answer came yet: CANCEL waits for one.
    CancelWanted,
    /// CANCEL sent: a 487 (or a crossing 200) ends it.
    Cancelled,
    /// The agent answered; the leg is (or will be) bridged to the caller.
    Talking,
}

/// The phone's name-addr for headers.
fn name_addr(uri: &str) -> String {
    format!("<{uri}>")
}

impl Uas {
    /// The engine rings `agent` for `call`: an INVITE to its phone.
    pub(super) fn ring_agent(&mut self, now: i64, call: u64, agent: AgentId) {
        let p = self.engine.program();
        let Some(info) = p.agents.get(agent as usize) else {
            return;
        };
        let name = p.str(info.name).to_string();
        let contact = p.str(info.contact).to_string();
        let Some(s) = self.calls.get(&call) else {
            let _ = self.engine.declined(ts(now), call, agent);
            return;
        };
        let call_id = s.record.call_id.clone();
        let caller = s.record.caller.clone();
        let law = s.media.as_ref().map(|m| m.law);
        let Some((contact, to)) = self.phone_of(&name, &contact) else {
            let why = if self.config.credentials.contains_key(&name) {
                "its phone is not registered".to_string()
            } else {
                format!("no address for its phone ({contact})")
            };
            self.log(&call_id, format!("agent {name}: {why}: skipped"));
            let _ = self.engine.failed(ts(now), call, agent);
            return;
        };
        let Some(port) = self.ports.take(call) else {
            // Ours and passing (ports free up as calls end): not the agent's phone failing.
            self.log(&call_id, format!("agent {name}: no RTP port free: skipped"));
            let _ = self.engine.declined(ts(now), call, agent);
            return;
        };
        self.next += 1;
        let leg = self.next;
        let local = self.config.local;
        let tag = {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(leg)
        };
        let from = format!("<sip:{}@{local}>;tag=cf{tag:x}", user_part(&caller));
        let to_header = name_addr(&contact);
        let leg_call_id = format!("cf{leg:x}-{tag:x}@{}", local.ip());
        let branch = format!("z9hG4bKcfl{leg:x}{tag:x}");
        let sdp = sdp::offer_of(local.ip(), port, (leg, 1), law);
        let invite = build::invite(
            &InDialog {
                method: "INVITE",
                target: &contact,
                local,
                branch: &branch,
                from: &from,
                to: &to_header,
                call_id: &leg_call_id,
                cseq: 1,
                extra: "",
            },
            &format!("sip:{local}"),
            &sdp,
        );
        self.send(to, invite.clone());
        let t1 = self.tx.timing.t1;
        let offer = {
            let s = self.calls.get_mut(&call).expect("looked up above");
            s.record.agents.push(super::super::cdr::Offer {
                agent: name.clone(),
                rang: now,
                answered: None,
                result: String::new(),
            });
            s.record.agents.len() - 1
        };
        self.log(&call_id, format!("ringing agent {name} at {to}"));
        self.leg_branches.insert(branch.clone(), leg);
        self.ringing.insert((call, agent), leg);
        self.legs.insert(
            leg,
            Leg {
                call,
                agent,
                name,
                to,
                target: contact,
                call_id: leg_call_id,
                from,
                to_header,
                branch,
                invite,
                port,
                state: LegState::Calling,
                interval: t1,
                deadline: now + 64 * t1,
                remote_target: String::new(),
                cseq: 1,
                media: None,
                offer,
                ack: None,
                port_taken: false,
                reinvite_tx: None,
                sdp_version: 1,
            },
        );
        self.leg_timer(now + t1, leg);
    }

    /// Moves the legs' deadlines (Timer B, the wait for a 487) by `by` ms: the wall clock was
    /// stepped back.
    pub(super) fn shift_legs(&mut self, by: i64) {
        for l in self.legs.values_mut() {
            l.deadline = l.deadline.saturating_add(by);
        }
    }

    fn leg_timer(&mut self, when: i64, leg: u64) {
        self.next += 1;
        self.timers.insert((when, self.next), (leg, 0, Timer::Leg));
    }

    /// Notes how the agent's offer ended in the caller's record.
    fn offer_result(&mut self, leg: u64, result: &str) {
        let Some(l) = self.legs.get(&leg) else {
            return;
        };
        let (call, offer) = (l.call, l.offer);
        if let Some(o) = self
            .calls
            .get_mut(&call)
            .and_then(|s| s.record.agents.get_mut(offer))
        {
            if o.result.is_empty() {
                o.result = result.into();
            }
        }
    }

    /// The engine stops ringing `agent` for `call`: CANCEL (once the phone said it rings).
    pub(super) fn stop_ringing(&mut self, now: i64, call: u64, agent: AgentId, why: &str) {
        let Some(&leg) = self.ringing.get(&(call, agent)) else {
            return;
        };
        self.offer_result(leg, why);
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        match l.state {
            LegState::Calling => l.state = LegState::CancelWanted,
            LegState::Proceeding => self.cancel_leg(now, leg),
            _ => {}
        }
    }

    /// Sends the CANCEL of a leg's INVITE (resent until answered).
    fn cancel_leg(&mut self, now: i64, leg: u64) {
        let t1 = self.tx.timing.t1;
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        l.state = LegState::Cancelled;
        l.deadline = now + 64 * t1;
        let bytes = l.on_invite_branch("CANCEL", self.config.local);
        let (to, key) = (l.to, format!("{}/CANCEL", l.branch));
        self.send(to, bytes.clone());
        self.resend_until_answered(now, to, key, bytes, None);
        self.leg_timer(now + 64 * t1, leg);
    }

    /// A response to one of our INVITEs or CANCELs to agents' phones; false when the branch
    /// is not one of ours.
    pub(super) fn leg_response(&mut self, now: i64, m: &Message, code: u16) -> bool {
        let Some(branch) = m.branch() else {
            return false;
        };
        if m.cseq().is_some_and(|(_, method)| method == "CANCEL") {
            if code >= 200 {
                self.byes.remove(&format!("{branch}/CANCEL"));
            }
            return self.leg_branches.contains_key(branch) || self.leg_acks.contains_key(branch);
        }
        let Some(&leg) = self.leg_branches.get(branch) else {
            // A copy of the final answer of a leg that ended: its ACK again (RFC 3261
            // §17.1.1.2: the phone resends until it hears one).
            if let Some((to, ack)) = self.leg_acks.get(branch).filter(|_| code >= 200) {
                let (to, ack) = (*to, ack.clone());
                self.send(to, ack);
                return true;
            }
            return false;
        };
        let Some(l) = self.legs.get_mut(&leg) else {
            return true;
        };
        if code < 200 {
            match l.state {
                LegState::Calling => l.state = LegState::Proceeding,
                LegState::CancelWanted => self.cancel_leg(now, leg),
                _ => {}
            }
            return true;
        }
        if let Some(to) = m.get("To") {
            l.to_header = to.to_string();
        }
        if code >= 300 {
            // Acknowledged on the INVITE's branch (the transaction's own ACK).
            let ack = l.on_invite_branch("ACK", self.config.local);
            l.ack = Some(ack.clone());
            let (to, state, call, agent) = (l.to, l.state, l.call, l.agent);
            self.send(to, ack);
            if matches!(state, LegState::Calling | LegState::Proceeding) {
                let why = match code {
                    486 | 600 => "busy",
                    603 => "declined",
                    480 => "unavailable",
                    _ => "failed",
                };
                self.offer_result(leg, &format!("{why} ({code})"));
                self.end_leg(now, leg);
                // A refusal counts as the agent's answer; an error says the phone is not there.
                let _ = if why == "failed" {
                    self.engine.failed(ts(now), call, agent)
                } else {
                    self.engine.declined(ts(now), call, agent)
                };
                self.engine_actions(now);
            } else if state != LegState::Talking {
                self.end_leg(now, leg);
            }
            return true;
        }
        // 2xx: our own ACK to the phone's Contact, for every copy of it.
        if let Some(c) = m.get("Contact") {
            l.remote_target = uri_of(c).to_string();
        }
        if l.remote_target.is_empty() {
            l.remote_target = l.target.clone();
        }
        let (to, state, call, agent) = (l.to, l.state, l.call, l.agent);
        let key = dialog_key(&l.call_id, tag_of(&l.from));
        let ack = match self.legs.get(&leg).and_then(|l| l.ack.clone()) {
            Some(ack) => ack,
            None => self.leg_request(now, leg, "ACK"),
        };
        if let Some(l) = self.legs.get_mut(&leg) {
            l.ack = Some(ack.clone());
        }
        self.send(to, ack);
        match state {
            LegState::Talking => {}
            LegState::Calling | LegState::Proceeding => {
                self.leg_dialogs.insert(key, leg);
                let media = sdp::negotiate(m.body).ok();
                let answered = media.is_some();
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.state = LegState::Talking;
                    l.media = media;
                }
                if !answered {
                    self.offer_result(leg, "answered without usable media");
                    self.bye_leg(now, leg);
                    let _ = self.engine.failed(ts(now), call, agent);
                    self.engine_actions(now);
                    return true;
                }
                self.offer_result(leg, "answered");
                let offer = self.legs.get(&leg).map_or(usize::MAX, |l| l.offer);
                if let Some(o) = self
                    .calls
                    .get_mut(&call)
                    .and_then(|s| s.record.agents.get_mut(offer))
                {
                    o.answered = Some(now);
                }
                match self.engine.answered(ts(now), call, agent) {
                    Ok(_) => self.engine_actions(now),
                    // The caller left, or ringing stopped meanwhile.
                    Err(_) => self.bye_leg(now, leg),
                }
            }
            // A 200 crossing our CANCEL: the phone answered a call nobody wants any more.
            LegState::CancelWanted | LegState::Cancelled => {
                self.leg_dialogs.insert(key, leg);
                self.bye_leg(now, leg);
            }
        }
        true
    }

    /// A request inside the agent's dialog (ACK for a 2xx, BYE).
    fn leg_request(&mut self, now: i64, leg: u64, method: &str) -> Vec<u8> {
        let Some(l) = self.legs.get_mut(&leg) else {
            return Vec::new();
        };
        let cseq = if method == "ACK" {
            1
        } else {
            l.cseq += 1;
            l.cseq
        };
        let branch = format!("z9hG4bKcfl{leg:x}n{now:x}c{cseq}{}", method.len());
        build::request(&InDialog {
            method,
            target: &l.remote_target,
            local: self.config.local,
            branch: &branch,
            from: &l.from,
            to: &l.to_header,
            call_id: &l.call_id,
            cseq,
            extra: "",
        })
    }

    /// Ends an answered leg from our side: BYE (resent until answered).
    fn bye_leg(&mut self, now: i64, leg: u64) {
        let bytes = self.leg_request(now, leg, "BYE");
        let Some(l) = self.legs.get(&leg) else {
            return;
        };
        let to = l.to;
        let branch = message::parse(&bytes)
            .ok()
            .and_then(|m| m.branch().map(str::to_string))
            .unwrap_or_default();
        self.send(to, bytes.clone());
        self.resend_until_answered(now, to, branch, bytes, None);
        self.end_leg(now, leg);
    }

    /// Forgets a leg: its port back to the pool (last: stray RTP has stopped when it is
    /// reused), its branch and dialog.
    fn end_leg(&mut self, now: i64, leg: u64) {
        let Some(l) = self.legs.remove(&leg) else {
            return;
        };
        self.leg_branches.remove(&l.branch);
        if let Some(ack) = l.ack {
            self.next += 1;
            let key = self.next;
            let when = now + 64 * self.tx.timing.t1;
            self.timers.insert((when, key), (key, 0, Timer::LegAck));
            self.ack_keys.insert(key, l.branch.clone());
            self.leg_acks.insert(l.branch.clone(), (l.to, ack));
        }
        self.leg_dialogs
            .remove(&dialog_key(&l.call_id, tag_of(&l.from)));
        if self.ringing.get(&(l.call, l.agent)) == Some(&leg) {
            self.ringing.remove(&(l.call, l.agent));
        }
        if !l.port_taken {
            self.ports.give(l.port);
        }
        self.byes.remove(&format!("{}/CANCEL", l.branch));
        if let Some(s) = self.calls.get_mut(&l.call) {
            if s.bridged == Some(leg) {
                s.bridged = None;
            }
        }
    }

    /// Timer A/B of a leg, and the wait for the answer to its CANCEL.
    pub(super) fn leg_timeout(&mut self, now: i64, leg: u64) {
        let t1 = self.tx.timing.t1;
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        match l.state {
            LegState::Calling | LegState::CancelWanted if now < l.deadline => {
                // Timer A: the INVITE again, at twice the interval.
                l.interval *= 2;
                let (to, bytes, next) = (l.to, l.invite.clone(), now + l.interval);
                // Not even a provisional answer by the fourth send (7·T1, 3.5 s): the phone is
                // not there (switched off, gone from the network). The engine hears it failed,
                // long before Timer B (and its ring time) would say "no answer"; the INVITE is
                // still resent, and cancelled should a provisional answer come after all.
                let silent = l.state == LegState::Calling && now >= l.deadline - 57 * t1;
                if silent {
                    l.state = LegState::CancelWanted;
                }
                let (call, agent) = (l.call, l.agent);
                self.send(to, bytes);
                self.leg_timer(next.min(self.legs[&leg].deadline), leg);
                if silent {
                    self.offer_result(leg, "no response");
                    let _ = self.engine.failed(ts(now), call, agent);
                    self.engine_actions(now);
                }
            }
            LegState::Calling => {
                // Timer B: the phone never answered at all.
                let (call, agent) = (l.call, l.agent);
                self.offer_result(leg, "no response");
                self.end_leg(now, leg);
                let _ = self.engine.failed(ts(now), call, agent);
                self.engine_actions(now);
            }
            LegState::CancelWanted | LegState::Cancelled if now >= l.deadline => {
                self.end_leg(now, leg)
            }
            _ => {}
        }
    }

    /// The flow ended with an agent answering: the caller is answered (if not yet) and
    /// bridged to the agent's leg; the conversation is recorded when the route says so.
    pub(super) fn connect(&mut self, now: i64, call: u64, agent: AgentId) -> bool {
        let Some(&leg) = self.ringing.get(&(call, agent)) else {
            return false;
        };
        let Some(l) = self.legs.get(&leg) else {
            return false;
        };
        let (Some(media), port, name) = (l.media.clone(), l.port, l.name.clone()) else {
            return false;
        };
        self.answer(now, call);
        let Some(s) = self.calls.get_mut(&call) else {
            return false;
        };
        s.bridged = Some(leg);
        s.wait = Wait::Talking;
        s.routed.get_or_insert_with(Box::default).talking_since = Some(now);
        s.generation += 1;
        s.record.outcome = format!("answered by {name}");
        let (id, record) = (s.record.call_id.clone(), s.record_route);
        if s.media_open {
            self.out
                .push_back(Out::Media(MediaCommand::Bridge { call, port, media }));
        } else {
            // The caller's answer comes with the ACK: the stream opens then, bridged.
            s.pending_bridge = Some(Box::new((port, media)));
        }
        self.log(&id, format!("connected to agent {name}"));
        self.call_event(call, "connected", serde_json::json!({ "agent": name }));
        if let Some(sides) = record {
            self.start_recording(now, call, sides);
        }
        true
    }

    /// The agent hung up (BYE in its dialog): the conversation is over for both.
    pub(super) fn agent_bye(&mut self, now: i64, leg: u64) {
        let Some(l) = self.legs.get(&leg) else {
            return;
        };
        let call = l.call;
        self.end_leg(now, leg);
        // The caller is hung up too; `finish` tells the engine (wrap-up begins).
        self.hang_up(now, call, "the agent hung up");
    }

    /// The caller's side ended while bridged: BYE to the agent.
    pub(super) fn end_bridge(&mut self, now: i64, call: u64) {
        if let Some(leg) = self.calls.get(&call).and_then(|s| s.bridged) {
            self.bye_leg(now, leg);
            self.out
                .push_back(Out::Media(MediaCommand::Unbridge { call }));
        }
    }

    /// A request of the agent's phone inside its dialog: a re-INVITE or UPDATE (a session
    /// refresh, hold) gets our answer — the same RTP port, in the law it offers — or our
    /// offer when it brought none; INFO (its keys) is taken and ignored. (Hold is not passed
    /// on to the caller: the relay goes on with whatever comes.)
    pub(super) fn leg_in_dialog(
        &mut self,
        now: i64,
        (tx, m, source): (TxId, &Message, SocketAddr),
        leg: u64,
    ) {
        let method = m.method().unwrap_or("");
        if method == "INFO" || (method == "UPDATE" && m.body.is_empty()) {
            return self.reply(now, (tx, m, source), 200, &[], None);
        }
        let ip = self.config.local.ip();
        let Some(l) = self.legs.get_mut(&leg) else {
            return self.reply(now, (tx, m, source), 481, &[], None);
        };
        l.sdp_version += 1;
        let sdp = if m.body.is_empty() {
            sdp::offer_of(
                ip,
                l.port,
                (leg, l.sdp_version),
                l.media.as_ref().map(|x| x.law),
            )
        } else {
            match sdp::negotiate(m.body) {
                Ok(media) => sdp::answer(&media, ip, l.port, leg, l.sdp_version),
                Err(_) => return self.reply(now, (tx, m, source), 488, &[], None),
            }
        };
        if method == "INVITE" {
            l.reinvite_tx = Some(tx);
        }
        let extra = [format!("Contact: <sip:{}>", self.config.local)];
        self.reply(
            now,
            (tx, m, source),
            200,
            &extra,
            Some(("application/sdp", sdp.as_bytes())),
        );
    }

    /// The ACK of our 200 to the phone's re-INVITE: its transaction stops resending.
    pub(super) fn leg_acked(&mut self, leg: u64) {
        if let Some(tx) = self.legs.get_mut(&leg).and_then(|l| l.reinvite_tx.take()) {
            self.tx.acknowledged(tx);
        }
    }

    /// The leg whose dialog a request from an agent's phone belongs to.
    pub(super) fn leg_of(&self, m: &Message) -> Option<u64> {
        let tag = m.to_tag()?;
        self.leg_dialogs.get(&dialog_key(m.call_id(), tag)).copied()
    }

    /// Forgets the ACK kept for copies of an ended leg's 200.
    pub(super) fn forget_ack(&mut self, key: u64) {
        if let Some(branch) = self.ack_keys.remove(&key) {
            self.leg_acks.remove(&branch);
        }
    }

    /// The agent's leg of `call` could not open its RTP port (another program holds it): the
    /// port is not given out again.
    pub(super) fn leg_port_taken(&mut self, call: u64, port: u16) {
        let leg = self.calls.get(&call).and_then(|s| s.bridged);
        if let Some(l) = leg
            .and_then(|l| self.legs.get_mut(&l))
            .filter(|l| l.port == port)
        {
            l.port_taken = true;
        }
    }

    /// Legs in progress (ringing or talking).
    pub fn legs(&self) -> usize {
        self.legs.len()
    }
}

impl Leg {
    pub(super) fn agent_name(&self) -> &str {
        &self.name
    }

    /// A request of the INVITE's transaction (its CANCEL, the ACK of a final answer other
    /// than 2xx): the INVITE's Request-URI, branch, From, Call-ID and CSeq number.
    fn on_invite_branch(&self, method: &str, local: SocketAddr) -> Vec<u8> {
        build::request(&InDialog {
            method,
            target: &self.target,
            local,
            branch: &self.branch,
            from: &self.from,
            to: &self.to_header,
            call_id: &self.call_id,
            cseq: 1,
            extra: "",
        })
    }
}

/// A caller's number as the user part of a SIP URI: what is not a letter, a digit or one of
/// `-_.!~*'()+` is percent-escaped, so nothing a caller sent can break out of the header.
fn user_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
