//! Automatic call distribution: which agents to ring, in which order (`strategy`). Queues and
//! live agent state join here when the SIP runtime lands.

pub mod strategy;
