//! The engine's timers in one ordered set (not a task per timer): deadlines in milliseconds
//! since the epoch, fired in order. Timers are never cancelled; each carries what it needs to
//! tell whether it is still current (the call's serial and phase generation, the agent's
//! wrap-up end), and a stale one is ignored when it fires.

use super::{AgentId, CallId};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The ring time of a dialling step is over.
    Ring {
        call: CallId,
        serial: u64,
        round: u32,
    },
    /// A waiting caller may be offered again after a round nobody answered.
    Retry {
        call: CallId,
        serial: u64,
        round: u32,
    },
    /// The queue's maximum wait (or the engine's ceiling) is reached.
    MaxWait { call: CallId, serial: u64 },
    /// The announcement `index` of the caller's queue is due.
    Announce {
        call: CallId,
        serial: u64,
        index: usize,
    },
    /// The wait for an agent to log in (`no_agents 30s`) that began at `since` is over.
    NoAgents {
        call: CallId,
        serial: u64,
        since: i64,
    },
    /// Whether the queue's hours are still open for a waiting caller (every minute).
    Hours { call: CallId, serial: u64 },
    /// A tier of the caller's group opens (`tier 2 after 5m`): a waiting caller is offered again.
    TierOpens { call: CallId, serial: u64 },
    /// The agent's wrap-up (or a call outside the engine) ends at this instant.
    Free { agent: AgentId, until: i64 },
}

#[derive(Clone, Debug, Default)]
pub struct Timers {
    set: BTreeMap<(i64, u64), Timer>,
    next: u64,
}

impl Timers {
    pub fn at(&mut self, when: i64, timer: Timer) {
        self.next += 1;
        self.set.insert((when, self.next), timer);
    }

    /// The earliest deadline.
    pub fn first(&self) -> Option<i64> {
        self.set.keys().next().map(|k| k.0)
    }

    /// Takes the earliest timer due at `now`.
    pub fn pop_due(&mut self, now: i64) -> Option<(i64, Timer)> {
        let (&(when, n), _) = self.set.iter().next()?;
        if when > now {
            return None;
        }
        self.set.remove(&(when, n)).map(|t| (when, t))
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Moves every timer by `by` ms (the wall clock was stepped: each still comes due after
    /// the time it had left), in the order they had, and the times they carry with them (they
    /// are compared with the agent's wrap-up end and the caller's wait, which move too; `MAX`,
    /// "until told otherwise", stays).
    pub fn shift(&mut self, by: i64) {
        shift_deadlines(&mut self.set, by, |t| match t {
            Timer::Free { until: t, .. } | Timer::NoAgents { since: t, .. } if *t != i64::MAX => {
                *t = t.saturating_add(by);
            }
            _ => {}
        });
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// Moves every deadline of a timer set keyed by (deadline, arming number) by `by` ms, in the
/// order the timers had (ties stay as armed), and lets `each` move what a timer carries.
pub(crate) fn shift_deadlines<V>(
    set: &mut BTreeMap<(i64, u64), V>,
    by: i64,
    mut each: impl FnMut(&mut V),
) {
    *set = std::mem::take(set)
        .into_iter()
        .map(|((when, n), mut v)| {
            each(&mut v);
            ((when.saturating_add(by), n), v)
        })
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_timers_keep_their_order_and_the_time_they_had_left() {
        let mut t = Timers::default();
        t.at(5_000, Timer::MaxWait { call: 1, serial: 1 });
        t.at(1_000, Timer::MaxWait { call: 2, serial: 1 });
        t.at(1_000, Timer::MaxWait { call: 3, serial: 1 });
        // The clock went back an hour at 500.
        t.shift(-3_600_000);
        assert_eq!(t.first(), Some(1_000 - 3_600_000));
        assert!(t.pop_due(-3_600_000 + 999).is_none());
        let due: Vec<(i64, Timer)> = std::iter::from_fn(|| t.pop_due(5_000 - 3_600_000)).collect();
        let calls: Vec<CallId> = due
            .iter()
            .map(|(_, timer)| match timer {
                Timer::MaxWait { call, .. } => *call,
                _ => 0,
            })
            .collect();
        assert_eq!(calls, vec![2, 3, 1], "the same order, ties as armed");
        assert_eq!(due[2].0, 5_000 - 3_600_000);
        assert!(t.is_empty());
    }
}
