//! The callflow runtime: the bytecode VM that runs a call's flow, and agent selection. (The SIP
//! transport, transactions and media come next.) The VM does no I/O: whoever drives it — the
//! simulator, `callflow test`, the SIP server — performs its effects.

pub mod acd;
#[cfg(feature = "jit")]
pub mod jit;
pub mod server;
pub mod sim;
pub mod sip;
pub mod vm;
