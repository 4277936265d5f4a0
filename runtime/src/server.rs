//! The SIP server: `uas` (the sans-IO user agent server core: transactions, dialogs, one session
//! per call driving its VM), `cdr` (call records) and `lookup` (web look-ups); the tokio driver
//! that owns the sockets (UDP and TCP), the clock and the look-ups' threads is `transport`.

pub mod cdr;
pub mod lookup;
pub mod media;
pub mod transport;
pub mod uas;
