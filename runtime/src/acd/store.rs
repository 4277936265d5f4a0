//! What the call-centre engine must not forget across a restart — agents' presence and daily
//! counters, round-robin positions, sticky memory, and (for the server's registrar) where
//! agents' phones registered — as one plain value ([`Durable`]) keyed by the names in the
//! flows (so it also survives a recompiled program), and the small [`Store`] trait that keeps
//! it. [`MemoryStore`] keeps it in memory; the server adds one on disk.

use super::agent::{Daily, Presence};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub presence: Presence,
    pub daily: Daily,
}

/// "This caller last spoke to this agent of this group at this time."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StickyEntry {
    pub group: String,
    pub caller: String,
    pub agent: String,
    /// Milliseconds since the epoch.
    pub at: i64,
}

/// The engine's durable state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durable {
    /// By agent name.
    pub agents: BTreeMap<String, AgentRecord>,
    /// By group name: the member index where round robin continues.
    pub round_robin: BTreeMap<String, u32>,
    /// Sorted by group, then caller.
    pub sticky: Vec<StickyEntry>,
    /// By agent name: its phone's registration (kept by the server's registrar; the engine
    /// neither makes nor reads them).
    #[serde(default)]
    pub registrations: BTreeMap<String, Registered>,
}

/// Where an agent's phone registered: its Contact, the address the REGISTER came from, and
/// when the registration ends (ms since the epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub contact: String,
    pub source: std::net::SocketAddr,
    pub until: i64,
}

#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// Keeps the durable state. `save` replaces what was saved before.
pub trait Store {
    fn load(&mut self) -> Result<Option<Durable>, StoreError>;
    fn save(&mut self, state: &Durable) -> Result<(), StoreError>;
}

/// A store in memory (simulation, tests): what was saved last, and how often.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    pub saved: Option<Durable>,
    pub saves: usize,
}

impl Store for MemoryStore {
    fn load(&mut self) -> Result<Option<Durable>, StoreError> {
        Ok(self.saved.clone())
    }

    fn save(&mut self, state: &Durable) -> Result<(), StoreError> {
        self.saved = Some(state.clone());
        self.saves += 1;
        Ok(())
    }
}
