//! The callflow runtime: the bytecode VM that runs a call's flow, the call-centre engine, the
//! simulator, and the SIP server (parser, transactions, the UAS core and its drivers). The VM
//! and the engine do no I/O: whoever drives them — the simulator, `callflow test`, the SIP
//! server — performs their effects. `media` holds the sans-IO RTP side of a call.

pub mod acd;
pub mod idmap;
#[cfg(feature = "jit")]
pub mod jit;
pub mod media;
pub mod server;
pub mod sim;
pub mod sip;
pub mod slab;
pub mod vm;
