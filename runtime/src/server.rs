//! The SIP server: `uas` (the sans-IO user agent server core: transactions, dialogs, one session
//! per call driving its VM) and `cdr` (call records); the tokio driver that owns the sockets
//! (UDP and TCP) and the clock is `transport`.

pub mod cdr;
pub mod transport;
pub mod uas;
