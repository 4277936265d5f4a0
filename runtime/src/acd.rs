//! Automatic call distribution: the call-centre engine (`engine`: agents, group dialling,
//! queues and their clock, as one sans-IO state machine), the order in which a group's agents
//! ring (`strategy`), agents (`agent`), queues (`queue`), timers (`timer`) and the durable
//! state with its store (`store`). No I/O, no clock, no randomness of its own.

pub mod agent;
pub mod engine;
pub mod queue;
pub mod store;
pub mod strategy;
pub mod timer;

/// A call, as its driver numbers it (unique among the calls the engine knows).
pub type CallId = u64;
/// An agent: index into the program's agents.
pub type AgentId = u16;
/// A group: index into the program's groups.
pub type GroupId = u16;
