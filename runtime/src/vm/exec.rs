//! Running instructions: the interpreter loop with its step budget, the instruction set's
//! meaning one instruction at a time, and the entry the cranelift tier uses for single checks.

use super::*;

impl Machine {
    pub(super) fn consented(&self, call: &Call, c: u16) -> bool {
        if c == ANY_CONSENT {
            call.consent != 0
        } else {
            self.consent_bit(call, c)
                .is_some_and(|b| call.consent & b != 0)
        }
    }

    /// Hands out a prompt that asks for keys — unless the keys typed ahead already complete
    /// the input: then they answer it at once and the prompt is not played.
    fn ask_keys<'m, T: Trace + ?Sized>(
        &'m self,
        call: &mut Call,
        effect: Effect<'m>,
        pending: Pending,
        trace: &mut T,
    ) -> Result<Flow<'m>, VmError> {
        if !call.typeahead.is_empty() {
            call.pending = pending;
            if self.keys_complete(call, "") {
                note(trace, call.pc, || {
                    format!("keys \"{}\" typed ahead answer the prompt", call.typeahead)
                });
                return Ok(match self.apply(call, Event::Keys(String::new()), trace)? {
                    Some(end) => Flow::End(end),
                    None => Flow::Jump(call.pc),
                });
            }
        }
        Ok(Flow::Yield(effect, pending))
    }

    pub(super) fn run<'m, T: Trace>(
        &'m self,
        call: &mut Call,
        world: &dyn World,
        trace: &mut T,
    ) -> Step<'m> {
        let p = &*self.program;
        let mut stack: Vec<Val<'m>> = Vec::with_capacity(8);
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
                    call.effect = call.effect.wrapping_add(1);
                    return Step::Effect(call.effect, effect);
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
    #[cfg_attr(not(feature = "jit"), allow(dead_code))]
    pub(crate) fn count_step(&self, call: &mut Call) {
        call.steps += 1;
        call.since_effect += 1;
    }

    /// Runs the pure, non-jumping instruction at `pc` exactly as the interpreter loop would
    /// (step counted, trace told): the JIT's helpers call this.
    #[cfg(feature = "jit")]
    pub(crate) fn exec_one<'m>(
        &'m self,
        call: &mut Call,
        pc: Pc,
        stack: &mut Vec<Val<'m>>,
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
        let code = crate::jit::compile(&self.program)?;
        Ok(self.jit.insert(code))
    }

    pub(super) fn local(&self, call: &Call, local: &mut Option<Local>, world: &dyn World) -> Local {
        *local.get_or_insert_with(|| Local::of(&self.zones[call.flow as usize], world.now()))
    }

    /// Runs one instruction.
    pub(super) fn exec<'m, T: Trace + ?Sized>(
        &'m self,
        call: &mut Call,
        instr: Instr,
        stack: &mut Vec<Val<'m>>,
        local: &mut Option<Local>,
        world: &dyn World,
        trace: &mut T,
    ) -> Result<Flow<'m>, VmError> {
        let p = &*self.program;
        let pc = call.pc;
        let pop =
            |stack: &mut Vec<Val<'m>>| stack.pop().ok_or(VmError::BadState("operand stack empty"));
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
                let anon =
                    callflow_compiler::numbers::is_anonymous(&call.vars[var::CALLER as usize]);
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
            Instr::Add | Instr::Sub => {
                let b = pop(stack)?;
                let a = pop(stack)?;
                let (x, y) = (a.as_int().unwrap_or(0), b.as_int().unwrap_or(0));
                let (r, sym) = if instr == Instr::Add {
                    (x.saturating_add(y), '+')
                } else {
                    (x.saturating_sub(y), '-')
                };
                note(trace, pc, || {
                    format!("{} {sym} {} = {r}", a.show(), b.show())
                });
                stack.push(Val::Int(r));
            }
            Instr::Priority => {
                let v = pop(stack)?;
                call.priority =
                    v.as_int()
                        .unwrap_or(0)
                        .clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16;
                note(trace, pc, || format!("priority {}", call.priority));
            }
            Instr::Join => {
                let b = pop(stack)?;
                let a = pop(stack)?;
                let (x, y) = (a.text(), b.text());
                if x.len() + y.len() > MAX_TEXT {
                    return Err(VmError::TextTooLong);
                }
                let mut s = x.into_owned();
                s.push_str(&y);
                let r = Val::Str(Cow::Owned(s));
                note(trace, pc, || {
                    format!("{} + {} = {}", a.show(), b.show(), r.show())
                });
                stack.push(r);
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
                        ..Frame::default()
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
                early,
            } => {
                let effect = Effect::Play {
                    prompt: p.str(p.prompts[prompt as usize].name),
                    file: self.prompt_file(call, prompt),
                    interruptible,
                    early,
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
                    call.frames[open + i].silences = 0;
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
                        ..Frame::default()
                    },
                )?;
                return Ok(Flow::Jump(p.menus[m as usize].wait));
            }
            Instr::MenuWait(m) => {
                let info = &p.menus[m as usize];
                let f = self.top(call, FrameKind::Menu)?;
                let again = f.tries > 0 || f.silences > 0;
                // A repeat prompt replaces the whole list on later offers; without one, the
                // list plays again.
                let (before, prompt) = match (again, info.repeat_prompt) {
                    (true, Some(r)) => (Vec::new(), r),
                    _ => (
                        info.intro
                            .iter()
                            .map(|&i| {
                                (p.str(p.prompts[i as usize].name), self.prompt_file(call, i))
                            })
                            .collect(),
                        info.prompt,
                    ),
                };
                let effect = Effect::Keys {
                    typed: call.typeahead.to_string(),
                    what: KeysFor::Menu(p.str(info.name)),
                    before,
                    prompt: p.str(p.prompts[prompt as usize].name),
                    file: self.prompt_file(call, prompt),
                    max_digits: info.max_len,
                    first_timeout_ms: info.timeout_ms,
                    digit_timeout_ms: info.digit_timeout_ms,
                    terminator: None,
                };
                return self.ask_keys(call, effect, Pending::Menu(m), trace);
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
                        call.frames[call.depth as usize - 1].silences = 0;
                        Ok(Flow::Jump(p.menus[f.id as usize].wait))
                    }
                    Err(_) => {
                        // No menu before this one: `back` offers this menu again.
                        let this = Frame {
                            tries: 0,
                            silences: 0,
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
                call.frames[top].silences = 0;
                return Ok(Flow::Jump(p.menus[call.frames[top].id as usize].wait));
            }
            Instr::Repeat => {
                // The caller asked to hear the menu again: its full prompt, a fresh offer.
                self.leave_collects(call);
                let f = self.top(call, FrameKind::Menu)?;
                call.frames[call.depth as usize - 1].tries = 0;
                call.frames[call.depth as usize - 1].silences = 0;
                return Ok(Flow::Jump(p.menus[f.id as usize].wait));
            }
            Instr::CollectEnter(c) => {
                self.push(
                    call,
                    Frame {
                        ret: 0,
                        id: c,
                        kind: FrameKind::Collect,
                        ..Frame::default()
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
                    typed: call.typeahead.to_string(),
                    what: KeysFor::Collect(name),

                    before: Vec::new(),
                    prompt: p.str(p.prompts[info.prompt as usize].name),
                    file: self.prompt_file(call, info.prompt),
                    max_digits: info.max_len + u32::from(info.terminator.is_some()),
                    first_timeout_ms: info.timeout_ms,
                    digit_timeout_ms: info.digit_timeout_ms,
                    terminator: info.terminator.map(|t| p.str(t)),
                };
                return self.ask_keys(call, effect, Pending::Collect(c), trace);
            }
            Instr::CollectRetry(c) => return Ok(Flow::Jump(self.collect_retry(call, c, trace)?)),
            Instr::Route(r) => {
                let info = &p.routes[r as usize];
                let record = match info.record {
                    RecordMode::Off => false,
                    RecordMode::Always | RecordMode::IfConsented => {
                        let yes = self.consented(call, info.record_consent);
                        let sides = info.record_sides;
                        note(trace, pc, || {
                            let what = match sides {
                                Sides::Both => "the conversation",
                                Sides::Caller => "the caller's side of the conversation",
                                Sides::Agent => "the agent's side of the conversation",
                            };
                            if yes {
                                format!("{what} will be recorded (consent given)")
                            } else {
                                format!("{what} will not be recorded: no consent")
                            }
                        });
                        yes
                    }
                };
                let effect = Effect::Route {
                    route: r,
                    group: p.str(p.groups[info.group as usize].name),
                    record: record.then_some(info.record_sides),
                    priority: i64::from(std::mem::take(&mut call.priority)),
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
                    retries: l.retries,
                    retry_ms: l.retry_ms,
                };
                return Ok(Flow::Yield(effect, Pending::Lookup(s)));
            }
            Instr::Ask(c) if p.consents[c as usize].notice => {
                // A notice: played to its end (keys do not cut it short), then consent.
                let info = &p.consents[c as usize];
                let effect = Effect::Play {
                    prompt: p.str(p.prompts[info.prompt as usize].name),
                    file: self.prompt_file(call, info.prompt),
                    interruptible: false,
                    early: false,
                };
                return Ok(Flow::Yield(effect, Pending::Consent(c)));
            }
            Instr::Ask(c) => {
                let info = &p.consents[c as usize];
                let effect = Effect::Keys {
                    typed: call.typeahead.to_string(),
                    what: KeysFor::Consent(p.str(info.name)),

                    before: Vec::new(),
                    prompt: p.str(p.prompts[info.prompt as usize].name),
                    file: self.prompt_file(call, info.prompt),
                    max_digits: p.str(info.accept).len().max(p.str(info.refuse).len()) as u32,
                    first_timeout_ms: info.timeout_ms,
                    digit_timeout_ms: 3_000,
                    terminator: None,
                };
                return self.ask_keys(call, effect, Pending::Consent(c), trace);
            }
            Instr::Record(c, sides) => {
                if call.recording {
                    note(trace, pc, || "already recording".into());
                } else if self.consented(call, c) {
                    call.recording = true;
                    call.recording_consent = c;
                    return Ok(Flow::Yield(
                        Effect::StartRecording { sides },
                        Pending::Continue,
                    ));
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
            Instr::Answer => return Ok(Flow::Yield(Effect::Answer, Pending::Continue)),
            Instr::Wait(ms) => {
                let ms = u64::from(ms);
                return Ok(Flow::Yield(Effect::Wait { ms }, Pending::Continue));
            }
            Instr::Hangup => return Ok(Flow::End(End::Hangup)),
        }
        Ok(Flow::Next)
    }
}

/// Percent-encodes a value for a URL query or path.
pub(super) fn percent(s: &str) -> String {
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
pub(super) fn over_budget(call: &Call) -> Option<VmError> {
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

pub(super) fn show_open(p: &Program, open: bool, why: &OpenWhy) -> String {
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
