//! The SIP server: `uas` (the sans-IO user agent server core: transactions, dialogs, one session
//! per call driving its VM), `cdr` (call records), `lookup` (web look-ups) and `phones` (where
//! agents' phones are, resolved at load); the tokio driver
//! that owns the sockets (UDP and TCP), the clock and the look-ups' threads is `transport`.

pub mod admin;
pub mod cdr;
pub mod load;
pub mod lookup;
pub mod media;
pub mod phones;
pub mod store;
pub mod transport;
pub mod uas;
pub mod wake;
