//! The cranelift tier: compiles the pure decision code between effects (conditions, calendar
//! checks, caller patterns, variables) into native functions, once per program at load. The
//! native code owns the control flow — no dispatch loop, jumps are native branches, and a
//! condition's value goes straight from its check into the branch without the operand stack —
//! while each check itself runs the interpreter's own code for that instruction through a
//! helper, so both tiers compute the same thing by construction (and `tests/jit.rs` compares
//! their traces on every example flow). Regions end at the first effect, call or goto; the
//! interpreter stays the reference and runs everything else.

use crate::vm::{Call, Machine, Trace, VmError, World, time::Local, value::Val};
use callflow_compiler::bytecode::{Instr, Pc, Program};
use cranelift_codegen::ir::{AbiParam, InstBuilder, UserFuncName, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module};
use std::collections::HashSet;

/// What a helper needs: everything the interpreter's `exec` takes.
pub(crate) struct Env<'a, 'p> {
    pub machine: &'p Machine,
    pub call: &'a mut Call,
    pub stack: &'a mut Vec<Val<'p>>,
    pub local: &'a mut Option<Local>,
    pub world: &'a dyn World,
    pub trace: &'a mut dyn Trace,
    pub error: Option<VmError>,
}

/// A compiled region: takes the environment, returns the pc where the interpreter goes on
/// (`u32::MAX` when a helper failed; the error is in the environment).
type Region = unsafe extern "C" fn(*mut Env<'_, '_>) -> u32;

const FAILED: u32 = u32::MAX;

/// The native code of a program.
pub struct Code {
    /// Per pc, the region starting there.
    regions: Vec<Option<Region>>,
    /// Owns the native code; freed when the `Code` is dropped.
    module: Option<JITModule>,
    pub compiled_regions: usize,
    pub compile_time: std::time::Duration,
}

// SAFETY: once `compile` has returned, nothing calls into the `JITModule` again: it only owns
// the executable memory the region pointers point into, and `Drop` frees it with exclusive
// access. Regions are plain functions that touch nothing but the `Env` they are given.
unsafe impl Send for Code {}
unsafe impl Sync for Code {}

impl Drop for Code {
    fn drop(&mut self) {
        self.regions.clear();
        if let Some(m) = self.module.take() {
            // SAFETY: the only pointers into this memory were in `regions`, cleared above, and
            // `region()` hands out copies only for the duration of one `Machine::run` borrow.
            unsafe { m.free_memory() };
        }
    }
}

impl Code {
    /// Whether native code starts at `pc`.
    pub fn has_region(&self, pc: Pc) -> bool {
        self.region(pc).is_some()
    }

    pub(crate) fn region(&self, pc: Pc) -> Option<Region> {
        self.regions.get(pc as usize).copied().flatten()
    }
}

/// Instructions whose value is a yes/no that a following conditional jump consumes.
fn predicate(i: Instr) -> bool {
    matches!(
        i,
        Instr::Open(_)
            | Instr::Holiday(_)
            | Instr::Switch(_)
            | Instr::Consented(_)
            | Instr::Anonymous
            | Instr::Cmp(_)
            | Instr::StartsWith
            | Instr::Matches(_)
            | Instr::In(_)
    )
}

// ---- helpers called by native code (the interpreter's semantics, one instruction each) ----

/// Runs a helper's body; a panic (from a `World` or `Trace` implementation) must not unwind
/// into native code, so it becomes an error of the call, reported by `Machine::run`.
fn guarded(env: *mut Env<'_, '_>, failed: u32, body: impl FnOnce(&mut Env<'_, '_>) -> u32) -> u32 {
    // SAFETY: native code passes back the environment pointer `run` gave it, exclusively.
    let env = unsafe { &mut *env };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut *env))) {
        Ok(r) => r,
        Err(_) => {
            env.error = Some(VmError::BadState("a check panicked"));
            failed
        }
    }
}

/// Runs the pure instruction at `pc` as the interpreter would. 0: fine, 1: failed.
unsafe extern "C" fn h_exec(env: *mut Env<'_, '_>, pc: u32) -> u32 {
    guarded(env, 1, |env| {
        match env
            .machine
            .exec_one(env.call, pc, env.stack, env.local, env.world, env.trace)
        {
            Ok(()) => 0,
            Err(e) => {
                env.error = Some(e);
                1
            }
        }
    })
}

/// Takes a yes/no off the stack: 0/1, or 2 when the stack is empty.
fn pop_flag(env: &mut Env<'_, '_>) -> u32 {
    match env.stack.pop() {
        Some(v) => u32::from(v.truthy()),
        None => {
            env.error = Some(VmError::BadState("operand stack empty"));
            2
        }
    }
}

/// Runs the predicate at `pc` and takes its value off the stack. 0/1: the value, 2: failed.
unsafe extern "C" fn h_test(env: *mut Env<'_, '_>, pc: u32) -> u32 {
    guarded(env, 2, |env| {
        if let Err(e) = env
            .machine
            .exec_one(env.call, pc, env.stack, env.local, env.world, env.trace)
        {
            env.error = Some(e);
            return 2;
        }
        pop_flag(env)
    })
}

/// The conditional jump at `pc` with a value already known (from `h_test`): counts the step
/// and tells the trace, as the interpreter does.
unsafe extern "C" fn h_decide(env: *mut Env<'_, '_>, pc: u32, value: u32) {
    guarded(env, 0, |env| {
        env.machine.count_step(env.call);
        env.trace.step(pc);
        env.trace.decision(pc, value == 1);
        0
    });
}

/// The conditional jump at `pc`, taking its value from the stack. 0/1: the value, 2: failed.
unsafe extern "C" fn h_branch(env: *mut Env<'_, '_>, pc: u32) -> u32 {
    guarded(env, 2, |env| {
        env.machine.count_step(env.call);
        env.trace.step(pc);
        let v = pop_flag(env);
        if v < 2 {
            env.trace.decision(pc, v == 1);
        }
        v
    })
}

/// An unconditional jump at `pc`: counts the step and tells the trace.
unsafe extern "C" fn h_jump(env: *mut Env<'_, '_>, pc: u32) {
    guarded(env, 0, |env| {
        env.machine.count_step(env.call);
        env.trace.step(pc);
        0
    });
}

/// The pcs where regions start: flow entries, the continuations in tables, the instruction
/// after anything that suspends or calls, and every jump target.
fn heads(p: &Program) -> HashSet<Pc> {
    let mut h: HashSet<Pc> = p.flows.iter().map(|f| f.entry).collect();
    h.extend(p.continuations());
    for (pc, i) in p.code.iter().enumerate() {
        match i {
            Instr::Jump(t)
            | Instr::JumpIf(t)
            | Instr::JumpIfNot(t)
            | Instr::Call(t)
            | Instr::Goto(t) => {
                h.insert(*t);
            }
            _ => {}
        }
        if !i.is_pure() {
            h.insert(pc as Pc + 1);
        }
    }
    h.retain(|&pc| p.code.get(pc as usize).is_some_and(|i| i.is_pure()));
    h
}

/// The pcs of the region starting at `head`: pure instructions reachable by falling through
/// and by forward jumps, stopping at anything else. `None` when the region has a backward jump
/// (a loop inside a region would escape the step budget; the interpreter runs those).
fn region_pcs(p: &Program, head: Pc) -> Option<Vec<Pc>> {
    let mut seen: Vec<Pc> = Vec::new();
    let mut work = vec![head];
    while let Some(pc) = work.pop() {
        if seen.contains(&pc) || !p.code.get(pc as usize).is_some_and(|i| i.is_pure()) {
            continue;
        }
        seen.push(pc);
        let i = p.code[pc as usize];
        match i {
            Instr::Jump(t) | Instr::JumpIf(t) | Instr::JumpIfNot(t) if t <= pc => return None,
            Instr::Jump(t) => work.push(t),
            Instr::JumpIf(t) | Instr::JumpIfNot(t) => work.extend([t, pc + 1]),
            _ => work.push(pc + 1),
        }
    }
    seen.sort_unstable();
    Some(seen)
}

/// Compiles every region of `p` into one native module.
pub fn compile(p: &Program) -> Result<Code, String> {
    let started = std::time::Instant::now();
    let mut flags = settings::builder();
    flags
        .set("use_colocated_libcalls", "false")
        .map_err(|e| e.to_string())?;
    flags.set("is_pic", "false").map_err(|e| e.to_string())?;
    flags.set("opt_level", "speed").map_err(|e| e.to_string())?;
    let isa = cranelift_native::builder()
        .map_err(|e| e.to_string())?
        .finish(settings::Flags::new(flags))
        .map_err(|e| e.to_string())?;
    let mut jb = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
    jb.symbol("h_exec", h_exec as *const u8);
    jb.symbol("h_test", h_test as *const u8);
    jb.symbol("h_decide", h_decide as *const u8);
    jb.symbol("h_branch", h_branch as *const u8);
    jb.symbol("h_jump", h_jump as *const u8);
    let mut module = JITModule::new(jb);
    let ptr = module.target_config().pointer_type();
    let call_conv = module.isa().default_call_conv();
    let sig = |params: &[types::Type], ret: Option<types::Type>| {
        let mut s = cranelift_codegen::ir::Signature::new(call_conv);
        s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        s.returns.extend(ret.map(AbiParam::new));
        s
    };
    let exec_sig = sig(&[ptr, types::I32], Some(types::I32));
    let decide_sig = sig(&[ptr, types::I32, types::I32], None);
    let jump_sig = sig(&[ptr, types::I32], None);
    let err = |e: cranelift_module::ModuleError| e.to_string();
    let h_exec_id = module
        .declare_function("h_exec", Linkage::Import, &exec_sig)
        .map_err(err)?;
    let h_test_id = module
        .declare_function("h_test", Linkage::Import, &exec_sig)
        .map_err(err)?;
    let h_branch_id = module
        .declare_function("h_branch", Linkage::Import, &exec_sig)
        .map_err(err)?;
    let h_decide_id = module
        .declare_function("h_decide", Linkage::Import, &decide_sig)
        .map_err(err)?;
    let h_jump_id = module
        .declare_function("h_jump", Linkage::Import, &jump_sig)
        .map_err(err)?;
    let region_sig = sig(&[ptr], Some(types::I32));

    let mut heads: Vec<Pc> = heads(p).into_iter().collect();
    heads.sort_unstable();
    let mut ctx = module.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let mut declared: Vec<(Pc, FuncId)> = Vec::new();
    for head in heads {
        let Some(pcs) = region_pcs(p, head) else {
            continue;
        };
        let id = module
            .declare_function(&format!("region_{head}"), Linkage::Local, &region_sig)
            .map_err(err)?;
        ctx.func.signature = region_sig.clone();
        ctx.func.name = UserFuncName::user(0, id.as_u32());
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            let blocks: Vec<_> = pcs.iter().map(|_| b.create_block()).collect();
            let block_of = |pc: Pc| pcs.binary_search(&pc).ok().map(|i| blocks[i]);
            let exec = module.declare_func_in_func(h_exec_id, b.func);
            let test = module.declare_func_in_func(h_test_id, b.func);
            let branch = module.declare_func_in_func(h_branch_id, b.func);
            let decide = module.declare_func_in_func(h_decide_id, b.func);
            let jump = module.declare_func_in_func(h_jump_id, b.func);
            b.switch_to_block(entry);
            let env = b.block_params(entry)[0];
            let first = block_of(head).ok_or("region without its head")?;
            b.ins().jump(first, &[]);
            // Targets of jumps inside the region: a predicate just before one cannot hand its
            // value straight over (another path reaches the jump with the value on the stack).
            let targets: HashSet<Pc> = pcs
                .iter()
                .filter_map(|&pc| match p.code[pc as usize] {
                    Instr::Jump(t) | Instr::JumpIf(t) | Instr::JumpIfNot(t) => Some(t),
                    _ => None,
                })
                .collect();
            // Continue at `pc`: inside the region, or hand back to the interpreter.
            let goto = |b: &mut FunctionBuilder, pc: Pc| match block_of(pc) {
                Some(blk) => {
                    b.ins().jump(blk, &[]);
                }
                None => {
                    let v = b.ins().iconst(types::I32, i64::from(pc));
                    b.ins().return_(&[v]);
                }
            };
            let fail = |b: &mut FunctionBuilder| {
                let v = b.ins().iconst(types::I32, i64::from(FAILED));
                b.ins().return_(&[v]);
            };
            let mut skip_next = false;
            for (i, &pc) in pcs.iter().enumerate() {
                b.switch_to_block(blocks[i]);
                if std::mem::take(&mut skip_next) {
                    // Fused into the predicate before; unreachable on its own.
                    fail(&mut b);
                    continue;
                }
                let pcv = b.ins().iconst(types::I32, i64::from(pc));
                let instr = p.code[pc as usize];
                let next_is_branch = matches!(
                    p.code.get(pc as usize + 1),
                    Some(Instr::JumpIf(_) | Instr::JumpIfNot(_))
                ) && block_of(pc + 1).is_some()
                    && !targets.contains(&(pc + 1));
                if predicate(instr) && next_is_branch {
                    // check → branch, with the value in a register.
                    let call = b.ins().call(test, &[env, pcv]);
                    let v = b.inst_results(call)[0];
                    bail_if(&mut b, v, 2);
                    let jpc = b.ins().iconst(types::I32, i64::from(pc + 1));
                    b.ins().call(decide, &[env, jpc, v]);
                    let (target, when_true) = match p.code[pc as usize + 1] {
                        Instr::JumpIf(t) => (t, true),
                        Instr::JumpIfNot(t) => (t, false),
                        _ => unreachable!("checked above"),
                    };
                    emit_branch(&mut b, v, target, pc + 2, when_true, &goto);
                    skip_next = true;
                    continue;
                }
                match instr {
                    Instr::Jump(t) => {
                        b.ins().call(jump, &[env, pcv]);
                        goto(&mut b, t);
                    }
                    Instr::JumpIf(t) | Instr::JumpIfNot(t) => {
                        let call = b.ins().call(branch, &[env, pcv]);
                        let v = b.inst_results(call)[0];
                        bail_if(&mut b, v, 2);
                        emit_branch(
                            &mut b,
                            v,
                            t,
                            pc + 1,
                            matches!(instr, Instr::JumpIf(_)),
                            &goto,
                        );
                    }
                    _ => {
                        let call = b.ins().call(exec, &[env, pcv]);
                        let r = b.inst_results(call)[0];
                        bail_if(&mut b, r, 1);
                        goto(&mut b, pc + 1);
                    }
                }
            }
            b.seal_all_blocks();
            b.finalize(module.isa().frontend_config());
        }
        module
            .define_function(id, &mut ctx)
            .map_err(|e| format!("region at {head}: {e:?}"))?;
        module.clear_context(&mut ctx);
        declared.push((head, id));
    }
    module.finalize_definitions().map_err(err)?;
    let mut regions: Vec<Option<Region>> = vec![None; p.code.len()];
    for (head, id) in &declared {
        let code = module.get_finalized_function(*id);
        // SAFETY: the function was compiled with `region_sig`: one pointer in, a u32 out.
        regions[*head as usize] = Some(unsafe { std::mem::transmute::<*const u8, Region>(code) });
    }
    Ok(Code {
        regions,
        module: Some(module),
        compiled_regions: declared.len(),
        compile_time: started.elapsed(),
    })
}

/// Returns `FAILED` from the region when a helper's result `v` is `code` (its failure value),
/// and goes on in a fresh block otherwise.
fn bail_if(b: &mut FunctionBuilder, v: cranelift_codegen::ir::Value, code: i64) {
    let failed = b.create_block();
    let ok = b.create_block();
    let is_err = b
        .ins()
        .icmp_imm_u(cranelift_codegen::ir::condcodes::IntCC::Equal, v, code);
    b.ins().brif(is_err, failed, &[], ok, &[]);
    b.switch_to_block(failed);
    let f = b.ins().iconst(types::I32, i64::from(FAILED));
    b.ins().return_(&[f]);
    b.switch_to_block(ok);
}

/// Branches on `v` (0/1): to `target` when it equals `when_true`, else to `fallthrough`.
fn emit_branch(
    b: &mut FunctionBuilder,
    v: cranelift_codegen::ir::Value,
    target: Pc,
    fallthrough: Pc,
    when_true: bool,
    goto: &dyn Fn(&mut FunctionBuilder, Pc),
) {
    let taken = b.create_block();
    let not_taken = b.create_block();
    if when_true {
        b.ins().brif(v, taken, &[], not_taken, &[]);
    } else {
        b.ins().brif(v, not_taken, &[], taken, &[]);
    }
    b.switch_to_block(taken);
    goto(b, target);
    b.switch_to_block(not_taken);
    goto(b, fallthrough);
}
