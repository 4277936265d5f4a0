//! SIP, in RFC 3261's layers: `message` (parsing with strict checks, writing), `uri` and `text`
//! (numbers and addresses written by hand); the transaction and dialog state machines and the
//! transport drivers build on them. Parsing is pure: bytes in, values out.

pub mod build;
pub mod digest;
pub mod message;
pub mod text;
pub mod transaction;
pub mod uri;
