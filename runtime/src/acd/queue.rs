//! The callers waiting for one group, first come first served: ordered by rank (from the
//! route's `priority`: a higher priority is a lower rank and goes first), then by when they
//! started waiting, then by arrival number. Those who may be offered to an agent right now (not ringing, not pausing between
//! rounds) are kept in a second ordered set, so the longest-waiting caller to offer is found in
//! O(log n) however many wait.

use crate::acd::CallId;
use std::collections::{BTreeMap, BTreeSet};

/// The rank of a priority: priority 0 in the middle of the range, higher priorities lower.
pub fn rank(priority: i64) -> u32 {
    (i64::from(u32::MAX / 2) - priority).clamp(0, i64::from(u32::MAX)) as u32
}

/// A caller's place: rank, then milliseconds since the epoch when waiting began, then arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Place {
    pub rank: u32,
    pub since: i64,
    pub seq: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Queue {
    all: BTreeMap<Place, CallId>,
    ready: BTreeSet<Place>,
}

impl Queue {
    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    pub fn insert(&mut self, place: Place, call: CallId, ready: bool) {
        self.all.insert(place, call);
        if ready {
            self.ready.insert(place);
        }
    }

    pub fn remove(&mut self, place: Place) -> Option<CallId> {
        self.ready.remove(&place);
        self.all.remove(&place)
    }

    /// Moves every place's time by `by` ms (the wall clock was stepped): the order stays.
    pub fn shift(&mut self, by: i64) {
        let moved = |p: Place| Place {
            since: p.since.saturating_add(by),
            ..p
        };
        self.all = std::mem::take(&mut self.all)
            .into_iter()
            .map(|(p, c)| (moved(p), c))
            .collect();
        self.ready = std::mem::take(&mut self.ready)
            .into_iter()
            .map(moved)
            .collect();
    }

    /// Marks a waiting caller as ready to be offered (or not).
    pub fn set_ready(&mut self, place: Place, ready: bool) {
        if !self.all.contains_key(&place) {
            return;
        }
        if ready {
            self.ready.insert(place);
        } else {
            self.ready.remove(&place);
        }
    }

    /// The first caller ready to be offered, in queue order.
    pub fn first_ready(&self) -> Option<(Place, CallId)> {
        let place = *self.ready.first()?;
        Some((place, self.all[&place]))
    }

    /// Callers ready to be offered, in queue order.
    pub fn ready(&self) -> impl Iterator<Item = (Place, CallId)> + '_ {
        self.ready.iter().map(|p| (*p, self.all[p]))
    }

    pub fn is_ready(&self, place: Place) -> bool {
        self.ready.contains(&place)
    }

    /// 1 for the first in line. O(position).
    pub fn position(&self, place: Place) -> usize {
        self.all.range(..place).count() + 1
    }

    /// When the longest-waiting caller began to wait.
    pub fn oldest(&self) -> Option<i64> {
        // The first entry of each rank is that rank's oldest.
        let mut best: Option<i64> = None;
        let mut next = self.all.keys().next().copied();
        while let Some(p) = next {
            best = Some(best.map_or(p.since, |b| b.min(p.since)));
            let after = Place {
                rank: p.rank.saturating_add(1),
                since: i64::MIN,
                seq: 0,
            };
            next = if p.rank == u32::MAX {
                None
            } else {
                self.all.range(after..).next().map(|(k, _)| *k)
            };
        }
        best
    }

    /// Everyone waiting, in order.
    pub fn calls(&self) -> impl Iterator<Item = (Place, CallId)> + '_ {
        self.all.iter().map(|(p, c)| (*p, *c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(rank: u32, since: i64, seq: u64) -> Place {
        Place { rank, since, seq }
    }

    #[test]
    fn first_come_first_served_with_ready_set() {
        let mut q = Queue::default();
        q.insert(place(0, 10, 1), 1, true);
        q.insert(place(0, 5, 2), 2, false);
        q.insert(place(0, 20, 3), 3, true);
        // Waiting since 5 is first in line, but it is not ready (ringing an agent).
        assert_eq!(q.position(place(0, 5, 2)), 1);
        assert_eq!(q.first_ready(), Some((place(0, 10, 1), 1)));
        q.set_ready(place(0, 5, 2), true);
        assert_eq!(q.first_ready(), Some((place(0, 5, 2), 2)));
        assert_eq!(q.oldest(), Some(5));
        assert_eq!(q.remove(place(0, 5, 2)), Some(2));
        assert_eq!(q.position(place(0, 20, 3)), 2);
        assert_eq!(q.ready().map(|x| x.1).collect::<Vec<_>>(), vec![1, 3]);
        // A caller that left cannot be marked ready again.
        q.set_ready(place(0, 5, 2), true);
        assert_eq!(q.len(), 2);
        assert_eq!(q.first_ready().map(|x| x.1), Some(1));
    }

    #[test]
    fn rank_goes_before_waiting_time_but_oldest_sees_all_ranks() {
        let mut q = Queue::default();
        q.insert(place(1, 0, 1), 1, true);
        q.insert(place(0, 50, 2), 2, true);
        assert_eq!(q.first_ready().map(|x| x.1), Some(2));
        assert_eq!(q.oldest(), Some(0));
    }
}
