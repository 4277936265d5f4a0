//! The SIP server: `uas` (the sans-IO user agent server core: transactions, dialogs, one session
//! per call driving its VM) and `cdr` (call records); the tokio driver that owns the sockets
//! and the clock is `udp`.

pub mod cdr;
pub mod uas;
pub mod udp;
